"""LeNet-5 and smaller LeNet variants for MNIST-like data."""

import keras

from keras_anc.models._common import (
    dense,
    l2_regularizer,
    validate_image_shape,
    validate_num_classes,
)


def lenet(
    input_shape=(28, 28, 1),
    num_classes=10,
    conv_filters=(6, 16),
    hidden_units=(120, 84),
    weight_decay=None,
    name=None,
):
    """Build a LeNet-style network (two 5x5 conv + 2x2 max-pool stages, then dense layers).

    For 28x28 inputs (MNIST) the first convolution uses "same" padding and for 32x32 inputs
    (the original LeNet-5 size, e.g. padded MNIST or CIFAR) it uses "valid" padding, so both
    reach the classic 5x5x16 map and the same parameter count (61,706 for LeNet-5 on one-channel
    input). Other sizes use "same" padding when smaller than 32 pixels. Activations are ReLU and
    pooling is max pooling (the modern form of the original tanh/subsampling network). The last
    hidden dense layer is named "features" (or the flattened map when `hidden_units` is empty) and
    the classifier "logits".

    Args:
        input_shape: tuple `(height, width, channels)` with height and width >= 12.
        num_classes: int. Width of the logits.
        conv_filters: two ints, channels of the two 5x5 convolutions.
        hidden_units: ints, widths of the hidden dense layers (may be empty).
        weight_decay: optional float, L2 coefficient on every conv/dense kernel.
        name: optional model name; defaults to `"lenet"`.

    Returns:
        A functional `keras.Model` mapping images to unnormalised logits.

    Example:

    ```python
    model = lenet(conv_filters=(6, 16), hidden_units=(120, 84))  # LeNet-5, 61,706 params
    ```

    Reference:
        - LeCun et al., "Gradient-Based Learning Applied to Document Recognition", Proc. IEEE 1998.
    """
    input_shape = validate_image_shape(input_shape, "lenet", min_size=12)
    num_classes = validate_num_classes(num_classes)
    conv_filters = tuple(int(f) for f in conv_filters)
    hidden_units = tuple(int(u) for u in hidden_units)
    if len(conv_filters) != 2 or min(conv_filters) < 1:
        raise ValueError(
            f"`conv_filters` must be two positive ints (one per conv stage), got {conv_filters}."
        )
    if hidden_units and min(hidden_units) < 1:
        raise ValueError(f"`hidden_units` must be positive ints, got {hidden_units}.")
    first_padding = "valid" if min(input_shape[:2]) >= 32 else "same"
    regularizer = l2_regularizer(weight_decay)

    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    for stage, (filters, padding) in enumerate(
        zip(conv_filters, (first_padding, "valid")), start=1
    ):
        x = keras.layers.Conv2D(
            filters,
            5,
            padding=padding,
            activation="relu",
            kernel_initializer="he_normal",
            kernel_regularizer=regularizer,
            name=f"conv{stage}",
        )(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{stage}")(x)
    x = keras.layers.Flatten(name="features" if not hidden_units else "flatten")(x)
    for index, units in enumerate(hidden_units, start=1):
        last = index == len(hidden_units)
        x = dense(units, weight_decay, "features" if last else f"fc{index}", activation="relu")(x)
    outputs = dense(num_classes, weight_decay, name="logits")(x)
    return keras.Model(inputs, outputs, name=name or "lenet")


def lenet5(input_shape=(28, 28, 1), num_classes=10, weight_decay=None, name=None):
    """LeNet-5: conv 6@5x5, conv 16@5x5, dense 120 and 84 (61,706 parameters on MNIST).

    See `lenet` for the padding rule that gives 28x28 and 32x32 inputs the same network.

    Args:
        input_shape: tuple `(height, width, channels)`.
        num_classes: int. Width of the logits.
        weight_decay: optional L2 coefficient for the kernels.
        name: optional model name.

    Example:

    ```python
    teacher = lenet5()  # MNIST, 61,706 parameters
    ```

    Reference:
        - LeCun et al., "Gradient-Based Learning Applied to Document Recognition", Proc. IEEE 1998.
    """
    return lenet(input_shape, num_classes, (6, 16), (120, 84), weight_decay, name or "lenet5")


def lenet5_wide(input_shape=(28, 28, 1), num_classes=10, weight_decay=None, name=None):
    """A wide LeNet teacher: conv 32@5x5, conv 64@5x5, dense 256 (464,522 params on MNIST).

    Strong enough on Fashion-MNIST to be well above a labelled `lenet_tiny` (the benchmarks'
    digit teacher), and ~5x cheaper to train on a CPU than `resnet20`.

    Args:
        input_shape: tuple `(height, width, channels)`.
        num_classes: int. Width of the logits.
        weight_decay: optional L2 coefficient for the kernels.
        name: optional model name.

    Example:

    ```python
    teacher = lenet5_wide()  # 464,522 parameters, 108x lenet_tiny
    ```
    """
    return lenet(input_shape, num_classes, (32, 64), (256,), weight_decay, name or "lenet5_wide")


def lenet5_half(input_shape=(28, 28, 1), num_classes=10, weight_decay=None, name=None):
    """LeNet-5 with every layer half as wide: conv 3, conv 8, dense 60 and 42 (~15.7k params).

    Args:
        input_shape: tuple `(height, width, channels)`.
        num_classes: int. Width of the logits.
        weight_decay: optional L2 coefficient for the kernels.
        name: optional model name.

    Example:

    ```python
    student = lenet5_half()
    ```
    """
    return lenet(input_shape, num_classes, (3, 8), (60, 42), weight_decay, name or "lenet5_half")


def lenet_tiny(input_shape=(28, 28, 1), num_classes=10, weight_decay=None, name=None):
    """A tiny LeNet for MNIST students: conv 4, conv 8, dense 16 (~4.3k params, 14x < LeNet-5).

    Args:
        input_shape: tuple `(height, width, channels)`.
        num_classes: int. Width of the logits.
        weight_decay: optional L2 coefficient for the kernels.
        name: optional model name.

    Example:

    ```python
    student = lenet_tiny()  # reaches > 90% MNIST test accuracy within one epoch
    ```
    """
    return lenet(input_shape, num_classes, (4, 8), (16,), weight_decay, name or "lenet_tiny")
