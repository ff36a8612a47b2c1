"""FeatureNoise: schedulable noise and dropout on the discriminator's input."""

import keras
import numpy as np
import pytest

from keras_anc.layers import FeatureNoise


def test_identity_at_inference_and_when_off():
    x = np.random.default_rng(0).normal(size=(64, 32)).astype("float32")
    to_numpy = keras.ops.convert_to_numpy
    np.testing.assert_array_equal(to_numpy(FeatureNoise(1.0, 0.5)(x, training=False)), x)
    np.testing.assert_allclose(to_numpy(FeatureNoise(0.0, 0.0)(x, training=True)), x)


def test_noise_has_the_requested_stddev():
    x = np.zeros((256, 64), "float32")
    layer = FeatureNoise(stddev=0.5, seed=1)
    noisy = keras.ops.convert_to_numpy(layer(x, training=True))
    assert np.std(noisy) == pytest.approx(0.5, rel=0.05)
    layer.stddev.assign(0.1)  # what a callback does
    noisy = keras.ops.convert_to_numpy(layer(x, training=True))
    assert np.std(noisy) == pytest.approx(0.1, rel=0.05)


def test_dropout_drops_and_rescales():
    x = np.ones((256, 64), "float32")
    y = keras.ops.convert_to_numpy(FeatureNoise(dropout_rate=0.25, seed=2)(x, training=True))
    assert np.mean(y == 0) == pytest.approx(0.25, abs=0.02)
    np.testing.assert_allclose(y[y != 0], 1 / 0.75, rtol=1e-6)


def test_seeded_and_serializable():
    layer = FeatureNoise(0.3, 0.1, seed=4)
    clone = FeatureNoise.from_config(layer.get_config())
    x = np.ones((8, 4), "float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer(x, training=True)),
        keras.ops.convert_to_numpy(clone(x, training=True)),
    )
    assert clone.get_config()["stddev"] == pytest.approx(0.3)


def test_rejects_bad_rates():
    with pytest.raises(ValueError, match="dropout_rate"):
        FeatureNoise(dropout_rate=1.0)
    with pytest.raises(ValueError, match="stddev"):
        FeatureNoise(stddev=-1)
