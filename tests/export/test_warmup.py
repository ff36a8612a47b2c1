"""Tests for `keras_anc.export.warmup`: the TF-Serving warm-up file of an exported version."""

import sys
import warnings

import numpy as np
import pytest
import tensorflow as tf

from keras_anc import export


def test_warmup_file_from_examples(exported, raw_mnist, normalise):
    warmup = exported / export.WARMUP_DIRNAME / export.WARMUP_FILENAME
    assert warmup == exported / "assets.extra" / "tf_serving_warmup_requests"
    assert warmup.is_file()
    from tensorflow_serving.apis import prediction_log_pb2

    records = [
        prediction_log_pb2.PredictionLog.FromString(r)
        for r in tf.data.TFRecordDataset(str(warmup)).as_numpy_iterator()
    ]
    assert len(records) == 10
    examples = normalise(raw_mnist["x_test"][:4])
    for i, record in enumerate(records):
        request = record.predict_log.request
        assert request.model_spec.signature_name == "serving_default"
        assert request.model_spec.name == "mnist_student"
        assert list(request.inputs) == ["images"]
        tensor = tf.make_ndarray(request.inputs["images"])
        assert tensor.shape == (1, 28, 28, 1)
        assert tensor.dtype == np.float32
        np.testing.assert_array_equal(tensor[0], examples[i % 4])


def test_warmup_zeros_uint8_and_record_count(student, tmp_path, mnist_stats, serving_fn):
    mean, std = mnist_stats
    version_dir = export.export_student(
        student,
        tmp_path,
        preprocessing={"mean": mean, "std": std},
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
    out = serving_fn(version_dir)(images=tf.constant(array))
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


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"warmup": False, "warmup_examples": np.zeros((1, 28, 28, 1))}, "warmup"),
        ({"warmup": "yes"}, r"Received: `warmup='yes'`"),
        ({"warmup_examples": np.zeros((2, 32, 32, 3))}, r"shape \(N, 28, 28, 1\)"),
        ({"warmup_examples": np.zeros((0, 28, 28, 1))}, "is empty"),
        (
            {
                "preprocessing": {"mean": 0.1307, "std": 0.3081},
                "warmup_examples": np.zeros((1, 28, 28, 1)),
            },
            "integer images",
        ),
        (
            {
                "preprocessing": {"mean": 0.1, "std": 0.3},
                "warmup_examples": np.full((1, 28, 28, 1), 300),
            },
            r"integer images in \[0, 255\]",
        ),
        ({"num_warmup_records": 0}, "positive integer"),
        ({"warmup_batch_size": True}, r"Received: `warmup_batch_size=True`"),
        ({"num_warmup_records": 1001}, "at most 1000"),
    ],
)
def test_bad_warmup_arguments_fail_before_writing(student, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        export.export_student(student, tmp_path / "model", **kwargs)
    assert not (tmp_path / "model").exists() or not any((tmp_path / "model").iterdir())
