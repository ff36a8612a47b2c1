"""The default MLP discriminator."""

import keras
import numpy as np
import pytest

from keras_anc import MLPDiscriminator


def test_paper_architecture_and_names():
    disc = MLPDiscriminator()
    disc.build((None, 10))
    assert [layer.kernel.shape for layer in disc.hidden_layers] == [
        (10, 128),
        (128, 256),
        (256, 128),
    ]
    assert disc.output_layer.kernel.shape == (128, 1)
    assert all(v.path.startswith("discriminator") for v in disc.weights)
    assert disc(np.zeros((3, 10), "float32")).shape == (3, 1)


def test_weight_decay_and_dropout_are_configurable():
    disc = MLPDiscriminator((8,), dropout_rate=0.5, kernel_regularizer=keras.regularizers.L1(0.1))
    disc.build((None, 4))
    disc(np.ones((2, 4), "float32"))
    assert len(disc.losses) == 2
    clone = MLPDiscriminator.from_config(disc.get_config())
    assert clone.get_config() == disc.get_config()


def test_bad_arguments():
    with pytest.raises(ValueError, match="hidden_units"):
        MLPDiscriminator(hidden_units=())
    with pytest.raises(ValueError, match="dropout_rate"):
        MLPDiscriminator(dropout_rate=1.5)
