"""Keras' `keras.distillation.DistillationLoss` objects as extra terms of a distiller's objective.

`AdversarialDistiller(distillation_losses=[...], distillation_loss_weights=[...])` adds
`sum(w_i * loss_i.compute_loss(teacher_outputs_i, student_outputs_i))` to the student's
objective. The outputs each term receives follow `keras.distillation.Distiller`: the
output of the layer named by the loss's `teacher_layer_name` / `student_layer_name` when
it has one (`FeatureDistillation`, or a user's subclass with those attributes), else the
models' logits. The helpers here validate the losses and weights, list the layers the
taps must return, compute the terms and (de)serialize the losses.
"""

import math
import numbers
import warnings

import keras
from keras import ops

from keras_anc.distribution import replicas_in_sync

DistillationLoss = keras.distillation.DistillationLoss


def check_distillation_losses(losses, weights, teacher, student):
    """Validates `distillation_losses` and their weights against the two models.

    Args:
        losses: `None`, one `keras.distillation.DistillationLoss` or a list of them.
        weights: `None` (every weight 1) or a list of non-negative finite numbers, one
            per loss.
        teacher: The teacher `keras.Model`.
        student: The student `keras.Model`.

    Returns:
        `(losses, weights)`: a list of the losses and a list of Python floats.

    Example:

    ```python
    losses, weights = check_distillation_losses(
        [keras.distillation.LogitsDistillation()], [0.5], teacher, student
    )
    ```
    """
    if losses is None:
        losses = []
    elif isinstance(losses, DistillationLoss):
        losses = [losses]
    elif isinstance(losses, (list, tuple)):
        losses = list(losses)
    else:
        raise ValueError(
            "`distillation_losses` must be a list of keras.distillation.DistillationLoss "
            "objects (e.g. [keras.distillation.LogitsDistillation()]). Received: "
            f"`distillation_losses={losses!r}` of type {type(losses).__name__}."
        )
    for i, loss in enumerate(losses):
        if not isinstance(loss, DistillationLoss):
            raise ValueError(
                f"`distillation_losses[{i}]` must be a keras.distillation.DistillationLoss "
                "(keras.distillation.LogitsDistillation, FeatureDistillation or a subclass "
                f"of DistillationLoss). Received: `distillation_losses[{i}]={loss!r}` of "
                f"type {type(loss).__name__}."
            )
    weights = _check_weights(weights, len(losses))
    for i, loss in enumerate(losses):
        # Keras' own check: the named layers exist in Functional/Sequential models.
        try:
            loss.validate_model_compatibility(teacher, student)
        except ValueError as e:
            raise ValueError(f"`distillation_losses[{i}]` does not fit the models: {e}") from e
        if isinstance(loss, keras.distillation.FeatureDistillation):
            _check_feature_shapes(i, loss, teacher, student)
        if isinstance(loss, keras.distillation.LogitsDistillation) and any(
            fn is keras.losses.kl_divergence for fn in keras.tree.flatten(loss.loss)
        ):
            warnings.warn(
                f"`distillation_losses[{i}]` is a LogitsDistillation with the string loss "
                "'kl_divergence', which Keras resolves to a function that skips the "
                "softmax and temperature scaling: it compares raw logits. Pass "
                "`loss=keras.losses.KLDivergence()` for the usual soft-target loss.",
                stacklevel=3,
            )
    return losses, weights


def _check_weights(weights, count):
    if weights is None:
        return [1.0] * count
    if not isinstance(weights, (list, tuple)):
        raise ValueError(
            "`distillation_loss_weights` must be a list with one weight per distillation "
            f"loss. Received: `distillation_loss_weights={weights!r}`."
        )
    if len(weights) != count:
        raise ValueError(
            f"`distillation_loss_weights` has {len(weights)} weights for {count} "
            "`distillation_losses`; give one weight per loss (or omit it for weights of "
            f"1). Received: `distillation_loss_weights={list(weights)!r}`."
        )
    checked = []
    for i, weight in enumerate(weights):
        valid = isinstance(weight, numbers.Real) and not isinstance(weight, bool)
        if not valid or not math.isfinite(weight) or weight < 0:
            raise ValueError(
                f"`distillation_loss_weights[{i}]` must be a finite number >= 0. Received: "
                f"`distillation_loss_weights[{i}]={weight!r}`."
            )
        checked.append(float(weight))
    return checked


def _check_feature_shapes(index, loss, teacher, student):
    """Feature distillation compares raw layer outputs: their static shapes must agree."""
    t_shape = _output_shape(teacher, loss.teacher_layer_name)
    s_shape = _output_shape(student, loss.student_layer_name)
    if len(t_shape) != len(s_shape) or any(
        a is not None and b is not None and a != b for a, b in zip(t_shape[1:], s_shape[1:])
    ):
        raise ValueError(
            f"`distillation_losses[{index}]` (FeatureDistillation) compares the teacher "
            f"layer {loss.teacher_layer_name!r} of shape {t_shape} with the student layer "
            f"{loss.student_layer_name!r} of shape {s_shape}; the shapes must match. Pick "
            "layers of the same shape, or compare layers of different widths with a "
            "`keras_anc.DiscriminatorTap` (it learns a projection)."
        )


def _output_shape(model, layer_name):
    if layer_name is None:
        return tuple(model.outputs[0].shape)
    return tuple(model.get_layer(layer_name).output.shape)


def feature_layers(losses):
    """The teacher and student layer names the losses read, each list without repeats.

    Returns:
        `(teacher_layers, student_layers)`.
    """
    teacher_layers, student_layers = [], []
    for loss in losses:
        for names, attribute in (
            (teacher_layers, "teacher_layer_name"),
            (student_layers, "student_layer_name"),
        ):
            name = getattr(loss, attribute, None)
            if name is not None and name not in names:
                names.append(name)
    return teacher_layers, student_layers


def term_names(losses):
    """The logged name of each term: `distillation_loss_<i>`, `i` its position."""
    return [f"distillation_loss_{i}" for i in range(len(losses))]


def compute_terms(losses, teacher_layers, student_layers, teacher_logits, student_logits):
    """Each loss's unweighted value, a float32 scalar, in the order of `losses`.

    Under a `tf.distribute` strategy, a term is taken to be reduced as `keras.losses`
    objects reduce (scaled by 1 / replicas, as `LogitsDistillation` and
    `FeatureDistillation` are); a custom term that takes a plain mean must divide by
    `keras_anc.distribution.replicas_in_sync()` itself, as for `keras.distillation.Distiller`.

    Args:
        losses: The `DistillationLoss` objects.
        teacher_layers: `{layer name: float32 output}` of the teacher layers they read.
        student_layers: The same for the student.
        teacher_logits: The teacher's float32 logits (gradient-stopped).
        student_logits: The student's float32 logits.
    """
    terms = []
    for i, loss in enumerate(losses):
        t_name = getattr(loss, "teacher_layer_name", None)
        s_name = getattr(loss, "student_layer_name", None)
        teacher_outputs = teacher_logits if t_name is None else teacher_layers[t_name]
        student_outputs = student_logits if s_name is None else student_layers[s_name]
        loss.validate_outputs(teacher_outputs, student_outputs)
        value = loss.compute_loss(teacher_outputs, student_outputs)
        if len(getattr(value, "shape", ())) != 0:
            raise ValueError(
                f"`distillation_losses[{i}]` ({type(loss).__name__}) returned a loss of "
                f"shape {tuple(value.shape)}; `compute_loss` must return a scalar (e.g. "
                "reduce it with keras.ops.mean)."
            )
        # Keras' convention: a DistillationLoss reduces with `keras.losses` objects, which
        # under a `tf.distribute` strategy already divide by the replicas in sync (as
        # `keras.distillation.Distiller` expects). The step divides its whole objective
        # once, so undo that here: the update equals the one-device update.
        replicas = replicas_in_sync()
        value = ops.cast(value, "float32")
        terms.append(value if replicas == 1 else value * float(replicas))
    return terms


def serialize_losses(losses):
    """The losses as Keras serialized dicts, or a clear error for one that cannot be."""
    configs = []
    for i, loss in enumerate(losses):
        error = None
        if not hasattr(type(loss), "from_config"):
            error = "it has no `from_config()`"
        else:
            try:
                configs.append(keras.saving.serialize_keras_object(loss))
            except (TypeError, NotImplementedError) as e:
                error = str(e)
        if error is not None:
            raise ValueError(
                f"Cannot serialize `distillation_losses[{i}]` ({type(loss).__name__}): a "
                "custom DistillationLoss needs `get_config()` and `from_config()` methods "
                "and registration with @keras.saving.register_keras_serializable() to be "
                f"saved and loaded. Error: {error}"
            )
    return configs


def deserialize_losses(configs):
    """The inverse of `serialize_losses`."""
    return [keras.saving.deserialize_keras_object(config) for config in configs]
