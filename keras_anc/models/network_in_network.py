"""Network-in-Network for CIFAR (Lin et al., 2014)."""

import keras

from keras_anc.models._common import (
    batch_norm,
    conv2d,
    pooled_head,
    validate_image_shape,
    validate_num_classes,
)

# (kernel size, filters) of the three convolutions of each mlpconv block.
_NIN_BLOCKS = (
    ((5, 192), (1, 160), (1, 96)),
    ((5, 192), (1, 192), (1, 192)),
    ((3, 192), (1, 192), (1, 192)),
)


def nin(
    input_shape=(32, 32, 3),
    num_classes=10,
    batch_norm_layers=True,
    dropout_rate=0.5,
    weight_decay=None,
    name=None,
):
    """Build the CIFAR Network-in-Network as a functional model that outputs logits.

    Three "mlpconv" blocks, each a spatial convolution followed by two 1x1 convolutions (ReLU
    after each). Block 1 ends with 3x3/2 max pooling, block 2 with 3x3/2 average pooling, both
    followed by dropout. Unlike the paper, whose last 1x1 convolution emits one map per class
    that is averaged straight into the scores, the last 1x1 convolution here keeps 192 channels,
    global average pooling makes the 192-wide "features" vector and a Dense layer named
    "logits" classifies it (so every zoo model exposes the same two layers; this adds about 1.9k
    parameters for 10 classes). The last activation of block `i` is the layer `f"block{i}_out"`.

    Args:
        input_shape: tuple `(height, width, channels)` with height and width >= 8.
        num_classes: int. Width of the logits.
        batch_norm_layers: bool. Put BatchNorm after each convolution (default), which makes the
            network train reliably with today's optimisers; `False` gives the original layout.
        dropout_rate: float in [0, 1). Dropout after the first two blocks (0.5 in the paper).
        weight_decay: optional float, L2 coefficient on every conv/dense kernel.
        name: optional model name; defaults to `"nin"`.

    Returns:
        A functional `keras.Model` mapping images to unnormalised logits.

    Example:

    ```python
    teacher = nin(num_classes=10)
    ```

    Reference:
        - Lin, Chen & Yan, "Network In Network", ICLR 2014.
    """
    input_shape = validate_image_shape(input_shape, "nin", min_size=8)
    num_classes = validate_num_classes(num_classes)
    if not 0.0 <= float(dropout_rate) < 1.0:
        raise ValueError(f"`dropout_rate` must be in [0, 1), got {dropout_rate!r}.")

    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    for block, convs in enumerate(_NIN_BLOCKS, start=1):
        for index, (kernel, filters) in enumerate(convs, start=1):
            x = conv2d(
                filters,
                kernel,
                1,
                weight_decay,
                name=f"block{block}_conv{index}",
                use_bias=not batch_norm_layers,
            )(x)
            if batch_norm_layers:
                x = batch_norm(name=f"block{block}_bn{index}")(x)
            last = index == len(convs)
            relu_name = f"block{block}_out" if last else f"block{block}_relu{index}"
            x = keras.layers.ReLU(name=relu_name)(x)
        if block == 1:
            x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="block1_pool")(x)
        elif block == 2:
            x = keras.layers.AveragePooling2D(3, strides=2, padding="same", name="block2_pool")(x)
        if block < 3 and dropout_rate:
            x = keras.layers.Dropout(dropout_rate, name=f"block{block}_dropout")(x)
    outputs = pooled_head(x, num_classes, weight_decay)
    return keras.Model(inputs, outputs, name=name or "nin")
