"""Tests of the KerasCV backbone wrapper: offline construction, exact architectures, head."""

import socket

import keras
import keras_cv
import numpy as np
import pytest

from keras_anc import models


@pytest.fixture
def no_network(monkeypatch):
    """Make every outgoing socket connection fail, so any download attempt raises."""

    def refuse(*args, **kwargs):
        raise OSError("network access attempted during a test that must run offline")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_network_guard_is_effective(no_network):
    with pytest.raises(OSError, match="offline"):
        socket.create_connection(("127.0.0.1", 9))
    with pytest.raises(OSError, match="offline"), socket.socket() as sock:
        sock.connect(("127.0.0.1", 9))


@pytest.mark.parametrize(
    "preset, backbone_cls",
    [
        ("resnet18", keras_cv.models.ResNetBackbone),
        ("resnet18_v2", keras_cv.models.ResNetV2Backbone),
        ("csp_darknet_tiny", keras_cv.models.CSPDarkNetBackbone),
        ("efficientnetv2_b0", keras_cv.models.EfficientNetV2Backbone),
    ],
)
def test_preset_architectures_match_keras_cv_parameter_counts(no_network, preset, backbone_cls):
    backbone = models.keras_cv_backbone(preset, input_shape=(32, 32, 3))
    assert isinstance(backbone, backbone_cls)
    assert backbone.count_params() == backbone_cls.presets[preset]["metadata"]["params"]


def test_mobilenet_v3_small_matches_keras_applications(no_network):
    backbone = models.keras_cv_backbone("mobilenet_v3_small", input_shape=(32, 32, 3))
    reference = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), include_top=False, weights=None, include_preprocessing=False
    )
    assert backbone.count_params() == reference.count_params()


def test_classifier_from_preset_builds_and_runs_offline(no_network):
    model = models.keras_cv_classifier("resnet18", input_shape=(32, 32, 3), num_classes=5)
    assert model.name == "kerascv_resnet18"
    assert model.get_layer("features").output.shape == (None, 512)
    logits = model(np.random.default_rng(0).uniform(size=(2, 32, 32, 3)), training=False)
    assert logits.shape == (2, 5)
    # Backbone (11,186,112 in KerasCV's preset table) + the 512 x 5 head.
    assert model.count_params() == 11_186_112 + 512 * 5 + 5


def test_classifier_wraps_a_backbone_instance_with_unknown_spatial_size():
    backbone = keras_cv.models.ResNetBackbone(
        stackwise_filters=[64, 32],
        stackwise_blocks=[1, 1],
        stackwise_strides=[1, 2],
        include_rescaling=False,
        block_type="basic_block",
        input_shape=(None, None, 3),
    )
    model = models.keras_cv_classifier(backbone, input_shape=(32, 32, 3), num_classes=3)
    assert model.name == f"{backbone.name}_cls"
    assert model(np.zeros((2, 32, 32, 3), "float32")).shape == (2, 3)
    # MACs are traced at the wrapper's concrete input size even though the backbone has none.
    same_backbone_fixed_size = keras_cv.models.ResNetBackbone(
        stackwise_filters=[64, 32],
        stackwise_blocks=[1, 1],
        stackwise_strides=[1, 2],
        include_rescaling=False,
        block_type="basic_block",
        input_shape=(32, 32, 3),
    )
    assert models.macs(model) == models.macs(same_backbone_fixed_size) + 32 * 3 > 0


def test_classifier_accepts_a_headless_keras_applications_model():
    backbone = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), include_top=False, weights=None, include_preprocessing=False
    )
    model = models.keras_cv_classifier(backbone, input_shape=(32, 32, 3), num_classes=4)
    assert model(np.zeros((1, 32, 32, 3), "float32")).shape == (1, 4)


def test_classifier_rejects_bad_backbones():
    with pytest.raises(ValueError, match="Did you mean 'resnet18'"):
        models.keras_cv_classifier("resnet_18")
    with pytest.raises(ValueError, match="preset name .* or a `keras.Model`"):
        models.keras_cv_classifier(42)
    pooled_inputs = keras.Input((32, 32, 3))
    pooled_outputs = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(pooled_inputs))
    pooled = keras.Model(pooled_inputs, pooled_outputs)
    with pytest.raises(ValueError, match="4D feature map"):
        models.keras_cv_classifier(pooled)


def test_weight_decay_reaches_backbone_kernels():
    model = models.get_model("kerascv_mobilenet_v3_small", num_classes=3, weight_decay=1e-4)
    kernels = [
        w
        for w in model.trainable_weights
        if w.path.split("/")[-1] in ("kernel", "depthwise_kernel", "pointwise_kernel")
    ]
    assert len(model.losses) == len(kernels) > 20


def test_classifier_round_trips_through_a_keras_file(tmp_path, no_network):
    model = models.get_model("kerascv_resnet18", num_classes=3)
    path = tmp_path / "kerascv.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    x = np.random.default_rng(2).uniform(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
        atol=1e-5,
    )
