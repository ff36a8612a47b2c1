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


def _fake_export(base, name):
    """A finished export folder (as `write_saved_model` leaves it), marked with `name`."""
    tmp_dir = base / f".tmp-export-{name}"
    tmp_dir.mkdir(parents=True)
    (tmp_dir / "saved_model.pb").write_text(name)
    return tmp_dir


def test_concurrent_publishers_get_distinct_versions_and_lose_none(tmp_path):
    import threading

    base = tmp_path / "model"
    names = [f"export{i}" for i in range(16)]
    tmp_dirs = [_fake_export(base, name) for name in names]
    results, barrier = {}, threading.Barrier(len(names))

    def publish(name, tmp_dir):
        barrier.wait()
        results[name] = saved_model._publish_next_version(tmp_dir, base)

    threads = [threading.Thread(target=publish, args=pair) for pair in zip(names, tmp_dirs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(int(p.name) for p in results.values()) == list(range(1, 17))
    for name, version_dir in results.items():
        assert (version_dir / "saved_model.pb").read_text() == name  # none replaced another
    assert sorted(p.name for p in base.iterdir()) == sorted(str(v) for v in range(1, 17))


def test_a_claimed_or_taken_number_is_skipped(tmp_path, monkeypatch):
    base = tmp_path / "model"
    base.mkdir()
    (base / ".claim-1").write_text("a process killed mid-export\n")
    assert saved_model._publish_next_version(_fake_export(base, "a"), base).name == "2"
    # Version 3 appears (an explicit `version=3` export) after this export computed its number.
    real_exists = pathlib.Path.exists

    def exists(self):
        if self == base / "3" and not real_exists(self):
            _fake_export(base, "explicit").rename(self)
        return real_exists(self)

    monkeypatch.setattr(pathlib.Path, "exists", exists)
    published = saved_model._publish_next_version(_fake_export(base, "b"), base)
    assert published.name == "4" and (published / "saved_model.pb").read_text() == "b"
    assert (base / "3" / "saved_model.pb").read_text() == "explicit"


def test_overwrite_swaps_in_one_step_so_a_version_is_always_in_place(tmp_path, monkeypatch):
    target = _fake_export(tmp_path, "old").rename(tmp_path / "2")
    probe_a, probe_b = _fake_export(tmp_path, "a"), _fake_export(tmp_path, "b")
    if not saved_model._exchange(probe_a, probe_b):
        pytest.skip("this platform or file system cannot swap two folders in one step")
    assert (probe_a / "saved_model.pb").read_text() == "b"  # swapped
    shutil.rmtree(probe_a), shutil.rmtree(probe_b)

    def no_rename(*args):
        raise AssertionError("a two-rename replacement leaves a moment without the version")

    monkeypatch.setattr(saved_model.os, "rename", no_rename)
    saved_model._move_into_place(_fake_export(tmp_path, "new"), target, overwrite=True)
    assert (target / "saved_model.pb").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2"]


def test_overwrite_without_a_swap_falls_back_to_two_renames(tmp_path, monkeypatch):
    target = _fake_export(tmp_path, "old").rename(tmp_path / "2")
    monkeypatch.setattr(saved_model, "_exchange", lambda a, b: False)
    saved_model._move_into_place(_fake_export(tmp_path, "new"), target, overwrite=True)
    assert (target / "saved_model.pb").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2"]


_EXPORTER = """
import os, pathlib, sys, time
import keras, numpy as np
from keras_anc import export
base, go, index = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3])
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name=f"student{index}")
model.layers[-1].bias.assign(np.full(3, float(index), "float32"))
while not go.exists():
    time.sleep(0.01)
print(export.export_student(model, base, version=None, overwrite=True, warmup=False))
"""


@pytest.mark.slow
def test_four_processes_exporting_at_once_keep_four_versions(tmp_path, serving_fn):
    base, go = tmp_path / "model", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _EXPORTER, str(base), str(go), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    go.touch()  # all four start exporting together
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, [err[-2000:] for _, err in outputs]
    reported = [pathlib.Path(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert sorted(p.name for p in reported) == ["1", "2", "3", "4"]
    assert export.existing_versions(base) == [1, 2, 3, 4]
    for index, version_dir in enumerate(reported):  # each process's own model, none lost
        logits = serving_fn(version_dir)(images=tf.zeros((1, 4)))["logits"].numpy()
        np.testing.assert_allclose(logits, np.full((1, 3), float(index)))
    assert sorted(p.name for p in base.iterdir()) == ["1", "2", "3", "4"]
