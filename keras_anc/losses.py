"""Per-sample loss terms of adversarial network compression."""

from keras import ops

MIMIC_LOSSES = ("l2", "l1")


def mimic_error(teacher, student, kind="l2"):
    """Per-sample distance between teacher and student outputs.

    The paper's regression ("mimic") term that pulls the student's outputs to the
    teacher's, averaged over the feature axis so its scale does not grow with width.

    Args:
        teacher: Teacher outputs, shape `(batch, features)`.
        student: Student outputs, same shape.
        kind: `"l2"` (mean squared error) or `"l1"` (mean absolute error).

    Returns:
        A `(batch,)` tensor.

    Example:

    ```python
    err = keras_anc.losses.mimic_error(t_logits, s_logits, "l1")
    ```

    Reference:
        Ba & Caruana, "Do Deep Nets Really Need to be Deep?", NeurIPS 2014.
    """
    diff = teacher - student
    if kind == "l2":
        return ops.mean(ops.square(diff), axis=-1)
    if kind == "l1":
        return ops.mean(ops.abs(diff), axis=-1)
    raise ValueError(f"Unknown mimic loss {kind!r}: use one of {MIMIC_LOSSES}.")


def binary_logit_loss(labels, logits):
    """Per-sample sigmoid cross-entropy of discriminator logits `(batch, 1)`.

    Args:
        labels: 1 for "teacher", 0 for "student", shape `(batch, 1)` or `(batch,)`.
        logits: Discriminator outputs, shape `(batch, 1)`.

    Returns:
        A `(batch,)` tensor.
    """
    logits = ops.reshape(logits, (-1,))
    labels = ops.cast(ops.reshape(labels, (-1,)), logits.dtype)
    return ops.binary_crossentropy(labels, logits, from_logits=True)
