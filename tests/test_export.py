"""Tests for `keras_anc.export` on a small CNN trained for one epoch on real MNIST images."""

import json
import os
import shutil
import stat
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_anc import export

MEAN, STD = 0.1307, 0.3081  # MNIST pixel statistics after scaling to [0, 1].
IMAGE_SHAPE = (28, 28, 1)


def normalise(raw):
    """The training-time preprocessing, in numpy: uint8 -> [0, 1] -> standardised."""
    return ((raw.astype("float32") / 255.0) - MEAN) / STD


@pytest.fixture(scope="module")
def mnist():
    (train, test), info = tfds.load(
        "mnist",
        split=["train[:5000]", "test[:1000]"],
        as_supervised=True,
        batch_size=-1,
        with_info=True,
    )
    x_train, y_train = tfds.as_numpy(train)
    x_test, y_test = tfds.as_numpy(test)
    return {
        "x_train": x_train,
        "y_train": y_train,
        "x_test": x_test,  # raw uint8, (1000, 28, 28, 1)
        "y_test": y_test,
        "class_names": info.features["label"].names,
    }


@pytest.fixture(scope="module")
def student(mnist):
    """A small Dense-heavy CNN (BatchNorm + Dropout: inference mode matters) trained 1 epoch."""
    keras.utils.set_random_seed(1234)
    model = keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ],
        name="mnist_student",
    )
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(normalise(mnist["x_train"]), mnist["y_train"], epochs=1, batch_size=64, verbose=0)
    return model


@pytest.fixture(scope="module")
def exported(student, mnist, tmp_path_factory):
    """Float32-input export with class names and warm-up requests from real test images."""
    base = tmp_path_factory.mktemp("models") / "mnist_student"
    version_dir = export.export_student(
        student,
        base,
        class_names=mnist["class_names"],
        warmup_examples=normalise(mnist["x_test"][:4]),
    )
    return version_dir


def _serving_fn(version_dir):
    return tf.saved_model.load(str(version_dir)).signatures["serving_default"]


def test_layout_and_signature(exported):
    assert exported.name == "1"
    assert (exported / "saved_model.pb").is_file()
    assert (exported / "variables" / "variables.index").is_file()
    # No temporary directories are left beside the version.
    assert sorted(p.name for p in exported.parent.iterdir()) == ["1"]

    fn = _serving_fn(exported)
    _, inputs = fn.structured_input_signature
    assert list(inputs) == ["images"]
    assert inputs["images"].dtype == tf.float32
    assert inputs["images"].shape.as_list() == [None, 28, 28, 1]
    outputs = fn.structured_outputs
    assert sorted(outputs) == ["class_id", "class_name", "logits", "probabilities"]
    assert outputs["class_id"].dtype == tf.int64
    assert outputs["class_name"].dtype == tf.string
    assert outputs["logits"].shape.as_list() == [None, 10]


def test_saved_model_matches_keras_predict(exported, student, mnist):
    x = normalise(mnist["x_test"][:256])
    expected = student.predict(x, verbose=0)
    outputs = _serving_fn(exported)(images=tf.constant(x))
    np.testing.assert_allclose(outputs["logits"].numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(
        outputs["probabilities"].numpy(), tf.nn.softmax(expected).numpy(), atol=1e-6
    )
    class_id = outputs["class_id"].numpy()
    np.testing.assert_array_equal(class_id, expected.argmax(-1))
    names = [n.decode() for n in outputs["class_name"].numpy()]
    assert names == [mnist["class_names"][i] for i in class_id]
    # A trained model, not a random one: most real test digits are right.
    assert np.mean(class_id == mnist["y_test"][:256]) > 0.8


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
        [keras.Input(IMAGE_SHAPE), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    distiller = keras.distillation.Distiller(
        teacher=teacher,
        student=student,
        distillation_losses=keras.distillation.LogitsDistillation(),
    )
    with pytest.raises(ValueError, match=r"distiller\.student"):
        export.export_student(distiller, "unused")


def test_warmup_file_from_examples(exported, mnist):
    warmup = exported / "assets.extra" / "tf_serving_warmup_requests"
    assert warmup.is_file()
    from tensorflow_serving.apis import prediction_log_pb2

    records = [
        prediction_log_pb2.PredictionLog.FromString(r)
        for r in tf.data.TFRecordDataset(str(warmup)).as_numpy_iterator()
    ]
    assert len(records) == 10
    examples = normalise(mnist["x_test"][:4])
    for i, record in enumerate(records):
        request = record.predict_log.request
        assert request.model_spec.signature_name == "serving_default"
        assert request.model_spec.name == "mnist_student"
        assert list(request.inputs) == ["images"]
        tensor = tf.make_ndarray(request.inputs["images"])
        assert tensor.shape == (1, 28, 28, 1)
        assert tensor.dtype == np.float32
        np.testing.assert_array_equal(tensor[0], examples[i % 4])


def test_warmup_zeros_uint8_and_record_count(student, tmp_path):
    version_dir = export.export_student(
        student,
        tmp_path,
        preprocessing={"mean": MEAN, "std": STD},
        num_warmup_records=3,
        warmup_batch_size=2,
    )
    from tensorflow_serving.apis import prediction_log_pb2

    path = version_dir / "assets.extra" / "tf_serving_warmup_requests"
    records = list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator())
    assert len(records) == 3
    for raw in records:
        tensor = prediction_log_pb2.PredictionLog.FromString(raw).predict_log.request.inputs
        array = tf.make_ndarray(tensor["images"])
        assert array.dtype == np.uint8
        assert array.shape == (2, 28, 28, 1)
        assert not array.any()
    # The warm-up request is a valid request for the exported signature.
    out = _serving_fn(version_dir)(images=tf.constant(array))
    assert out["logits"].shape == (2, 10)


def test_warmup_without_serving_api(student, tmp_path, monkeypatch):
    # Simulate an install without the optional `serving` extra.
    monkeypatch.setitem(sys.modules, "tensorflow_serving", None)
    monkeypatch.setitem(sys.modules, "tensorflow_serving.apis", None)
    with pytest.warns(UserWarning, match=r"pip install keras-anc\[serving\]"):
        version_dir = export.export_student(student, tmp_path / "a")
    assert (version_dir / "saved_model.pb").is_file()
    assert not (version_dir / "assets.extra").exists()

    with pytest.raises(ImportError, match="tensorflow-serving-api"):
        export.export_student(student, tmp_path / "b", warmup=True)
    with pytest.raises(ImportError, match="tensorflow-serving-api"):
        export.export_student(student, tmp_path / "c", warmup_examples=np.zeros((1, 28, 28, 1)))
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        version_dir = export.export_student(student, tmp_path / "d", warmup=False)
    assert not (version_dir / "assets.extra").exists()


def test_versions_auto_increment_and_are_never_clobbered(student, tmp_path):
    base = tmp_path / "model"
    first = export.export_student(student, base, warmup=False)
    second = export.export_student(student, base, warmup=False)
    assert (first.name, second.name) == ("1", "2")
    # Non-numeric entries are ignored, the largest numeric version wins.
    (base / "7").mkdir()
    (base / "notes").mkdir()
    (base / "10.txt").write_text("not a version")
    assert export.existing_versions(base) == [1, 2, 7]
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
    assert "class_name" in _serving_fn(replaced).structured_outputs
    assert "class_name" not in _serving_fn(first).structured_outputs
    assert sorted(p.name for p in base.iterdir()) == ["1", "10.txt", "2", "7", "8", "notes"]

    assert export.export_student(student, base, version=5, warmup=False).name == "5"


def test_uint8_preprocessing_matches_manual_normalisation(student, mnist, tmp_path):
    raw = mnist["x_test"][:200]
    expected = student.predict(normalise(raw), verbose=0)

    stats_dir = export.export_student(
        student, tmp_path / "stats", preprocessing={"mean": [MEAN], "std": [STD]}, warmup=False
    )
    layer_dir = export.export_student(
        student,
        tmp_path / "layer",
        preprocessing=keras.layers.Rescaling(scale=1 / (255.0 * STD), offset=-MEAN / STD),
        warmup=False,
    )
    for version_dir in (stats_dir, layer_dir):
        fn = _serving_fn(version_dir)
        spec = fn.structured_input_signature[1]["images"]
        assert spec.dtype == tf.uint8
        assert spec.shape.as_list() == [None, 28, 28, 1]
        outputs = fn(images=tf.constant(raw))
        np.testing.assert_allclose(outputs["logits"].numpy(), expected, atol=1e-4)
        np.testing.assert_array_equal(outputs["class_id"].numpy(), expected.argmax(-1))
    assert len(tf.saved_model.load(str(stats_dir)).variables) == len(student.variables)


def test_probability_models_and_subclassed_models(tmp_path, mnist):
    class Classifier(keras.Model):
        def __init__(self):
            super().__init__()
            self.flatten = keras.layers.Flatten()
            self.dense = keras.layers.Dense(10, activation="softmax")

        def call(self, x):
            return self.dense(self.flatten(x))

    model = Classifier()
    with pytest.raises(ValueError, match="has not been built"):
        export.export_student(model, tmp_path / "unbuilt")
    x = normalise(mnist["x_test"][:8])
    probs = model(x)  # Built by calling: the input shape is recovered.
    version_dir = export.export_student(model, tmp_path / "sub", from_logits=False, warmup=False)
    outputs = _serving_fn(version_dir)(images=tf.constant(x))
    np.testing.assert_allclose(outputs["probabilities"].numpy(), probs, atol=1e-6)
    np.testing.assert_allclose(
        tf.nn.softmax(outputs["logits"]).numpy(), np.asarray(probs), atol=1e-5
    )


@pytest.mark.slow
def test_saved_model_cli_show_and_run(exported, student, mnist, tmp_path):
    cli = shutil.which(
        "saved_model_cli", path=str(__import__("pathlib").Path(sys.executable).parent)
    )
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

    x = normalise(mnist["x_test"][:5])
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
    "kwargs, error, match",
    [
        ({"version": 0}, ValueError, "positive integer"),
        ({"version": -3}, ValueError, "positive integer"),
        ({"version": 1.5}, ValueError, "positive integer"),
        ({"version": "v2"}, ValueError, "positive integer"),
        ({"version": True}, ValueError, "positive integer"),
        ({"class_names": ["a", "b"]}, ValueError, "2 entries but the model predicts 10"),
        ({"class_names": list(range(10))}, ValueError, "only strings"),
        ({"preprocessing": {"mean": [0.1, 0.2], "std": [1]}}, ValueError, "one per input"),
        ({"preprocessing": {"mean": 0.1, "std": 0}}, ValueError, "strictly positive"),
        ({"preprocessing": {"mu": 0.1}}, ValueError, "Unknown `preprocessing` keys"),
        ({"preprocessing": "imagenet"}, ValueError, "must be None, a dict"),
        ({"input_dtype": "string"}, ValueError, "numeric dtype"),
        ({"warmup": False, "warmup_examples": np.zeros((1, 28, 28, 1))}, ValueError, "warmup"),
        ({"warmup_examples": np.zeros((2, 32, 32, 3))}, ValueError, r"shape \(N, 28, 28, 1\)"),
        (
            {
                "preprocessing": {"mean": MEAN, "std": STD},
                "warmup_examples": np.zeros((1, 28, 28, 1)),
            },
            ValueError,
            "integer images",
        ),
        ({"num_warmup_records": 0}, ValueError, "positive integer"),
        ({"num_warmup_records": 1001}, ValueError, "at most 1000"),
    ],
)
def test_bad_arguments_fail_before_writing(student, tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        export.export_student(student, tmp_path / "model", **kwargs)
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
    with pytest.raises(IsADirectoryError, match="student.tflite"):
        export.export_tflite(student, tmp_path)
    with pytest.raises(ValueError, match="dynamic_range"):
        export.export_tflite(student, tmp_path / "m.tflite", quantization="int4")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export.export_tflite(student, a_file, overwrite=False)


@pytest.fixture(scope="module")
def report(student, mnist, tmp_path_factory):
    """Float32 and dynamic-range TFLite plus SavedModel, measured on 1000 real test images."""
    return export.export_report(
        student,
        (normalise(mnist["x_test"]), mnist["y_test"]),
        tmp_path_factory.mktemp("report"),
        class_names=mnist["class_names"],
    )


@pytest.mark.slow
def test_export_report(report):
    assert json.loads(json.dumps(report)) == report
    assert set(report) == {"keras", "saved_model", "tflite_float32", "tflite_dynamic_range"}
    keras_acc = report["keras"]["accuracy"]
    assert report["keras"]["num_examples"] == 1000
    assert keras_acc > 0.85
    sm = report["saved_model"]
    assert sm["accuracy"] == keras_acc and sm["agreement_with_keras"] == 1.0
    assert sm["max_abs_logit_diff"] < 1e-5
    f32, dr = report["tflite_float32"], report["tflite_dynamic_range"]
    assert f32["agreement_with_keras"] >= 0.999
    assert f32["max_abs_logit_diff"] < 1e-3
    assert abs(dr["accuracy"] - keras_acc) < 0.03
    assert dr["size_bytes"] < 0.5 * f32["size_bytes"]
    assert dr["size_ratio_to_float32"] == dr["size_bytes"] / f32["size_bytes"]
    # The float32 file holds the ~87k float32 weights (plus a small graph).
    assert 4 * report["keras"]["num_params"] < f32["size_bytes"] < 5 * report["keras"]["num_params"]


@pytest.mark.slow
def test_tflite_matches_keras_and_data_formats_agree(report, student, mnist):
    path = report["tflite_float32"]["path"]
    interpreter = export._make_interpreter(path)
    runner = interpreter.get_signature_runner("serving_default")
    x = normalise(mnist["x_test"][:64])
    outputs = runner(images=x)
    np.testing.assert_allclose(outputs["logits"], student.predict(x, verbose=0), atol=1e-4)
    assert outputs["class_name"].shape == (64,)

    arrays = (normalise(mnist["x_test"]), mnist["y_test"])
    by_arrays = export.evaluate_tflite(path, arrays, batch_size=100)
    assert by_arrays["num_examples"] == 1000
    assert by_arrays["accuracy"] == report["tflite_float32"]["accuracy"]
    assert by_arrays["size_bytes"] == report["tflite_float32"]["size_bytes"]
    one_hot = (arrays[0], np.eye(10)[arrays[1]])
    assert export.evaluate_tflite(path, one_hot)["accuracy"] == by_arrays["accuracy"]
    batched = tf.data.Dataset.from_tensor_slices(arrays).batch(128)
    assert export.evaluate_tflite(path, batched)["accuracy"] == by_arrays["accuracy"]


@pytest.mark.slow
def test_tflite_uint8_preprocessing_on_tfds_dataset(student, mnist, tmp_path):
    path = export.export_tflite(
        student,
        tmp_path / "student_uint8_dr.tflite",
        quantization="dynamic_range",
        preprocessing={"mean": MEAN, "std": STD},
    )
    runner = export._make_interpreter(path).get_signature_runner("serving_default")
    assert runner.get_input_details()["images"]["dtype"] == np.uint8
    # Raw TFDS examples (dicts, unbatched, uint8) go straight in.
    ds = tfds.load("mnist", split="test[:1000]")
    result = export.evaluate_tflite(path, ds)
    keras_acc = np.mean(
        student.predict(normalise(mnist["x_test"]), verbose=0).argmax(-1) == mnist["y_test"]
    )
    assert result["num_examples"] == 1000
    assert abs(result["accuracy"] - keras_acc) < 0.03
    with pytest.raises(ValueError, match="raw, un-normalised images"):
        export.evaluate_tflite(path, (normalise(mnist["x_test"][:10]), mnist["y_test"][:10]))


def test_version_directory_is_readable_by_other_users(student, tmp_path):
    previous = os.umask(0o022)
    try:
        version_dir = export.export_student(student, tmp_path / "m", warmup=False)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(version_dir.stat().st_mode) == 0o755


@pytest.mark.slow
def test_export_report_on_reshuffling_raw_dataset(student, mnist, tmp_path):
    ds = tfds.load("mnist", split="test[:500]", as_supervised=True)
    ds = ds.shuffle(500, seed=0, reshuffle_each_iteration=True)
    options = {"preprocessing": {"mean": MEAN, "std": STD}, "tflite_quantizations": ()}
    with pytest.raises(ValueError, match="raw, un-normalised"):
        export.export_report(
            student, (normalise(mnist["x_test"][:10]), mnist["y_test"][:10]), tmp_path, **options
        )
    assert not any(tmp_path.iterdir())

    report = export.export_report(student, ds, tmp_path, **options)
    assert set(report) == {"keras", "saved_model"}
    assert report["keras"]["num_examples"] == 500
    keras_acc = np.mean(
        student.predict(normalise(mnist["x_test"][:500]), verbose=0).argmax(-1)
        == mnist["y_test"][:500]
    )
    assert report["keras"]["accuracy"] == pytest.approx(keras_acc)
    assert report["saved_model"]["agreement_with_keras"] == 1.0
    assert report["saved_model"]["accuracy"] == report["keras"]["accuracy"]
