"""CIFAR-style residual networks (He et al., 2016): resnet8 ... resnet164."""

import keras
from keras import ops

from keras_anc.models._common import (
    batch_norm,
    conv2d,
    pooled_head,
    validate_image_shape,
    validate_num_classes,
)


@keras.saving.register_keras_serializable(package="keras_anc")
class ZeroPadShortcut(keras.layers.Layer):
    """Parameter-free residual shortcut: spatial subsampling plus zero channel padding.

    This is shortcut "option A" of He et al. (2016): when a residual stage halves the resolution and
    widens the channels, the identity branch keeps every `strides`-th pixel and pads the extra
    channels with zeros (split evenly before and after the existing channels). It adds no
    parameters, which is why the CIFAR ResNets built with it match the published parameter counts
    exactly.

    Args:
        filters: int. Number of output channels; must be >= the number of input channels.
        strides: int. Spatial subsampling factor (1 keeps the resolution).
        **kwargs: standard `keras.layers.Layer` arguments such as `name`.

    Example:

    ```python
    x = keras.Input((32, 32, 16))
    y = ZeroPadShortcut(filters=32, strides=2)(x)  # shape (None, 16, 16, 32)
    ```

    Reference:
        - He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, Sec. 4.2.
    """

    def __init__(self, filters, strides=1, **kwargs):
        super().__init__(**kwargs)
        if int(filters) < 1 or int(strides) < 1:
            raise ValueError(
                f"`filters` and `strides` must be positive integers, got filters={filters}, "
                f"strides={strides}."
            )
        self.filters = int(filters)
        self.strides = int(strides)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is not None and channels > self.filters:
            raise ValueError(
                f"ZeroPadShortcut can only widen the channels: the input has {channels} channels "
                f"but `filters={self.filters}`. Use a 1x1 convolution shortcut to narrow them."
            )

    def call(self, inputs):
        x = inputs
        if self.strides > 1:
            x = x[:, :: self.strides, :: self.strides, :]
        extra = self.filters - x.shape[-1]
        if extra:
            before = extra // 2
            x = ops.pad(x, [[0, 0], [0, 0], [0, 0], [before, extra - before]])
        return x

    def compute_output_shape(self, input_shape):
        def reduce(size):
            return None if size is None else -(-size // self.strides)

        return (input_shape[0], reduce(input_shape[1]), reduce(input_shape[2]), self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "strides": self.strides})
        return config


_SHORTCUTS = ("zero_pad", "projection")
_BLOCKS = {"basic": 6, "bottleneck": 9}


def _shortcut(x, filters, strides, kind, weight_decay, prefix):
    if strides == 1 and x.shape[-1] == filters:
        return x
    if kind == "zero_pad":
        return ZeroPadShortcut(filters, strides, name=f"{prefix}_shortcut")(x)
    x = conv2d(filters, 1, strides, weight_decay, name=f"{prefix}_shortcut_conv")(x)
    return batch_norm(name=f"{prefix}_shortcut_bn")(x)


def _basic_block(x, filters, strides, shortcut, weight_decay, prefix):
    residual = _shortcut(x, filters, strides, shortcut, weight_decay, prefix)
    x = conv2d(filters, 3, strides, weight_decay, name=f"{prefix}_conv1")(x)
    x = batch_norm(name=f"{prefix}_bn1")(x)
    x = keras.layers.ReLU(name=f"{prefix}_relu1")(x)
    x = conv2d(filters, 3, 1, weight_decay, name=f"{prefix}_conv2")(x)
    x = batch_norm(name=f"{prefix}_bn2")(x)
    x = keras.layers.Add(name=f"{prefix}_add")([x, residual])
    return keras.layers.ReLU(name=f"{prefix}_out")(x)


def _bottleneck_block(x, filters, strides, shortcut, weight_decay, prefix):
    out_filters = 4 * filters
    residual = _shortcut(x, out_filters, strides, shortcut, weight_decay, prefix)
    x = conv2d(filters, 1, 1, weight_decay, name=f"{prefix}_conv1")(x)
    x = batch_norm(name=f"{prefix}_bn1")(x)
    x = keras.layers.ReLU(name=f"{prefix}_relu1")(x)
    x = conv2d(filters, 3, strides, weight_decay, name=f"{prefix}_conv2")(x)
    x = batch_norm(name=f"{prefix}_bn2")(x)
    x = keras.layers.ReLU(name=f"{prefix}_relu2")(x)
    x = conv2d(out_filters, 1, 1, weight_decay, name=f"{prefix}_conv3")(x)
    x = batch_norm(name=f"{prefix}_bn3")(x)
    x = keras.layers.Add(name=f"{prefix}_add")([x, residual])
    return keras.layers.ReLU(name=f"{prefix}_out")(x)


def cifar_resnet(
    depth,
    input_shape=(32, 32, 3),
    num_classes=10,
    block="basic",
    stem_filters=16,
    stage_filters=(16, 32, 64),
    shortcut=None,
    weight_decay=None,
    name=None,
):
    """Build a CIFAR-style ResNet of a given depth as a functional model that outputs logits.

    The network is a 3x3 stem convolution, three residual stages (the 2nd and 3rd halve the
    resolution), global average pooling (layer "features") and a linear classifier (layer
    "logits"). Blocks are the original post-activation ones (conv-BN-ReLU). The output of block
    `j` of stage `i` is the layer `f"stage{i}_block{j}_out"`, handy for feature-based distillation.

    Args:
        depth: int. Total number of weighted layers: `6n + 2` for basic blocks (8, 14, 20, 32,
            44, 56, 110, ...) and `9n + 2` for bottleneck blocks (164, ...).
        input_shape: tuple `(height, width, channels)`, channels_last.
        num_classes: int. Width of the logits.
        block: `"basic"` (two 3x3 convs) or `"bottleneck"` (1x1-3x3-1x1 with 4x expansion).
        stem_filters: int. Channels of the stem convolution.
        stage_filters: ints, channels of each stage; every stage after the first halves the
            resolution (bottleneck blocks output four times as many channels).
        shortcut: `"zero_pad"` (option A of He et al.: parameter-free subsample and zero-pad, see
            `ZeroPadShortcut`) or `"projection"` (1x1 convolution + BN, option B). Shortcuts are
            only needed where the shape changes; elsewhere they are the identity. Defaults to
            `"zero_pad"` for basic blocks and `"projection"` for bottleneck blocks.
        weight_decay: optional float, L2 coefficient put on every conv/dense kernel as a
            `keras.regularizers.L2` (it adds `weight_decay * sum(w**2)` to the loss).
        name: optional model name; defaults to `f"resnet{depth}"`.

    Returns:
        A functional `keras.Model` mapping images to unnormalised logits.

    Example:

    ```python
    model = cifar_resnet(20)  # same as resnet20()
    model.count_params()  # 271098 (269722 trainable)
    ```

    Reference:
        - He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
        - He et al., "Identity Mappings in Deep Residual Networks", ECCV 2016 (ResNet-164).
    """
    if block not in _BLOCKS:
        raise ValueError(
            f"`block` must be one of {sorted(_BLOCKS)}, got {block!r}. Use 'basic' for "
            "resnet8-110 and 'bottleneck' for resnet164."
        )
    if shortcut is None:
        shortcut = "zero_pad" if block == "basic" else "projection"
    if shortcut not in _SHORTCUTS:
        raise ValueError(f"`shortcut` must be one of {list(_SHORTCUTS)}, got {shortcut!r}.")
    per_block = _BLOCKS[block]
    if not isinstance(depth, int) or depth < per_block + 2 or (depth - 2) % per_block:
        examples = "8, 14, 20, 32, 44, 56, 110" if block == "basic" else "164, 1001 (or 11, 20)"
        raise ValueError(
            f"With {block} blocks `depth` must be {per_block}n + 2 for an integer n >= 1 "
            f"(e.g. {examples}), got depth={depth!r}."
        )
    stage_filters = tuple(int(f) for f in stage_filters)
    if not stage_filters:
        raise ValueError("`stage_filters` must list at least one stage width, e.g. (16, 32, 64).")
    input_shape = validate_image_shape(input_shape, "cifar_resnet")
    num_classes = validate_num_classes(num_classes)
    blocks_per_stage = (depth - 2) // per_block
    block_fn = _basic_block if block == "basic" else _bottleneck_block

    inputs = keras.Input(shape=input_shape, name="images")
    x = conv2d(stem_filters, 3, 1, weight_decay, name="stem_conv")(inputs)
    x = batch_norm(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for stage, filters in enumerate(stage_filters, start=1):
        for index in range(1, blocks_per_stage + 1):
            strides = 2 if stage > 1 and index == 1 else 1
            prefix = f"stage{stage}_block{index}"
            x = block_fn(x, filters, strides, shortcut, weight_decay, prefix)
    outputs = pooled_head(x, num_classes, weight_decay)
    return keras.Model(inputs, outputs, name=name or f"resnet{depth}")


def _named_doc(depth, params):
    return (
        f"CIFAR ResNet-{depth} (basic blocks, zero-pad shortcuts, {params} parameters at 10 "
        "classes).\n\n    Args:\n        input_shape: tuple `(height, width, channels)`.\n"
        "        num_classes: int. Width of the logits.\n        weight_decay: optional L2 "
        "coefficient for the kernels.\n        name: optional model name.\n\n    Example:\n\n"
        f"    ```python\n    model = resnet{depth}(input_shape=(32, 32, 3), num_classes=10)\n"
        '    ```\n\n    Reference:\n        - He et al., "Deep Residual Learning for Image '
        'Recognition", CVPR 2016.\n    '
    )


def resnet8(input_shape=(32, 32, 3), num_classes=10, weight_decay=None, name=None):
    return cifar_resnet(8, input_shape, num_classes, weight_decay=weight_decay, name=name)


def resnet14(input_shape=(32, 32, 3), num_classes=10, weight_decay=None, name=None):
    return cifar_resnet(14, input_shape, num_classes, weight_decay=weight_decay, name=name)


def resnet20(input_shape=(32, 32, 3), num_classes=10, weight_decay=None, name=None):
    return cifar_resnet(20, input_shape, num_classes, weight_decay=weight_decay, name=name)


def resnet32(input_shape=(32, 32, 3), num_classes=10, weight_decay=None, name=None):
    return cifar_resnet(32, input_shape, num_classes, weight_decay=weight_decay, name=name)


def resnet44(input_shape=(32, 32, 3), num_classes=10, weight_decay=None, name=None):
    return cifar_resnet(44, input_shape, num_classes, weight_decay=weight_decay, name=name)


def resnet56(input_shape=(32, 32, 3), num_classes=10, weight_decay=None, name=None):
    return cifar_resnet(56, input_shape, num_classes, weight_decay=weight_decay, name=name)


def resnet110(input_shape=(32, 32, 3), num_classes=10, weight_decay=None, name=None):
    return cifar_resnet(110, input_shape, num_classes, weight_decay=weight_decay, name=name)


for _fn, _params in (
    (resnet8, "76k"),
    (resnet14, "0.17M"),
    (resnet20, "0.27M"),
    (resnet32, "0.46M"),
    (resnet44, "0.66M"),
    (resnet56, "0.85M"),
    (resnet110, "1.7M"),
):
    _fn.__doc__ = _named_doc(int(_fn.__name__[len("resnet") :]), _params)
del _fn, _params


def resnet164(input_shape=(32, 32, 3), num_classes=10, weight_decay=None, name=None):
    """CIFAR ResNet-164 with bottleneck blocks (1.7M parameters at 10 classes).

    Post-activation bottleneck blocks (1x1-3x3-1x1, 4x expansion; stage outputs 64/128/256
    channels) with 1x1 projection shortcuts where the shape changes.

    Args:
        input_shape: tuple `(height, width, channels)`.
        num_classes: int. Width of the logits.
        weight_decay: optional L2 coefficient for the kernels.
        name: optional model name.

    Example:

    ```python
    model = resnet164(num_classes=100)
    ```

    Reference:
        - He et al., "Identity Mappings in Deep Residual Networks", ECCV 2016.
    """
    return cifar_resnet(
        164,
        input_shape,
        num_classes,
        block="bottleneck",
        shortcut="projection",
        weight_decay=weight_decay,
        name=name,
    )


def resnet8x4(input_shape=(32, 32, 3), num_classes=10, weight_decay=None, name=None):
    """ResNet-8 with 4x wider stages (32/64/128/256), a common distillation student.

    Uses a 32-channel stem, stages of 64/128/256 channels and 1x1 projection shortcuts, the
    layout used by the CRD/RepDistiller benchmark ("resnet8x4").

    Args:
        input_shape: tuple `(height, width, channels)`.
        num_classes: int. Width of the logits.
        weight_decay: optional L2 coefficient for the kernels.
        name: optional model name.

    Example:

    ```python
    student = resnet8x4(num_classes=100)
    ```

    Reference:
        - Tian et al., "Contrastive Representation Distillation", ICLR 2020.
    """
    return cifar_resnet(
        8,
        input_shape,
        num_classes,
        stem_filters=32,
        stage_filters=(64, 128, 256),
        shortcut="projection",
        weight_decay=weight_decay,
        name=name or "resnet8x4",
    )


def resnet32x4(input_shape=(32, 32, 3), num_classes=10, weight_decay=None, name=None):
    """ResNet-32 with 4x wider stages (32/64/128/256), a common distillation teacher.

    Uses a 32-channel stem, stages of 64/128/256 channels and 1x1 projection shortcuts, the
    layout used by the CRD/RepDistiller benchmark ("resnet32x4", about 7.4M parameters).

    Args:
        input_shape: tuple `(height, width, channels)`.
        num_classes: int. Width of the logits.
        weight_decay: optional L2 coefficient for the kernels.
        name: optional model name.

    Example:

    ```python
    teacher = resnet32x4(num_classes=100)
    ```

    Reference:
        - Tian et al., "Contrastive Representation Distillation", ICLR 2020.
    """
    return cifar_resnet(
        32,
        input_shape,
        num_classes,
        stem_filters=32,
        stage_filters=(64, 128, 256),
        shortcut="projection",
        weight_decay=weight_decay,
        name=name or "resnet32x4",
    )
