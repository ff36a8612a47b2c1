"""Tests for `keras_anc.export.tflite`: `.tflite` export and evaluation of a real student."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_anc import export
from keras_anc.export import ServingSignature, tflite


@pytest.mark.slow
def test_tflite_matches_keras_and_data_formats_agree(report, student, raw_mnist, normalise):
    path = report["tflite_float32"]["path"]
    interpreter = tflite.make_interpreter(path)
    runner = interpreter.get_signature_runner("serving_default")
    x = normalise(raw_mnist["x_test"][:64])
    outputs = runner(images=x)
    np.testing.assert_allclose(outputs["logits"], student.predict(x, verbose=0), atol=1e-4)
    assert outputs["class_name"].shape == (64,)

    arrays = (normalise(raw_mnist["x_test"]), raw_mnist["y_test"])
    by_arrays = export.evaluate_tflite(path, arrays, batch_size=100)
    assert by_arrays["num_examples"] == 1000
    assert by_arrays["accuracy"] == report["tflite_float32"]["accuracy"]
    assert by_arrays["size_bytes"] == report["tflite_float32"]["size_bytes"]
    one_hot = (arrays[0], np.eye(10)[arrays[1]])
    assert export.evaluate_tflite(path, one_hot)["accuracy"] == by_arrays["accuracy"]
    batched = tf.data.Dataset.from_tensor_slices(arrays).batch(128)
    assert export.evaluate_tflite(path, batched)["accuracy"] == by_arrays["accuracy"]


@pytest.mark.slow
def test_tflite_uint8_preprocessing_on_tfds_dataset(
    student, raw_mnist, normalise, mnist_stats, tmp_path
):
    mean, std = mnist_stats
    path = export.export_tflite(
        student,
        tmp_path / "student_uint8_dr.tflite",
        signature=ServingSignature(preprocessing={"mean": mean, "std": std}),
        quantization="dynamic_range",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student_uint8_dr.tflite"]
    runner = tflite.make_interpreter(path).get_signature_runner("serving_default")
    assert runner.get_input_details()["images"]["dtype"] == np.uint8
    # Raw TFDS examples (dicts, unbatched, uint8) go straight in.
    ds = tfds.load("mnist", split="test[:1000]")
    result = export.evaluate_tflite(path, ds)
    keras_acc = np.mean(
        student.predict(normalise(raw_mnist["x_test"]), verbose=0).argmax(-1) == raw_mnist["y_test"]
    )
    assert result["num_examples"] == 1000
    assert abs(result["accuracy"] - keras_acc) < 0.03
    with pytest.raises(ValueError, match="raw, un-normalised images"):
        export.evaluate_tflite(
            path, (normalise(raw_mnist["x_test"][:10]), raw_mnist["y_test"][:10])
        )


def test_bad_tflite_paths_and_quantizations(student, tmp_path):
    with pytest.raises(IsADirectoryError, match="student.tflite"):
        export.export_tflite(student, tmp_path)
    with pytest.raises(ValueError, match="dynamic_range") as info:
        export.export_tflite(student, tmp_path / "m.tflite", quantization="int4")
    assert "Received: `quantization='int4'`" in str(info.value)
    a_file = tmp_path / "model.pb"
    a_file.write_text("")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export.export_tflite(student, a_file, overwrite=False)
    assert a_file.read_text() == ""
    assert export.TFLITE_QUANTIZATIONS == (None, "dynamic_range", "float16")


def test_evaluate_tflite_rejects_bad_data(student, tmp_path):
    path = export.export_tflite(student, tmp_path / "student.tflite")
    with pytest.raises(ValueError, match="10 images but 9 labels"):
        export.evaluate_tflite(path, (np.zeros((10, 28, 28, 1)), np.zeros(9)))
    with pytest.raises(ValueError, match="Received: `data` of type ndarray"):
        export.evaluate_tflite(path, np.zeros((10, 28, 28, 1)))
    with pytest.raises(ValueError, match="is empty"):
        export.evaluate_tflite(path, (np.zeros((0, 28, 28, 1)), np.zeros(0)))
    images_only = tf.data.Dataset.from_tensor_slices({"pixels": np.zeros((2, 28, 28, 1))})
    with pytest.raises(ValueError, match=r"'image' and 'label' keys"):
        export.evaluate_tflite(path, images_only)
