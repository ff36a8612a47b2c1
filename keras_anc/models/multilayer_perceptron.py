"""A small multi-layer perceptron for flat or image inputs."""

import numbers

import keras

from keras_anc.models._common import dense, validate_num_classes


def mlp(
    input_shape=(28, 28, 1),
    num_classes=10,
    hidden_units=(256, 128),
    dropout_rate=0.0,
    activation="relu",
    weight_decay=None,
    name=None,
):
    """Build a multi-layer perceptron that outputs logits; handy for quick tests.

    Inputs of any rank are flattened first, so the same builder serves flat vectors
    (`input_shape=(784,)`) and images (`input_shape=(28, 28, 1)`). The last hidden layer is
    named "features" (the flattened input when `hidden_units` is empty) and the classifier
    "logits".

    Args:
        input_shape: tuple of positive ints, the shape of one example.
        num_classes: int. Width of the logits.
        hidden_units: ints, widths of the hidden Dense layers (may be empty for a linear model).
        dropout_rate: float in [0, 1). Dropout after each hidden layer.
        activation: activation of the hidden layers.
        weight_decay: optional float, L2 coefficient on every kernel.
        name: optional model name; defaults to `"mlp"`.

    Returns:
        A functional `keras.Model` mapping inputs to unnormalised logits.

    Example:

    ```python
    model = mlp(input_shape=(784,), num_classes=10, hidden_units=(64,))
    ```
    """
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if not shape or not all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0 for d in shape
    ):
        raise ValueError(
            f"`input_shape` must be a non-empty tuple of positive ints, got {input_shape!r}. "
            "Example: (784,) for flat vectors or (28, 28, 1) for images."
        )
    num_classes = validate_num_classes(num_classes)
    hidden_units = tuple(int(u) for u in hidden_units)
    if hidden_units and min(hidden_units) < 1:
        raise ValueError(f"`hidden_units` must be positive ints, got {hidden_units}.")
    if not 0.0 <= float(dropout_rate) < 1.0:
        raise ValueError(f"`dropout_rate` must be in [0, 1), got {dropout_rate!r}.")

    inputs = keras.Input(shape=shape, name="inputs")
    x = keras.layers.Flatten(name="flatten" if hidden_units else "features")(inputs)
    for index, units in enumerate(hidden_units, start=1):
        last = index == len(hidden_units)
        x = dense(units, weight_decay, "features" if last else f"fc{index}", activation)(x)
        if dropout_rate:
            x = keras.layers.Dropout(dropout_rate, name=f"dropout{index}")(x)
    outputs = dense(num_classes, weight_decay, name="logits")(x)
    return keras.Model(inputs, outputs, name=name or "mlp")
