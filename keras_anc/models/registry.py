"""Look up zoo models by name: `get_model`, `available_models`, `register_model`."""

import difflib
import functools

from keras_anc.models.kerascv import KERAS_CV_BACKBONES, keras_cv_classifier
from keras_anc.models.lenets import lenet5, lenet5_half, lenet5_wide, lenet_tiny
from keras_anc.models.multilayer_perceptron import mlp
from keras_anc.models.network_in_network import nin
from keras_anc.models.resnet_cifar import (
    resnet8,
    resnet8x4,
    resnet14,
    resnet20,
    resnet32,
    resnet32x4,
    resnet44,
    resnet56,
    resnet110,
    resnet164,
)
from keras_anc.models.vgg_cifar import vgg8, vgg11, vgg13
from keras_anc.models.wrn import wrn_16_1, wrn_16_2, wrn_40_1, wrn_40_2

CIFAR_SHAPE = (32, 32, 3)
MNIST_SHAPE = (28, 28, 1)

# name -> (builder, default input shape). Builders take input_shape, num_classes, **kwargs.
_REGISTRY = {}


def register_model(name, builder, default_input_shape):
    """Register a model builder under `name` so that `get_model(name)` can build it.

    Args:
        name: str. The lookup name (lowercase by convention).
        builder: callable `builder(input_shape=..., num_classes=..., **kwargs) -> keras.Model`
            returning a functional model with layers named "features" and "logits".
        default_input_shape: tuple used when `get_model` is called without `input_shape`.

    Returns:
        `builder`, unchanged.

    Example:

    ```python
    register_model("mlp_64", functools.partial(mlp, hidden_units=(64,)), (28, 28, 1))
    ```
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"`name` must be a non-empty string, got {name!r}.")
    if name in _REGISTRY:
        raise ValueError(
            f"A model named {name!r} is already registered. Pick another name for your builder."
        )
    if not callable(builder):
        raise ValueError(f"`builder` must be callable, got {builder!r}.")
    _REGISTRY[name] = (builder, tuple(default_input_shape))
    return builder


def available_models():
    """Return the sorted names accepted by `get_model`.

    Example:

    ```python
    "resnet20" in available_models()  # True
    ```
    """
    return sorted(_REGISTRY)


def default_input_shape(name):
    """Return the input shape `get_model(name)` uses when none is given (e.g. (32, 32, 3))."""
    return _REGISTRY[_check_name(name)][1]


def _check_name(name):
    if name in _REGISTRY:
        return name
    names = available_models()
    close = difflib.get_close_matches(str(name), names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"Unknown model name {name!r}.{hint} Valid names: {', '.join(names)}.")


def get_model(name, /, input_shape=None, num_classes=10, **kwargs):
    """Build a zoo model by name; it outputs logits and has "features"/"logits" layers.

    Args:
        name: str, one of `available_models()` (positional only, so that `name=` can name the
            built model).
        input_shape: optional tuple `(height, width, channels)` (a flat shape for `mlp`).
            Defaults to (32, 32, 3) for CIFAR models and (28, 28, 1) for the LeNets and `mlp`.
        num_classes: int. Width of the logits.
        **kwargs: passed on to the builder, e.g. `weight_decay=5e-4`, `name="teacher"`,
            `dropout_rate=0.3` for wide ResNets.

    Returns:
        A functional `keras.Model` mapping inputs to unnormalised logits.

    Example:

    ```python
    teacher = get_model("resnet56", num_classes=100, weight_decay=5e-4)
    student = get_model("resnet20", num_classes=100, name="student")
    ```
    """
    builder, default_shape = _REGISTRY[_check_name(name)]
    if input_shape is None:
        input_shape = default_shape
    return builder(input_shape=input_shape, num_classes=num_classes, **kwargs)


def _register_builtin():
    for fn in (
        resnet8,
        resnet14,
        resnet20,
        resnet32,
        resnet44,
        resnet56,
        resnet110,
        resnet164,
        resnet8x4,
        resnet32x4,
        wrn_16_1,
        wrn_16_2,
        wrn_40_1,
        wrn_40_2,
        vgg8,
        vgg11,
        vgg13,
        nin,
    ):
        register_model(fn.__name__, fn, CIFAR_SHAPE)
    for fn in (lenet5, lenet5_half, lenet5_wide, lenet_tiny, mlp):
        register_model(fn.__name__, fn, MNIST_SHAPE)
    for preset in KERAS_CV_BACKBONES:
        builder = functools.partial(keras_cv_classifier, preset)
        register_model(f"kerascv_{preset}", builder, CIFAR_SHAPE)


_register_builtin()
