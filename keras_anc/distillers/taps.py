"""Feature taps shared by the distillers: which tensors are compared, and at what width.

A *tap* is a model returning `(features, logits)` of a network in one forward pass, the
features being the output of a named layer (or the logits themselves). The helpers here
build taps, pool spatial feature maps to vectors, bridge widths with a learned
projection, and check that a teacher and a student can be compared at all. They are
used by `AdversarialDistiller`, `HintDistiller` and `keras_anc.teacher_outputs`.
"""

import warnings

import keras
from keras import ops


def as_vectors(features):
    """Float32 `(batch, width)` features; spatial maps are global-average-pooled.

    Args:
        features: A tensor of rank >= 2, channels last.

    Returns:
        A float32 tensor of shape `(batch, channels)`.

    Example:

    ```python
    as_vectors(keras.ops.ones((8, 4, 4, 16))).shape  # (8, 16)
    ```
    """
    features = ops.cast(features, "float32")
    rank = len(features.shape)
    if rank > 2:
        features = ops.mean(features, axis=tuple(range(1, rank - 1)))
    return features


def weighted_mean(values, sample_weight):
    """Mean of per-sample `values`, each weighted by `sample_weight` when given.

    Matches Keras' `"sum_over_batch_size"` reduction: the weighted sum over the batch
    size, so all-ones weights give the plain mean.
    """
    if sample_weight is None:
        return ops.mean(values)
    weight = ops.cast(ops.reshape(sample_weight, (-1,)), values.dtype)
    return ops.mean(values * weight)


def symbolic_inputs(model):
    """The symbolic inputs of a Functional/Sequential model, or a clear error."""
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ValueError(
            f"Model {model.name!r} has no defined inputs. Build teacher and student as "
            "Functional or Sequential models that start from keras.Input(shape=...) "
            "(a subclassed model can be wrapped: keras.Model(inp, net(inp)))."
        )
    return inputs


def check_io_compatible(teacher, student):
    """Raises `ValueError` unless teacher and student take the same inputs and
    return logits of the same shape."""
    t_inputs, s_inputs = symbolic_inputs(teacher), symbolic_inputs(student)
    t_in = [tuple(i.shape) for i in t_inputs]
    s_in = [tuple(i.shape) for i in s_inputs]
    if len(t_in) != len(s_in) or any(
        len(a) != len(b) or any(p is not None and q is not None and p != q for p, q in zip(a, b))
        for a, b in zip(t_in, s_in)
    ):
        raise ValueError(
            f"Teacher and student must take the same inputs. Received: teacher input shape "
            f"{t_in}, student input shape {s_in}."
        )
    if len(teacher.outputs) != 1 or len(student.outputs) != 1:
        raise ValueError(
            "Teacher and student must each have a single output (the class logits). "
            f"Received: {len(teacher.outputs)} and {len(student.outputs)} outputs."
        )
    t_out = tuple(teacher.outputs[0].shape)
    s_out = tuple(student.outputs[0].shape)
    if t_out[1:] != s_out[1:]:
        raise ValueError(
            f"Teacher and student output shapes differ. Received: teacher output shape "
            f"{t_out}, student output shape {s_out}. Both must predict the same classes; "
            "give the student a final layer with the teacher's number of outputs."
        )


def tap_model(model, layer_name, role, extra_layers=()):
    """A model returning `(features, logits)` of `model` in one forward pass.

    Args:
        model: A Functional or Sequential `keras.Model`.
        layer_name: The layer whose output is the features, or `None` for the logits.
        role: `"teacher"` or `"student"`, for error messages and the tap's name.
        extra_layers: Names of further layers whose outputs the tap also returns, in
            this order, after `(features, logits)`: everything a distiller compares
            comes from the same forward pass.

    Example:

    ```python
    features, logits, block = tap_model(teacher, "features", "teacher", ["block"])(x)
    ```
    """
    inputs = model.inputs if len(model.inputs) > 1 else model.inputs[0]
    features = model.outputs[0] if layer_name is None else layer_output(model, layer_name, role)
    extras = [layer_output(model, name, role) for name in extra_layers]
    return keras.Model(inputs, [features, model.outputs[0], *extras], name=f"{role}_taps")


def layer_output(model, layer_name, role):
    """The symbolic output of `model`'s layer `layer_name`, or a clear error.

    Args:
        model: A Functional or Sequential `keras.Model`.
        layer_name: The name of one of its layers, with a single output.
        role: `"teacher"` or `"student"`, for error messages.
    """
    names = [layer.name for layer in model.layers]
    if layer_name not in names:
        raise ValueError(
            f"The {role} has no layer named {layer_name!r}. Available layers: {names}."
        )
    output = model.get_layer(layer_name).output
    if isinstance(output, (list, tuple)):
        raise ValueError(
            f"The {role} layer {layer_name!r} has several outputs; pick a layer with one."
        )
    return output


def feature_width(tap):
    """The channel width of a tap's features (the last axis)."""
    shape = tap.outputs[0].shape
    width = shape[-1]
    if width is None:
        raise ValueError(
            f"The features of {tap.name!r} have an unknown last dimension {shape}; "
            "pick a layer with a fixed width."
        )
    return int(width)


def width_projection(source_width, target_width, name):
    """A built `Dense` mapping `source_width` features to `target_width`, or `None`
    when the widths already match (FitNets' regressor, ANC's student projection)."""
    if source_width == target_width:
        return None
    projection = keras.layers.Dense(target_width, name=name)
    projection.build((None, source_width))
    return projection


def warn_if_softmax(model, role):
    """Warns when `model` ends in a softmax: distillers compare logits."""
    last = model.layers[-1] if model.layers else None
    activation = getattr(last, "activation", None)
    if isinstance(last, keras.layers.Softmax) or activation in (
        keras.activations.softmax,
        keras.activations.log_softmax,
    ):
        warnings.warn(
            f"The {role} {model.name!r} ends in a softmax, but the distiller compares "
            "logits (pre-softmax outputs): probabilities saturate and hide what the teacher "
            "knows about wrong classes. Rebuild its last layer with activation=None, or "
            "pass teacher_layer/student_layer to compare features.",
            stacklevel=3,
        )


def agreement(teacher_logits, student_logits):
    """Per-sample 1.0 where teacher and student predict the same class, else 0.0."""
    return ops.cast(
        ops.equal(ops.argmax(teacher_logits, axis=-1), ops.argmax(student_logits, axis=-1)),
        "float32",
    )
