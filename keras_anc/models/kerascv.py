"""Wrap a KerasCV backbone into a logits classifier usable as teacher or student."""

import keras

from keras_anc.models._common import (
    dense,
    l2_regularizer,
    validate_image_shape,
    validate_num_classes,
)

_HARD_SWISH = "hard_swish"

# Architectures of the KerasCV backbone presets, spelled out so that they build offline: KerasCV's
# own `from_preset` / `ResNet18Backbone()` aliases download a config from Kaggle even when no
# weights are wanted. Values are the published architectures; the resnet, densenet, csp_darknet
# and efficientnetv2 entries give exactly the parameter counts KerasCV lists for its presets and
# the mobilenet ones those of `keras.applications.MobileNetV3*(include_top=False)`.
KERAS_CV_BACKBONES = {
    "resnet18": (
        "ResNetBackbone",
        {
            "stackwise_filters": [64, 128, 256, 512],
            "stackwise_blocks": [2, 2, 2, 2],
            "stackwise_strides": [1, 2, 2, 2],
            "block_type": "basic_block",
        },
    ),
    "resnet34": (
        "ResNetBackbone",
        {
            "stackwise_filters": [64, 128, 256, 512],
            "stackwise_blocks": [3, 4, 6, 3],
            "stackwise_strides": [1, 2, 2, 2],
            "block_type": "basic_block",
        },
    ),
    "resnet50": (
        "ResNetBackbone",
        {
            "stackwise_filters": [64, 128, 256, 512],
            "stackwise_blocks": [3, 4, 6, 3],
            "stackwise_strides": [1, 2, 2, 2],
            "block_type": "block",
        },
    ),
    "resnet18_v2": (
        "ResNetV2Backbone",
        {
            "stackwise_filters": [64, 128, 256, 512],
            "stackwise_blocks": [2, 2, 2, 2],
            "stackwise_strides": [1, 2, 2, 2],
            "block_type": "basic_block",
        },
    ),
    "resnet50_v2": (
        "ResNetV2Backbone",
        {
            "stackwise_filters": [64, 128, 256, 512],
            "stackwise_blocks": [3, 4, 6, 3],
            "stackwise_strides": [1, 2, 2, 2],
            "block_type": "block",
        },
    ),
    "mobilenet_v3_small": (
        "MobileNetV3Backbone",
        {
            "stackwise_expansion": [1, 72.0 / 16, 88.0 / 24, 4, 6, 6, 3, 3, 6, 6, 6],
            "stackwise_filters": [16, 24, 24, 40, 40, 40, 48, 48, 96, 96, 96],
            "stackwise_kernel_size": [3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5],
            "stackwise_stride": [2, 2, 1, 2, 1, 1, 1, 1, 2, 1, 1],
            "stackwise_se_ratio": [0.25, None, None] + [0.25] * 8,
            "stackwise_activation": ["relu"] * 3 + [_HARD_SWISH] * 8,
        },
    ),
    "mobilenet_v3_large": (
        "MobileNetV3Backbone",
        {
            "stackwise_expansion": [1, 4, 3, 3, 3, 3, 6, 2.5, 2.3, 2.3, 6, 6, 6, 6, 6],
            "stackwise_filters": [16, 24, 24, 40, 40, 40, 80, 80, 80, 80, 112, 112, 160, 160, 160],
            "stackwise_kernel_size": [3, 3, 3, 5, 5, 5, 3, 3, 3, 3, 3, 3, 5, 5, 5],
            "stackwise_stride": [1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1],
            "stackwise_se_ratio": [None] * 3 + [0.25] * 3 + [None] * 4 + [0.25] * 5,
            "stackwise_activation": ["relu"] * 6 + [_HARD_SWISH] * 9,
        },
    ),
    "efficientnetv2_b0": (
        "EfficientNetV2Backbone",
        {
            "width_coefficient": 1.0,
            "depth_coefficient": 1.0,
            "stackwise_kernel_sizes": [3, 3, 3, 3, 3, 3],
            "stackwise_num_repeats": [1, 2, 2, 3, 5, 8],
            "stackwise_input_filters": [32, 16, 32, 48, 96, 112],
            "stackwise_output_filters": [16, 32, 48, 96, 112, 192],
            "stackwise_expansion_ratios": [1, 4, 4, 4, 6, 6],
            "stackwise_squeeze_and_excite_ratios": [0, 0, 0, 0.25, 0.25, 0.25],
            "stackwise_strides": [1, 2, 2, 2, 1, 2],
            "stackwise_conv_types": ["fused"] * 3 + ["unfused"] * 3,
        },
    ),
    "densenet121": ("DenseNetBackbone", {"stackwise_num_repeats": [6, 12, 24, 16]}),
    "csp_darknet_tiny": (
        "CSPDarkNetBackbone",
        {"stackwise_channels": [48, 96, 192, 384], "stackwise_depth": [1, 3, 3, 1]},
    ),
}


def keras_cv_backbone(preset, input_shape=(32, 32, 3), include_rescaling=False):
    """Build a randomly initialised KerasCV backbone for a preset name, without any download.

    Args:
        preset: str, one of `sorted(KERAS_CV_BACKBONES)` (KerasCV preset names without the
            `_imagenet` weights suffix, e.g. `"resnet18"`, `"mobilenet_v3_small"`).
        input_shape: tuple `(height, width, channels)`.
        include_rescaling: bool. Whether the backbone rescales 0-255 pixels to 0-1 itself.

    Returns:
        A `keras_cv.models.Backbone` (a functional model) with random weights.

    Example:

    ```python
    backbone = keras_cv_backbone("resnet18", input_shape=(32, 32, 3))
    ```
    """
    if preset not in KERAS_CV_BACKBONES:
        import difflib

        close = difflib.get_close_matches(str(preset), KERAS_CV_BACKBONES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown KerasCV backbone preset {preset!r}.{hint} Available (built offline, "
            f"random weights): {sorted(KERAS_CV_BACKBONES)}. Or pass a `keras.Model` backbone."
        )
    import keras_cv

    class_name, config = KERAS_CV_BACKBONES[preset]
    backbone_cls = getattr(keras_cv.models, class_name)
    return backbone_cls(
        include_rescaling=include_rescaling,
        input_shape=tuple(input_shape),
        name=f"{preset}_backbone",
        **config,
    )


# (variable attribute, regularizer attribute) pairs of the Keras layers that hold kernels.
_KERNEL_REGULARIZERS = (
    ("kernel", "kernel_regularizer"),  # Conv*D, Dense
    ("kernel", "depthwise_regularizer"),  # DepthwiseConv*D
    ("depthwise_kernel", "depthwise_regularizer"),  # SeparableConv*D
    ("pointwise_kernel", "pointwise_regularizer"),  # SeparableConv*D
)


def _add_weight_decay(model, weight_decay):
    """Set an L2 regularizer on every kernel of `model`'s (nested) layers and their variables."""
    regularizer = l2_regularizer(weight_decay)
    if regularizer is None:
        return
    for layer in model._flatten_layers(include_self=False, recursive=True):
        for variable_attr, regularizer_attr in _KERNEL_REGULARIZERS:
            variable = getattr(layer, variable_attr, None)
            if isinstance(variable, keras.Variable) and hasattr(layer, regularizer_attr):
                setattr(layer, regularizer_attr, regularizer)
                variable.regularizer = regularizer


def keras_cv_classifier(
    backbone,
    input_shape=(32, 32, 3),
    num_classes=10,
    include_rescaling=False,
    weight_decay=None,
    name=None,
):
    """Put a global-average-pooling + Dense head on a KerasCV (or any conv) backbone.

    The result is a functional model `images -> backbone -> GlobalAveragePooling2D ("features")
    -> Dense ("logits")`, so it can serve as teacher or student exactly like the rest of the zoo.
    Preset backbones are built from their architecture with random weights; nothing is
    downloaded.

    Args:
        backbone: a preset name from `KERAS_CV_BACKBONES` (e.g. `"resnet18"`,
            `"mobilenet_v3_small"`, `"efficientnetv2_b0"`) or a `keras.Model` mapping images to a
            4D feature map (e.g. any `keras_cv.models.Backbone` or a headless
            `keras.applications` model).
        input_shape: tuple `(height, width, channels)`.
        num_classes: int. Width of the logits.
        include_rescaling: bool, preset backbones only. Whether the backbone divides inputs by
            255 itself; keep `False` when the data pipeline already scales images.
        weight_decay: optional float. L2 on every kernel of the head and the backbone (set on the
            layers and their variables). A preset backbone is rebuilt from its architecture when
            a saved model is loaded, so the backbone's L2 terms are not restored then; prefer the
            optimizer's `weight_decay` for models you save and resume.
        name: optional model name; defaults to `f"kerascv_{preset}"` or `f"{backbone.name}_cls"`.

    Returns:
        A functional `keras.Model` mapping images to unnormalised logits.

    Example:

    ```python
    student = keras_cv_classifier("mobilenet_v3_small", input_shape=(32, 32, 3), num_classes=10)
    ```

    Reference:
        - KerasCV backbones, `keras_cv.models.Backbone`.
    """
    input_shape = validate_image_shape(input_shape, "keras_cv_classifier")
    num_classes = validate_num_classes(num_classes)
    if isinstance(backbone, str):
        default_name = f"kerascv_{backbone}"
        backbone = keras_cv_backbone(backbone, input_shape, include_rescaling)
    elif isinstance(backbone, keras.Model):
        default_name = f"{backbone.name}_cls"
    else:
        raise ValueError(
            f"`backbone` must be a preset name such as 'resnet18' or a `keras.Model`, got "
            f"{type(backbone).__name__}. Presets: {sorted(KERAS_CV_BACKBONES)}."
        )
    inputs = keras.Input(shape=input_shape, name="images")
    x = backbone(inputs)
    if len(x.shape) != 4:
        raise ValueError(
            f"The backbone must output a 4D feature map (batch, height, width, channels), got "
            f"shape {x.shape}. Pass a headless backbone (no pooling, no classifier)."
        )
    _add_weight_decay(backbone, weight_decay)
    x = keras.layers.GlobalAveragePooling2D(name="features")(x)
    outputs = dense(num_classes, weight_decay, name="logits")(x)
    return keras.Model(inputs, outputs, name=name or default_name)
