"""VGG-style CIFAR networks with BatchNorm (vgg8, vgg11, vgg13)."""

import keras

from keras_anc.models._common import (
    batch_norm,
    conv2d,
    pooled_head,
    validate_image_shape,
    validate_num_classes,
)

# Channels of the 3x3 convolutions in each of the five blocks.
VGG_CONFIGS = {
    8: ((64,), (128,), (256,), (512,), (512,)),
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    19: (
        (64, 64),
        (128, 128),
        (256, 256, 256, 256),
        (512, 512, 512, 512),
        (512, 512, 512, 512),
    ),
}


def vgg(depth, input_shape=(32, 32, 3), num_classes=10, weight_decay=None, name=None):
    """Build a CIFAR VGG with BatchNorm as a functional model that outputs logits.

    Five blocks of conv3x3-BN-ReLU layers. 2x2 max pooling follows blocks 1-3 (and block 4 for
    inputs of 64 pixels or more), so a 32x32 input reaches the last two blocks at 4x4. Global
    average pooling (layer "features", 512 wide) and one linear layer (layer "logits") finish the
    network, as in the VGG variants of the CRD/RepDistiller distillation benchmark. The last
    activation of block `i` is the layer `f"block{i}_out"`. Convolutions carry no bias (BatchNorm
    follows each one).

    Args:
        depth: int, one of 8, 11, 13, 16, 19 (number of weighted layers in the original VGG
            naming; vgg8 is the one-conv-per-block student of the CRD benchmark).
        input_shape: tuple `(height, width, channels)` with height and width >= 16.
        num_classes: int. Width of the logits.
        weight_decay: optional float, L2 coefficient on every conv/dense kernel.
        name: optional model name; defaults to `f"vgg{depth}"`.

    Returns:
        A functional `keras.Model` mapping images to unnormalised logits.

    Example:

    ```python
    student = vgg(8, num_classes=100)  # same as vgg8(num_classes=100)
    ```

    Reference:
        - Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
          Recognition", ICLR 2015.
        - Tian et al., "Contrastive Representation Distillation", ICLR 2020.
    """
    if depth not in VGG_CONFIGS:
        raise ValueError(f"`depth` must be one of {sorted(VGG_CONFIGS)}, got {depth!r}.")
    input_shape = validate_image_shape(input_shape, "vgg", min_size=16)
    num_classes = validate_num_classes(num_classes)
    pool_after = {1, 2, 3} | ({4} if min(input_shape[:2]) >= 64 else set())

    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    for block, widths in enumerate(VGG_CONFIGS[depth], start=1):
        for index, filters in enumerate(widths, start=1):
            x = conv2d(filters, 3, 1, weight_decay, name=f"block{block}_conv{index}")(x)
            x = batch_norm(name=f"block{block}_bn{index}")(x)
            last = index == len(widths)
            relu_name = f"block{block}_out" if last else f"block{block}_relu{index}"
            x = keras.layers.ReLU(name=relu_name)(x)
        if block in pool_after:
            x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    outputs = pooled_head(x, num_classes, weight_decay)
    return keras.Model(inputs, outputs, name=name or f"vgg{depth}")


def vgg8(input_shape=(32, 32, 3), num_classes=10, weight_decay=None, name=None):
    """VGG-8 with BatchNorm (one 3x3 conv per block); see `vgg`.

    Args:
        input_shape: tuple `(height, width, channels)`.
        num_classes: int. Width of the logits.
        weight_decay: optional L2 coefficient for the kernels.
        name: optional model name.

    Example:

    ```python
    student = vgg8(num_classes=100)
    ```
    """
    return vgg(8, input_shape, num_classes, weight_decay, name)


def vgg11(input_shape=(32, 32, 3), num_classes=10, weight_decay=None, name=None):
    """VGG-11 with BatchNorm (configuration "A"); see `vgg`.

    Args:
        input_shape: tuple `(height, width, channels)`.
        num_classes: int. Width of the logits.
        weight_decay: optional L2 coefficient for the kernels.
        name: optional model name.

    Example:

    ```python
    model = vgg11(num_classes=100)
    ```
    """
    return vgg(11, input_shape, num_classes, weight_decay, name)


def vgg13(input_shape=(32, 32, 3), num_classes=10, weight_decay=None, name=None):
    """VGG-13 with BatchNorm (configuration "B"), a common CIFAR teacher; see `vgg`.

    Args:
        input_shape: tuple `(height, width, channels)`.
        num_classes: int. Width of the logits.
        weight_decay: optional L2 coefficient for the kernels.
        name: optional model name.

    Example:

    ```python
    teacher = vgg13(num_classes=100)
    ```
    """
    return vgg(13, input_shape, num_classes, weight_decay, name)
