"""Argument checks of `AdversarialDistiller`'s constructor, with errors that say how to fix them."""

import warnings

import keras

from keras_anc import hyperparameters as hp
from keras_anc import losses


def check_arguments(
    *,
    teacher,
    student,
    discriminator,
    teacher_layer,
    student_layer,
    mimic_loss,
    discriminator_steps,
    hyperparameters,
):
    """Validates the constructor's arguments; returns the checked hyper-parameters.

    Args:
        teacher: The teacher, a `keras.Model`.
        student: The student, another `keras.Model`.
        discriminator: A `keras.Model` or `None`.
        teacher_layer: A teacher layer name or `None`.
        student_layer: A student layer name or `None` (given together with
            `teacher_layer`).
        mimic_loss: One of `keras_anc.losses.MIMIC_LOSSES`.
        discriminator_steps: A whole number >= 1.
        hyperparameters: `{name: value}` of the schedulable hyper-parameters;
            `output_mimic_weight` may be `None` (1 with feature taps, else 0).

    Returns:
        `{name: float}` of the hyper-parameters, each checked against its range.

    Example:

    ```python
    values = check_arguments(teacher=t, student=s, discriminator=None, teacher_layer=None,
                             student_layer=None, mimic_loss="l2", discriminator_steps=1,
                             hyperparameters={"mimic_weight": 1.0, ...})
    ```
    """
    for role, model in (("teacher", teacher), ("student", student)):
        if not isinstance(model, keras.Model):
            raise ValueError(
                f"`{role}` must be a keras.Model, got {type(model).__name__}. "
                f"Wrap your network in a keras.Model (e.g. keras.Sequential)."
            )
    if teacher is student:
        raise ValueError(
            "`teacher` and `student` are the same model object: the teacher is frozen, "
            "so nothing would be trained. Pass a separate student (e.g. "
            "keras.models.clone_model(teacher) for a same-size student)."
        )
    values = dict(hyperparameters)
    if values["output_mimic_weight"] is None:
        # With feature taps, the output-level mimic term keeps the student's
        # classifier trained; without them, the features are the outputs.
        values["output_mimic_weight"] = 1.0 if teacher_layer is not None else 0.0
    values = {name: hp.check_value(name, value) for name, value in values.items()}
    if teacher_layer is not None and values["output_mimic_weight"] == 0.0:
        warnings.warn(
            "Feature-level distillation with `output_mimic_weight=0`: no term reaches "
            "the student's output layer, so its classifier is not trained without "
            "labels. Set `output_mimic_weight` > 0 or `label_loss_weight` > 0.",
            stacklevel=3,
        )
    if discriminator is not None and not isinstance(discriminator, keras.Model):
        raise ValueError(
            f"`discriminator` must be a keras.Model mapping (batch, width) features "
            f"to (batch, 1) logits, or None for the default MLPDiscriminator; got "
            f"{type(discriminator).__name__}."
        )
    if mimic_loss not in losses.MIMIC_LOSSES:
        raise ValueError(f"Unknown `mimic_loss` {mimic_loss!r}: use one of {losses.MIMIC_LOSSES}.")
    if (teacher_layer is None) != (student_layer is None):
        raise ValueError(
            "Pass both `teacher_layer` and `student_layer` (the two layers the "
            "discriminator compares), or neither to compare the models' outputs; got "
            f"teacher_layer={teacher_layer!r}, student_layer={student_layer!r}."
        )
    if (
        isinstance(discriminator_steps, bool)
        or not float(discriminator_steps).is_integer()
        or int(discriminator_steps) < 1
    ):
        raise ValueError(
            "`discriminator_steps` must be a whole number >= 1. Received: "
            f"`discriminator_steps={discriminator_steps!r}`."
        )
    return values
