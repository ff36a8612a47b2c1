"""Tests of the model registry (`get_model`, `available_models`, `register_model`) and tables."""

import functools

import pytest

from keras_anc import models
from keras_anc.models import registry

BRIEF_NAMES = [
    "resnet8",
    "resnet14",
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
    "resnet164",
    "wrn_16_1",
    "wrn_16_2",
    "wrn_40_1",
    "wrn_40_2",
    "vgg8",
    "vgg11",
    "vgg13",
    "lenet5",
    "lenet5_half",
    "lenet5_wide",
    "lenet_tiny",
    "nin",
    "mlp",
    "kerascv_resnet18",
]


def test_available_models_is_sorted_and_complete():
    names = models.available_models()
    assert names == sorted(names)
    assert set(BRIEF_NAMES) <= set(names)


def test_unknown_name_suggests_closest_and_lists_valid_names():
    with pytest.raises(ValueError) as info:
        models.get_model("resnt20")
    message = str(info.value)
    assert "Unknown model name 'resnt20'" in message
    assert "Did you mean 'resnet20'?" in message
    for name in models.available_models():
        assert name in message


def test_unknown_name_without_close_match_still_lists_names():
    with pytest.raises(ValueError, match="Valid names: .*wrn_40_2") as info:
        models.get_model("transformer_xl_9000")
    assert "Did you mean" not in str(info.value)


def test_default_input_shapes_follow_the_dataset_family():
    assert models.default_input_shape("resnet20") == (32, 32, 3)
    assert models.default_input_shape("kerascv_resnet18") == (32, 32, 3)
    assert models.default_input_shape("lenet_tiny") == (28, 28, 1)
    assert tuple(models.get_model("lenet_tiny").inputs[0].shape) == (None, 28, 28, 1)
    with pytest.raises(ValueError, match="Did you mean 'lenet5'"):
        models.default_input_shape("lenet6")


def test_get_model_forwards_keyword_arguments():
    model = models.get_model(
        "mlp", input_shape=(20,), num_classes=4, hidden_units=(8,), weight_decay=1e-3, name="m"
    )
    assert model.name == "m"
    assert model.count_params() == 20 * 8 + 8 + 8 * 4 + 4
    assert len(model.losses) == 2
    with pytest.raises(TypeError):
        models.get_model("resnet8", no_such_argument=1)


def test_register_model_adds_a_builder(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    builder = functools.partial(models.mlp, hidden_units=(16,))
    assert models.register_model("mlp_16", builder, (12,)) is builder
    assert "mlp_16" in models.available_models()
    model = models.get_model("mlp_16", num_classes=3)
    assert model.get_layer("features").units == 16
    assert tuple(model.inputs[0].shape) == (None, 12)

    with pytest.raises(ValueError, match="already registered"):
        models.register_model("mlp_16", builder, (12,))
    with pytest.raises(ValueError, match="callable"):
        models.register_model("broken", "not a builder", (12,))
    with pytest.raises(ValueError, match="non-empty string"):
        models.register_model("", builder, (12,))


def test_summary_table_reports_parameters_and_macs():
    rows = models.summary_table(["resnet20", "lenet_tiny"])
    assert [row["name"] for row in rows] == ["resnet20", "lenet_tiny"]
    resnet20, lenet_tiny = rows
    assert resnet20["params"] == models.resnet20().count_params()
    assert resnet20["input_shape"] == (32, 32, 3)
    assert resnet20["macs"] == models.macs(models.resnet20())
    assert lenet_tiny["params"] < resnet20["params"]

    text = models.format_summary_table(rows)
    lines = text.splitlines()
    assert len(lines) == 3 and lines[0].split() == ["model", "input", "params", "MACs"]
    assert lines[1].split()[:3] == ["resnet20", "32x32x3", f"{resnet20['params']:,}"]
