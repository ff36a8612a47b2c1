"""Tests for `keras_anc.export.report`: every artefact of a real student, measured at once."""

import json

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_anc import export
from keras_anc.export import ServingSignature


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
def test_export_report_on_reshuffling_raw_dataset(
    student, raw_mnist, normalise, mnist_stats, tmp_path
):
    mean, std = mnist_stats
    ds = tfds.load("mnist", split="test[:500]", as_supervised=True)
    ds = ds.shuffle(500, seed=0, reshuffle_each_iteration=True)
    signature = ServingSignature(preprocessing={"mean": mean, "std": std})
    options = {"signature": signature, "tflite_quantizations": ()}
    with pytest.raises(ValueError, match="raw, un-normalised"):
        export.export_report(
            student,
            (normalise(raw_mnist["x_test"][:10]), raw_mnist["y_test"][:10]),
            tmp_path,
            **options,
        )
    assert not any(tmp_path.iterdir())

    report = export.export_report(student, ds, tmp_path, **options)
    assert set(report) == {"keras", "saved_model"}
    assert report["keras"]["num_examples"] == 500
    keras_acc = np.mean(
        student.predict(normalise(raw_mnist["x_test"][:500]), verbose=0).argmax(-1)
        == raw_mnist["y_test"][:500]
    )
    assert report["keras"]["accuracy"] == pytest.approx(keras_acc)
    assert report["saved_model"]["agreement_with_keras"] == 1.0
    assert report["saved_model"]["accuracy"] == report["keras"]["accuracy"]


def test_bad_quantizations_and_empty_data_fail_before_writing(student, raw_mnist, tmp_path):
    data = (raw_mnist["x_test"][:10], raw_mnist["y_test"][:10])
    with pytest.raises(ValueError, match=r"Received: `tflite_quantizations=\(None, 'int8'\)`"):
        export.export_report(student, data, tmp_path, tflite_quantizations=[None, "int8"])
    with pytest.raises(ValueError, match="`test_data` is empty"):
        export.export_report(student, (data[0][:0], data[1][:0]), tmp_path)
    assert not any(tmp_path.iterdir())
