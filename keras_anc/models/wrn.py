"""Wide residual networks WRN-d-k (Zagoruyko & Komodakis, 2016)."""

import keras

from keras_anc.models._common import (
    batch_norm,
    conv2d,
    dense,
    validate_image_shape,
    validate_num_classes,
)


def _wide_block(x, filters, strides, dropout_rate, weight_decay, prefix):
    """Pre-activation block: BN-ReLU-conv3x3-BN-ReLU-(dropout)-conv3x3 plus a shortcut."""
    preact = batch_norm(name=f"{prefix}_bn1")(x)
    preact = keras.layers.ReLU(name=f"{prefix}_relu1")(preact)
    if strides == 1 and x.shape[-1] == filters:
        residual = x
    else:
        # The projection reads the pre-activated input, as in the authors' implementation.
        residual = conv2d(filters, 1, strides, weight_decay, name=f"{prefix}_shortcut_conv")(preact)
    y = conv2d(filters, 3, strides, weight_decay, name=f"{prefix}_conv1")(preact)
    y = batch_norm(name=f"{prefix}_bn2")(y)
    y = keras.layers.ReLU(name=f"{prefix}_relu2")(y)
    if dropout_rate:
        y = keras.layers.Dropout(dropout_rate, name=f"{prefix}_dropout")(y)
    y = conv2d(filters, 3, 1, weight_decay, name=f"{prefix}_conv2")(y)
    return keras.layers.Add(name=f"{prefix}_out")([y, residual])


def wide_resnet(
    depth,
    width,
    input_shape=(32, 32, 3),
    num_classes=10,
    dropout_rate=0.0,
    weight_decay=None,
    name=None,
):
    """Build a wide ResNet WRN-`depth`-`width` as a functional model that outputs logits.

    A 3x3 stem with 16 channels, three stages of `(depth - 4) / 6` pre-activation basic blocks
    with `16 * width`, `32 * width` and `64 * width` channels (the 2nd and 3rd stage halve the
    resolution), a final BN-ReLU, global average pooling (layer "features") and a linear
    classifier (layer "logits"). Shortcuts are 1x1 convolutions where the shape changes.
    The output of block `j` of stage `i` is the layer `f"stage{i}_block{j}_out"`.

    Args:
        depth: int. `6n + 4` for an integer n >= 1 (10, 16, 22, 28, 40, ...).
        width: int. Widening factor k >= 1.
        input_shape: tuple `(height, width, channels)`, channels_last.
        num_classes: int. Width of the logits.
        dropout_rate: float in [0, 1). Dropout between the two convolutions of each block.
        weight_decay: optional float, L2 coefficient on every conv/dense kernel.
        name: optional model name; defaults to `f"wrn_{depth}_{width}"`.

    Returns:
        A functional `keras.Model` mapping images to unnormalised logits.

    Example:

    ```python
    teacher = wide_resnet(40, 2, num_classes=100)  # same as wrn_40_2(num_classes=100)
    ```

    Reference:
        - Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016.
    """
    if not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
        raise ValueError(
            f"`depth` must be 6n + 4 for an integer n >= 1 (10, 16, 22, 28, 40, ...), "
            f"got {depth!r}."
        )
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"`width` (the widening factor k) must be an integer >= 1, got {width!r}.")
    if not 0.0 <= float(dropout_rate) < 1.0:
        raise ValueError(f"`dropout_rate` must be in [0, 1), got {dropout_rate!r}.")
    input_shape = validate_image_shape(input_shape, "wide_resnet")
    num_classes = validate_num_classes(num_classes)
    blocks_per_stage = (depth - 4) // 6

    inputs = keras.Input(shape=input_shape, name="images")
    x = conv2d(16, 3, 1, weight_decay, name="stem_conv")(inputs)
    for stage, filters in enumerate((16 * width, 32 * width, 64 * width), start=1):
        for index in range(1, blocks_per_stage + 1):
            strides = 2 if stage > 1 and index == 1 else 1
            prefix = f"stage{stage}_block{index}"
            x = _wide_block(x, filters, strides, dropout_rate, weight_decay, prefix)
    x = batch_norm(name="final_bn")(x)
    x = keras.layers.ReLU(name="final_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="features")(x)
    outputs = dense(num_classes, weight_decay, name="logits")(x)
    return keras.Model(inputs, outputs, name=name or f"wrn_{depth}_{width}")


def _make_named(depth, width):
    def builder(
        input_shape=(32, 32, 3), num_classes=10, dropout_rate=0.0, weight_decay=None, name=None
    ):
        return wide_resnet(
            depth,
            width,
            input_shape=input_shape,
            num_classes=num_classes,
            dropout_rate=dropout_rate,
            weight_decay=weight_decay,
            name=name,
        )

    builder.__name__ = builder.__qualname__ = f"wrn_{depth}_{width}"
    builder.__doc__ = (
        f"Wide ResNet WRN-{depth}-{width}; see `wide_resnet` for the layout.\n\n"
        "    Args:\n        input_shape: tuple `(height, width, channels)`.\n"
        "        num_classes: int. Width of the logits.\n"
        "        dropout_rate: float. Dropout inside each block.\n"
        "        weight_decay: optional L2 coefficient for the kernels.\n"
        "        name: optional model name.\n\n    Example:\n\n    ```python\n"
        f"    model = wrn_{depth}_{width}(num_classes=100)\n    ```\n\n    Reference:\n"
        '        - Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016.\n    '
    )
    return builder


wrn_16_1 = _make_named(16, 1)
wrn_16_2 = _make_named(16, 2)
wrn_40_1 = _make_named(40, 1)
wrn_40_2 = _make_named(40, 2)
