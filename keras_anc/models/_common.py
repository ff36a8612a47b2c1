"""Shared building blocks for the model zoo (private)."""

import numbers

import keras

# BatchNorm settings used across the zoo. momentum=0.9 / epsilon=1e-5 are the values the CIFAR
# distillation literature trains with (PyTorch's defaults); Keras' default momentum of 0.99 makes
# the moving statistics lag badly in the short runs that distillation experiments use.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


def validate_num_classes(num_classes):
    """Raise unless `num_classes` is a positive integer."""
    if (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, numbers.Integral)
        or num_classes < 1
    ):
        raise ValueError(
            f"`num_classes` must be a positive integer, got {num_classes!r}. "
            "Pass the number of target classes, e.g. `num_classes=10` for CIFAR-10."
        )
    return int(num_classes)


def validate_image_shape(input_shape, builder, min_size=1):
    """Return `input_shape` as a tuple `(height, width, channels)` or raise a helpful error."""
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if (
        shape is None
        or len(shape) != 3
        or not all(
            isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0 for d in shape
        )
    ):
        raise ValueError(
            f"`{builder}` expects `input_shape=(height, width, channels)` with positive integers "
            f"(channels_last), got {input_shape!r}. For grayscale 28x28 images pass (28, 28, 1)."
        )
    if shape[0] < min_size or shape[1] < min_size:
        raise ValueError(
            f"`{builder}` needs images of at least {min_size}x{min_size} pixels, got "
            f"input_shape={shape}. Resize the images or pick a model with less downsampling."
        )
    return tuple(int(d) for d in shape)


def l2_regularizer(weight_decay):
    """Return a `keras.regularizers.L2` for `weight_decay`, or `None` when it is `None`/0."""
    if weight_decay is None:
        return None
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, numbers.Real):
        raise ValueError(
            f"`weight_decay` must be a non-negative float or None, got {weight_decay!r}."
        )
    if weight_decay < 0:
        raise ValueError(
            f"`weight_decay` must be >= 0, got {weight_decay}. Use None (or 0) to disable it."
        )
    if weight_decay == 0:
        return None
    return keras.regularizers.L2(float(weight_decay))


def conv2d(filters, kernel_size, strides=1, weight_decay=None, name=None, use_bias=False):
    """A He-initialised `Conv2D` with "same" padding and optional L2 on the kernel."""
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=use_bias,
        kernel_initializer="he_normal",
        kernel_regularizer=l2_regularizer(weight_decay),
        name=name,
    )


def batch_norm(name=None):
    """A `BatchNormalization` over the channels axis with the zoo's momentum/epsilon."""
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def dense(units, weight_decay=None, name=None, activation=None):
    """A `Dense` layer with optional L2 on the kernel."""
    return keras.layers.Dense(
        units,
        activation=activation,
        kernel_regularizer=l2_regularizer(weight_decay),
        name=name,
    )


def pooled_head(x, num_classes, weight_decay=None):
    """Global average pooling named "features" followed by a linear Dense named "logits"."""
    x = keras.layers.GlobalAveragePooling2D(name="features")(x)
    return dense(num_classes, weight_decay, name="logits")(x)
