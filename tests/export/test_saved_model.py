"""Tests for `keras_anc.export.saved_model`: versioned TF-Serving SavedModels of a real student."""

import os
import pathlib
import shutil
import stat
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_anc import export
from keras_anc.export import saved_model


def test_layout_and_signature(exported, serving_fn):
    assert exported.name == "1"
    assert (exported / "saved_model.pb").is_file()
    assert (exported / "variables" / "variables.index").is_file()
    # No temporary directories are left beside the version.
    assert sorted(p.name for p in exported.parent.iterdir()) == ["1"]

    fn = serving_fn(exported)
    _, inputs = fn.structured_input_signature
    assert list(inputs) == ["images"]
    assert inputs["images"].dtype == tf.float32
    assert inputs["images"].shape.as_list() == [None, 28, 28, 1]
    outputs = fn.structured_outputs
    assert sorted(outputs) == ["class_id", "class_name", "logits", "probabilities"]
    assert outputs["class_id"].dtype == tf.int64
    assert outputs["class_name"].dtype == tf.string
    assert outputs["logits"].shape.as_list() == [None, 10]


def test_saved_model_matches_keras_predict(exported, student, raw_mnist, normalise, serving_fn):
    x = normalise(raw_mnist["x_test"][:256])
    expected = student.predict(x, verbose=0)
    outputs = serving_fn(exported)(images=tf.constant(x))
    np.testing.assert_allclose(outputs["logits"].numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(
        outputs["probabilities"].numpy(), tf.nn.softmax(expected).numpy(), atol=1e-6
    )
    class_id = outputs["class_id"].numpy()
    np.testing.assert_array_equal(class_id, expected.argmax(-1))
    names = [n.decode() for n in outputs["class_name"].numpy()]
    assert names == [raw_mnist["class_names"][i] for i in class_id]
    # A trained model, not a random one: most real test digits are right.
    assert np.mean(class_id == raw_mnist["y_test"][:256]) > 0.8


def test_only_student_variables_are_saved(exported, student):
    loaded = tf.saved_model.load(str(exported))
    assert len(loaded.variables) == len(student.variables)
    # Every tensor in the checkpoint is the value of one of the student's variables.
    student_values = [np.asarray(v.numpy()) for v in student.variables]
    reader = tf.train.load_checkpoint(str(exported / "variables" / "variables"))
    names = [n for n, _ in tf.train.list_variables(str(exported / "variables" / "variables"))]
    names = [n for n in names if n != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    assert len(names) == len(student.variables)
    for name in names:
        value = reader.get_tensor(name)
        assert any(v.shape == value.shape and np.array_equal(v, value) for v in student_values), (
            name
        )


def test_weights_are_stored_once(exported, student):
    weight_bytes = sum(np.asarray(v.numpy()).nbytes for v in student.variables)
    data_bytes = sum(f.stat().st_size for f in (exported / "variables").glob("variables.data*"))
    assert weight_bytes <= data_bytes < 1.2 * weight_bytes


def test_distiller_is_rejected_with_a_hint(student):
    teacher = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    distiller = keras.distillation.Distiller(
        teacher=teacher,
        student=student,
        distillation_losses=keras.distillation.LogitsDistillation(),
    )
    with pytest.raises(ValueError, match=r"distiller\.student"):
        export.export_student(distiller, "unused")


def test_versions_auto_increment_and_are_never_clobbered(student, tmp_path, serving_fn):
    base = tmp_path / "model"
    first = export.export_student(student, base, warmup=False)
    second = export.export_student(student, base, warmup=False)
    assert (first.name, second.name) == ("1", "2")
    # Non-numeric entries are ignored, the largest numeric version wins.
    (base / "7").mkdir()
    (base / "notes").mkdir()
    (base / "10.txt").write_text("not a version")
    assert export.existing_versions(base) == [1, 2, 7]
    assert export.existing_versions(tmp_path / "missing") == []
    assert export.export_student(student, base, warmup=False).name == "8"

    pb = (second / "saved_model.pb").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export.export_student(student, base, version=2, warmup=False)
    with pytest.raises(FileExistsError, match="already exists"):
        export.export_student(student, base, version="2", warmup=False)
    assert (second / "saved_model.pb").read_bytes() == pb

    # overwrite=True replaces the version: the new one has the class-name output.
    replaced = export.export_student(
        student, base, version=2, overwrite=True, class_names=list("abcdefghij"), warmup=False
    )
    assert replaced == second
    assert "class_name" in serving_fn(replaced).structured_outputs
    assert "class_name" not in serving_fn(first).structured_outputs
    assert sorted(p.name for p in base.iterdir()) == ["1", "10.txt", "2", "7", "8", "notes"]

    assert export.export_student(student, base, version=5, warmup=False).name == "5"


def test_version_appearing_during_export_is_not_replaced(tmp_path):
    tmp_dir, target = tmp_path / ".tmp-export-3-abc", tmp_path / "3"
    tmp_dir.mkdir()
    target.mkdir()
    (target / "theirs").write_text("kept")
    with pytest.raises(FileExistsError, match="created by someone else"):
        saved_model._move_into_place(tmp_dir, target, overwrite=False)
    assert (target / "theirs").read_text() == "kept"


def test_version_directory_is_readable_by_other_users(student, tmp_path):
    previous = os.umask(0o022)
    try:
        version_dir = export.export_student(student, tmp_path / "m", warmup=False)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(version_dir.stat().st_mode) == 0o755


@pytest.mark.slow
def test_saved_model_cli_show_and_run(exported, student, raw_mnist, normalise, tmp_path):
    cli = shutil.which("saved_model_cli", path=str(pathlib.Path(sys.executable).parent))
    cli = cli or shutil.which("saved_model_cli")
    if cli is None:
        pytest.skip("saved_model_cli (installed with TensorFlow) is not on this machine")
    show = subprocess.run(
        [
            cli,
            "show",
            "--dir",
            str(exported),
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "inputs['images']" in show
    assert "DT_FLOAT" in show and "(-1, 28, 28, 1)" in show
    for key in ("logits", "probabilities", "class_id", "class_name"):
        assert f"outputs['{key}']" in show
    assert "DT_INT64" in show and "DT_STRING" in show
    assert "tensorflow/serving/predict" in show

    x = normalise(raw_mnist["x_test"][:5])
    np.save(tmp_path / "x.npy", x)
    subprocess.run(
        [
            cli,
            "run",
            "--dir",
            str(exported),
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--inputs",
            f"images={tmp_path / 'x.npy'}",
            "--outdir",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    expected = student.predict(x, verbose=0)
    np.testing.assert_allclose(np.load(tmp_path / "out" / "logits.npy"), expected, atol=1e-5)
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "class_id.npy"), expected.argmax(-1))


@pytest.mark.parametrize(
    "version, match",
    [
        (0, "positive integer"),
        (-3, "positive integer"),
        (1.5, "positive integer"),
        ("v2", "positive integer"),
        (True, "positive integer"),
    ],
)
def test_bad_versions_fail_before_writing(student, tmp_path, version, match):
    with pytest.raises(ValueError, match=match) as info:
        export.export_student(student, tmp_path / "model", version=version)
    assert f"Received: `version={version!r}`" in str(info.value)
    assert not (tmp_path / "model").exists() or not any((tmp_path / "model").iterdir())


def test_bad_models_and_paths(student, tmp_path):
    with pytest.raises(ValueError, match=r"keras\.Input"):
        export.export_student(keras.Sequential([keras.layers.Dense(3)]), tmp_path / "m")
    with pytest.raises(TypeError, match="Keras model"):
        export.export_student(lambda x: x, tmp_path / "m")
    two_outputs = keras.Model(
        inp := keras.Input((4,)), [keras.layers.Dense(2)(inp), keras.layers.Dense(3)(inp)]
    )
    with pytest.raises(ValueError, match=r"\(batch, num_classes\)"):
        export.export_student(two_outputs, tmp_path / "m")
    a_file = tmp_path / "model.pb"
    a_file.write_text("")
    with pytest.raises(NotADirectoryError, match="is a file"):
        export.export_student(student, a_file)
