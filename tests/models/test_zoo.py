"""Tests of the zoo builders: published sizes, "features"/"logits" layers, forward passes."""

import keras
import numpy as np
import pytest

from keras_anc import models

# (name, published parameter count, relative tolerance). Published numbers: He et al. 2016 (CIFAR
# ResNets; ResNet-164 from "Identity Mappings"), Zagoruyko & Komodakis 2016 (WRN), and the CRD
# benchmark (resnet8x4 / resnet32x4). Counts include BatchNorm statistics, as `count_params` does.
PUBLISHED = [
    ("resnet20", 0.27e6, 0.02),
    ("resnet32", 0.46e6, 0.02),
    ("resnet44", 0.66e6, 0.02),
    ("resnet56", 0.85e6, 0.02),
    ("resnet110", 1.7e6, 0.03),
    ("resnet164", 1.7e6, 0.03),
    ("wrn_16_2", 0.7e6, 0.02),
    ("wrn_40_1", 0.57e6, 0.02),
    ("wrn_40_2", 2.2e6, 0.03),
    ("resnet8x4", 1.23e6, 0.02),
    ("resnet32x4", 7.43e6, 0.02),
]


@pytest.mark.parametrize("name, published, rel_tol", PUBLISHED)
def test_parameter_count_matches_published(name, published, rel_tol):
    params = models.get_model(name, num_classes=10).count_params()
    assert params == pytest.approx(published, rel=rel_tol)


def test_resnet20_with_zero_pad_shortcuts_has_exact_option_a_count():
    # Option A adds no parameters. Trainable weights: stem conv 432 + 3 stages of 6 convs
    # (13,824 + 50,688 + 202,752) + BN gammas/betas (32 + 192 + 384 + 768) + classifier 650.
    model = models.resnet20()
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 269_722
    assert not any("shortcut_conv" in layer.name for layer in model.layers)
    assert any(isinstance(layer, models.ZeroPadShortcut) for layer in model.layers)


def test_projection_shortcut_adds_1x1_convolutions():
    zero_pad = models.cifar_resnet(20)
    projection = models.cifar_resnet(20, shortcut="projection")
    # Two down-sampling shortcuts: 16->32 and 32->64 channels, each a 1x1 conv plus BatchNorm.
    extra = (16 * 32 + 4 * 32) + (32 * 64 + 4 * 64)
    assert projection.count_params() - zero_pad.count_params() == extra


def test_lenet5_has_61706_parameters_for_28_and_32_pixel_inputs():
    assert models.lenet5(input_shape=(28, 28, 1)).count_params() == 61_706
    assert models.lenet5(input_shape=(32, 32, 1)).count_params() == 61_706


def test_lenet_students_are_much_smaller_than_lenet5():
    lenet5 = models.lenet5().count_params()
    assert models.lenet5_half().count_params() * 3 < lenet5
    assert models.lenet_tiny().count_params() * 10 <= lenet5


@pytest.mark.parametrize("name", models.available_models())
def test_every_registered_model_outputs_logits_and_exposes_features(name):
    num_classes = 7
    model = models.get_model(name, num_classes=num_classes)
    assert isinstance(model, keras.Model)
    assert type(model).__name__ == "Functional"

    logits_layer = model.get_layer("logits")
    assert isinstance(logits_layer, keras.layers.Dense)
    assert logits_layer.units == num_classes
    assert logits_layer.activation is keras.activations.linear
    assert model.outputs[0] is logits_layer.output

    features = model.get_layer("features").output
    assert len(features.shape) == 2 and features.shape[-1] == logits_layer.kernel.shape[0]

    shape = models.default_input_shape(name)
    x = np.random.default_rng(0).uniform(size=(2, *shape)).astype("float32")
    logits = keras.ops.convert_to_numpy(model(x, training=False))
    assert logits.shape == (2, num_classes)
    assert np.all(np.isfinite(logits))


def test_features_layer_can_be_tapped_for_distillation():
    model = models.resnet8(num_classes=10)
    extractor = keras.Model(model.input, model.get_layer("features").output)
    x = np.zeros((3, 32, 32, 3), dtype="float32")
    assert extractor(x, training=False).shape == (3, 64)
    assert model.get_layer("stage3_block1_out").output.shape == (None, 8, 8, 64)


def test_model_name_and_custom_input_shape():
    model = models.get_model("wrn_16_1", input_shape=(24, 24, 1), num_classes=3, name="teacher")
    assert model.name == "teacher"
    assert tuple(model.inputs[0].shape) == (None, 24, 24, 1)
    assert model(np.zeros((1, 24, 24, 1), "float32")).shape == (1, 3)
    assert models.get_model("resnet14").name == "resnet14"


def test_vgg_pools_a_fourth_time_only_for_large_inputs():
    small = models.vgg8(input_shape=(32, 32, 3))
    large = models.vgg8(input_shape=(64, 64, 3))
    assert small.get_layer("block5_out").output.shape[1:3] == (4, 4)
    assert large.get_layer("block5_out").output.shape[1:3] == (4, 4)
    assert small.count_params() == large.count_params()


def test_mlp_accepts_flat_input_and_empty_hidden_layers():
    model = models.mlp(input_shape=(784,), hidden_units=())
    assert model.count_params() == 784 * 10 + 10
    assert model.get_layer("features").output.shape == (None, 784)
    assert model(np.ones((2, 784), "float32")).shape == (2, 10)


def test_weight_decay_adds_one_l2_term_per_kernel():
    plain = models.resnet8()
    decayed = models.resnet8(weight_decay=1e-4)
    kernels = [w for w in decayed.trainable_weights if w.path.endswith("kernel")]
    assert plain.losses == []
    assert len(decayed.losses) == len(kernels) == 8  # 7 convolutions + the logits layer
    expected = 1e-4 * sum(float(np.sum(np.square(w.numpy()))) for w in kernels)
    assert float(keras.ops.sum(decayed.losses)) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: models.cifar_resnet(21), "6n \\+ 2"),
        (lambda: models.cifar_resnet(32, block="bottleneck"), "9n \\+ 2"),
        (lambda: models.cifar_resnet(20, block="wide"), "`block` must be one of"),
        (lambda: models.cifar_resnet(20, shortcut="conv"), "`shortcut` must be one of"),
        (lambda: models.wide_resnet(15, 2), "6n \\+ 4"),
        (lambda: models.wide_resnet(16, 0), "widening factor"),
        (lambda: models.vgg(12), "must be one of"),
        (lambda: models.resnet20(input_shape=(32, 32)), "height, width, channels"),
        (lambda: models.resnet20(num_classes=0), "positive integer"),
        (lambda: models.resnet20(weight_decay=-1.0), ">= 0"),
        (lambda: models.lenet5(input_shape=(8, 8, 1)), "at least 12x12"),
        (lambda: models.mlp(input_shape=()), "non-empty tuple"),
        (lambda: models.nin(dropout_rate=1.0), "dropout_rate"),
    ],
)
def test_invalid_arguments_raise_helpful_errors(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_zero_pad_shortcut_subsamples_and_pads_channels():
    layer = models.ZeroPadShortcut(filters=8, strides=2)
    x = np.arange(2 * 4 * 4 * 4, dtype="float32").reshape(2, 4, 4, 4)
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (2, 2, 2, 8)
    np.testing.assert_array_equal(y[..., 2:6], x[:, ::2, ::2, :])
    assert not y[..., :2].any() and not y[..., 6:].any()
    assert layer.compute_output_shape((None, 5, 5, 4)) == (None, 3, 3, 8)
    with pytest.raises(ValueError, match="only widen"):
        models.ZeroPadShortcut(filters=2)(x)


def test_saved_model_round_trip_keeps_predictions(tmp_path):
    model = models.resnet8(num_classes=4, weight_decay=5e-4)
    path = tmp_path / "resnet8.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    x = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
        atol=1e-6,
    )
    assert len(restored.losses) == len(model.losses) > 0
