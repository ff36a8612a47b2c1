"""Tests for `keras_anc.export.signature`: `ServingSignature` and the exported serving contract."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_anc import export
from keras_anc.export import ServingSignature


def _spec(fn):
    """The input spec and output specs of a `serving_default` function, comparable with ==."""
    _, inputs = fn.structured_input_signature
    outputs = {k: (v.dtype, v.shape.as_list()) for k, v in fn.structured_outputs.items()}
    return {k: (v.dtype, v.shape.as_list()) for k, v in inputs.items()}, outputs


def test_defaults_and_normalised_fields():
    signature = ServingSignature()
    assert dataclasses.asdict(signature) == {
        "class_names": None,
        "preprocessing": None,
        "input_dtype": None,
        "input_shape": None,
        "from_logits": True,
    }
    stats = {"mean": np.array([0.5]), "std": [0.25]}
    signature = ServingSignature(
        class_names=np.array(["cat", "dog"]),
        preprocessing=stats,
        input_dtype=tf.uint8,
        input_shape=[32, 32, 3],
        from_logits=np.bool_(False),
    )
    assert signature.class_names == ("cat", "dog")
    assert signature.preprocessing == {"mean": (0.5,), "std": (0.25,), "scale": 255.0}
    assert signature.input_dtype == "uint8"
    assert signature.input_shape == (32, 32, 3)
    assert signature.from_logits is False
    # The signature holds its own copy: changing the caller's dict later changes nothing.
    stats["std"] = [-1.0]
    assert signature.preprocessing["std"] == (0.25,)
    layer = keras.layers.Rescaling(1 / 255)
    assert ServingSignature(preprocessing=layer).preprocessing is layer
    with pytest.raises(dataclasses.FrozenInstanceError):
        signature.from_logits = True
    assert dataclasses.replace(signature, from_logits=True).from_logits is True


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"class_names": "0123456789"}, r"not a single string"),
        ({"class_names": 10}, r"Received: `class_names=10`"),
        ({"class_names": [0, 1]}, "only strings"),
        ({"preprocessing": {"mean": [0.1], "std": [0.0]}}, "strictly positive"),
        ({"preprocessing": {"mean": [np.nan]}}, r"Received: `preprocessing\['mean'\]=\[nan\]`"),
        ({"preprocessing": {"mean": "zero"}}, "one finite number"),
        ({"preprocessing": {"mean": []}}, "one finite number"),
        ({"preprocessing": {"scale": 0}}, r"Received: `preprocessing\['scale'\]=0`"),
        ({"preprocessing": {"scale": True}}, "positive number"),
        ({"preprocessing": {"mu": 0.1}}, r"Unknown `preprocessing` keys \['mu'\]"),
        ({"preprocessing": "imagenet"}, r"Received: `preprocessing='imagenet'`"),
        ({"input_dtype": "string"}, r"numeric dtype.*Received: `input_dtype='string'`"),
        ({"input_dtype": "bool"}, "numeric dtype"),
        ({"input_dtype": "pixels"}, r"dtype name.*Received: `input_dtype='pixels'`"),
        ({"input_shape": (None, 28, 1)}, r"Received: `input_shape=\(None, 28, 1\)`"),
        ({"input_shape": (28, 0, 1)}, "positive"),
        ({"input_shape": 28}, r"e\.g\. `input_shape=\(32, 32, 3\)`"),
        ({"input_shape": ()}, "positive"),
        ({"from_logits": "no"}, r"Received: `from_logits='no'`"),
    ],
)
def test_bad_values_are_rejected_on_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ServingSignature(**kwargs)


def test_signature_object_exports_the_same_contract_as_keywords(
    exported, student, raw_mnist, normalise, serving_fn, tmp_path
):
    # `exported` was written with `class_names=...` as a keyword argument.
    signature = ServingSignature(class_names=raw_mnist["class_names"])
    version_dir = export.export_student(student, tmp_path, signature=signature, warmup=False)
    assert _spec(serving_fn(version_dir)) == _spec(serving_fn(exported))
    x = tf.constant(normalise(raw_mnist["x_test"][:32]))
    by_keywords, by_signature = serving_fn(exported)(images=x), serving_fn(version_dir)(images=x)
    assert sorted(by_signature) == sorted(by_keywords)
    for key in by_keywords:
        np.testing.assert_array_equal(by_signature[key].numpy(), by_keywords[key].numpy())

    # A raw-uint8 signature: same contract again, by object and by keywords.
    options = {"preprocessing": {"mean": 0.1307, "std": 0.3081}, "input_shape": (28, 28, 1)}
    by_object = export.export_student(
        student, tmp_path / "obj", signature=ServingSignature(**options), warmup=False
    )
    by_keywords = export.export_student(student, tmp_path / "kw", warmup=False, **options)
    assert _spec(serving_fn(by_object)) == _spec(serving_fn(by_keywords))
    assert _spec(serving_fn(by_object))[0] == {"images": (tf.uint8, [None, 28, 28, 1])}


def test_signature_and_keywords_cannot_be_mixed(student, tmp_path):
    signature = ServingSignature(class_names=list("abcdefghij"))
    with pytest.raises(ValueError, match=r"not both.*\['from_logits'\]"):
        export.export_student(student, tmp_path / "a", signature=signature, from_logits=False)
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['class_name'\]"):
        export.export_student(student, tmp_path / "b", class_name=list("abcdefghij"))
    with pytest.raises(TypeError, match="must be a `keras_anc.export.ServingSignature`"):
        export.export_tflite(student, tmp_path / "c.tflite", signature={"class_names": None})
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"class_names": ["a", "b"]}, "2 entries but the model predicts 10"),
        ({"class_names": list(range(10))}, "only strings"),
        ({"preprocessing": {"mean": [0.1, 0.2], "std": [1]}}, "one per input"),
        ({"preprocessing": {"mean": 0.1, "std": 0}}, "strictly positive"),
        ({"preprocessing": {"mu": 0.1}}, "Unknown `preprocessing` keys"),
        ({"preprocessing": "imagenet"}, "must be None, a dict"),
        ({"input_dtype": "string"}, "numeric dtype"),
    ],
)
def test_bad_signatures_fail_before_writing(student, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        export.export_student(student, tmp_path / "model", **kwargs)
    assert not (tmp_path / "model").exists() or not any((tmp_path / "model").iterdir())


def test_uint8_preprocessing_matches_manual_normalisation(
    student, raw_mnist, normalise, mnist_stats, serving_fn, tmp_path
):
    mean, std = mnist_stats
    raw = raw_mnist["x_test"][:200]
    expected = student.predict(normalise(raw), verbose=0)

    stats_dir = export.export_student(
        student, tmp_path / "stats", preprocessing={"mean": [mean], "std": [std]}, warmup=False
    )
    layer_dir = export.export_student(
        student,
        tmp_path / "layer",
        preprocessing=keras.layers.Rescaling(scale=1 / (255.0 * std), offset=-mean / std),
        warmup=False,
    )
    for version_dir in (stats_dir, layer_dir):
        fn = serving_fn(version_dir)
        spec = fn.structured_input_signature[1]["images"]
        assert spec.dtype == tf.uint8
        assert spec.shape.as_list() == [None, 28, 28, 1]
        outputs = fn(images=tf.constant(raw))
        np.testing.assert_allclose(outputs["logits"].numpy(), expected, atol=1e-4)
        np.testing.assert_array_equal(outputs["class_id"].numpy(), expected.argmax(-1))
    assert len(tf.saved_model.load(str(stats_dir)).variables) == len(student.variables)


def test_probability_models_and_subclassed_models(tmp_path, raw_mnist, normalise, serving_fn):
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
    x = normalise(raw_mnist["x_test"][:8])
    probs = model(x)  # Built by calling: the input shape is recovered.
    version_dir = export.export_student(model, tmp_path / "sub", from_logits=False, warmup=False)
    outputs = serving_fn(version_dir)(images=tf.constant(x))
    np.testing.assert_allclose(outputs["probabilities"].numpy(), probs, atol=1e-6)
    np.testing.assert_allclose(
        tf.nn.softmax(outputs["logits"]).numpy(), np.asarray(probs), atol=1e-5
    )
