"""Reading one training batch: what a distiller accepts, with errors that say how to fix it.

A batch is `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)`, where `y` may also be a dict
of precomputed teacher outputs (see `keras_anc.teacher_outputs.with_teacher_outputs`).
The checks here look only at the batch's structure and static shapes, so they run
before any traced step (a user error never reaches a compiled function).
"""

import keras

CACHED_KEYS = ("labels", "teacher_logits", "teacher_features")


def unpack_batch(data, *, num_inputs, teacher_layer, num_classes, owner="AdversarialDistiller"):
    """Splits a batch into `(x, y, sample_weight, cached_teacher_outputs)`.

    Args:
        data: One element of the dataset.
        num_inputs: How many inputs the teacher takes.
        teacher_layer: The teacher layer the distiller compares, or `None`.
        num_classes: Width of the teacher's logits, to check cached logits against.
        owner: The distiller's class name, for messages.

    Returns:
        `(x, y, sample_weight, cached)` where `cached` is `None` or
        `(teacher_features, teacher_logits)`.

    Example:

    ```python
    x, y, w, cached = unpack_batch((images, labels), num_inputs=1, teacher_layer=None,
                                   num_classes=10)
    ```
    """
    if isinstance(data, dict):
        raise ValueError(
            f"The dataset yields a dict with keys {sorted(data)}; {owner} expects `x`, "
            "`(x,)`, `(x, y)` or `(x, y, sample_weight)`. Map it first, e.g. "
            "ds.map(lambda d: (d['image'], d['label'])), or load TFDS data with "
            "as_supervised=True."
        )
    if isinstance(data, (list, tuple)) and not 1 <= len(data) <= 3:
        raise ValueError(
            f"A dataset element has {len(data)} parts; {owner} expects `x`, `(x,)`, "
            "`(x, y)` or `(x, y, sample_weight)`."
        )
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    if isinstance(x, (list, tuple, dict)) and num_inputs == 1:
        raise ValueError(
            f"The input `x` is a {type(x).__name__} of {len(x)} items, but the teacher "
            "takes one input. Yield `(x, y)` pairs (images, labels) or `x` alone."
        )
    cached = None
    if isinstance(y, dict):
        cached, y = _split_cached(y, teacher_layer, num_classes)
    _check_sample_weight(x, sample_weight)
    return x, y, sample_weight, cached


def _split_cached(y, teacher_layer, num_classes):
    unknown = sorted(set(y) - set(CACHED_KEYS))
    if unknown or "teacher_logits" not in y:
        raise ValueError(
            "A dict `y` must hold 'teacher_logits' (and optionally 'labels' and "
            "'teacher_features'), as keras_anc.teacher_outputs.with_teacher_outputs builds "
            f"it. Received keys: {sorted(y)}."
        )
    if teacher_layer is not None and "teacher_features" not in y:
        raise ValueError(
            f"This distiller compares the teacher layer {teacher_layer!r}: cached teacher "
            "outputs need 'teacher_features' too. Build them with "
            f"with_teacher_outputs(..., teacher_layer={teacher_layer!r})."
        )
    width = y["teacher_logits"].shape[-1]
    if width is not None and num_classes is not None and width != num_classes:
        raise ValueError(
            f"The cached 'teacher_logits' have {width} classes but the teacher returns "
            f"{num_classes}: they were computed with another teacher. Rebuild them with "
            "with_teacher_outputs(data, teacher) for this teacher."
        )
    cached = (y.get("teacher_features", y["teacher_logits"]), y["teacher_logits"])
    return cached, y.get("labels")


def _check_sample_weight(x, sample_weight):
    if sample_weight is None or isinstance(x, (list, tuple, dict)):
        return
    shape = tuple(sample_weight.shape)
    batch = x.shape[0]
    if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise ValueError(
            "`sample_weight` must hold one weight per example, shape (batch,) or (batch, 1). "
            f"Received: shape {shape}."
        )
    if shape and shape[0] is not None and batch is not None and shape[0] != batch:
        raise ValueError(
            f"`sample_weight` has {shape[0]} weights for a batch of {batch} examples; give "
            "one weight per example."
        )


def sparse_labels(y, logits):
    """Whether labels `y` are class indices (not one-hot rows) for these `logits`."""
    return len(y.shape) < len(logits.shape) or (y.shape[-1] == 1 and logits.shape[-1] != 1)
