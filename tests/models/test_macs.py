"""Tests of the analytic MAC counter `keras_anc.models.macs`."""

import keras
import pytest

from keras_anc import models


def _small_conv_net():
    inputs = keras.Input((10, 10, 8))
    x = keras.layers.Conv2D(16, 3, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", name="depthwise")(x)
    x = keras.layers.SeparableConv2D(4, 3, padding="same", name="separable")(x)
    x = keras.layers.Conv2DTranspose(2, 2, strides=2, name="transposed")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, name="dense")(x)
    return keras.Model(inputs, outputs)


# Hand-computed: positions x kernel size, per counted layer.
EXPECTED = {
    "conv": 10 * 10 * (3 * 3 * 8 * 16),
    "depthwise": 5 * 5 * (3 * 3 * 16),
    "separable": 5 * 5 * (3 * 3 * 16) + 5 * 5 * (16 * 4),
    "transposed": 5 * 5 * (2 * 2 * 2 * 4),  # input positions x kernel
    "dense": 2 * 3,
}


def test_counts_each_layer_type_by_hand():
    total, per_layer = models.macs(_small_conv_net(), per_layer=True)
    assert dict(per_layer) == EXPECTED
    assert total == sum(EXPECTED.values()) == 124_806


def test_nested_and_sequential_models_count_the_same():
    inner = _small_conv_net()
    inputs = keras.Input((10, 10, 8))
    outer = keras.Model(inputs, keras.layers.Dense(5)(inner(inputs)))
    assert models.macs(outer) == sum(EXPECTED.values()) + 3 * 5

    sequential = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    assert models.macs(sequential) == 6 * 4 + 4 * 2


def test_dense_on_sequences_counts_every_position():
    inputs = keras.Input((5, 8))
    model = keras.Model(inputs, keras.layers.Dense(4)(inputs))
    assert models.macs(model) == 5 * 8 * 4


@keras.saving.register_keras_serializable(package="keras_anc_tests")
class _ConvBlock(keras.layers.Layer):
    """A composite layer whose convolution never appears in the functional graph."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(4, 3, strides=2, padding="same")

    def call(self, x):
        return keras.ops.relu(self.conv(x))


def test_convolutions_inside_composite_layers_are_counted_and_unpatched():
    inputs = keras.Input((8, 8, 2))
    block = _ConvBlock(name="block")
    model = keras.Model(inputs, block(inputs))
    total, per_layer = models.macs(model, per_layer=True)
    assert total == 4 * 4 * (3 * 3 * 2 * 4)
    assert per_layer[0][0].startswith("block/")
    assert "call" not in vars(block.conv)  # the temporary wrapper is removed


def test_undefined_spatial_dims_need_an_explicit_input_shape():
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs))
    with pytest.raises(ValueError, match="unknown dimensions"):
        models.macs(model)
    assert models.macs(model, input_shape=(4, 5, 3)) == 4 * 5 * 3 * 2


def test_subclassed_models_are_rejected():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="functional or Sequential"):
        models.macs(Subclassed())


def test_macs_of_zoo_models_match_published_figures():
    # CIFAR ResNets: about 41M (resnet20), 0.13G (resnet56) and 0.33G (wrn_40_2) MACs.
    assert models.macs(models.resnet20()) == pytest.approx(41e6, rel=0.02)
    assert models.macs(models.resnet56()) == pytest.approx(125e6, rel=0.02)
    assert models.macs(models.wrn_40_2()) == pytest.approx(0.33e9, rel=0.02)
    assert models.macs(models.lenet5()) == 416_520


def test_counting_does_not_touch_the_model_graph():
    model = models.resnet8()
    models.macs(model)
    # Adding call nodes would make `.output` ambiguous for every layer.
    assert model.get_layer("features").output.shape == (None, 64)
