"""Teacher outputs computed once and carried by the dataset, for data that is not augmented.

Not to be confused with `keras_anc.teacher_store`, which keeps *trained teachers* on disk.
"""

import keras
import numpy as np

from keras_anc.distillers import taps as taps_lib
from keras_anc.errors import require_tensorflow


def with_teacher_outputs(
    data,
    teacher,
    *,
    teacher_layer=None,
    batch_size=128,
    shuffle=True,
    seed=0,
    inference_batch_size=512,
):
    """Runs the teacher once over `data` and returns a dataset that carries its outputs.

    Distillation runs the frozen teacher on every batch of every epoch. When the inputs
    are not augmented, its outputs never change: computing them once turns the teacher's
    per-epoch cost into a one-off (in `benchmarks/speed.py` this doubled ANC's training
    throughput on resnet32 -> resnet8). The returned dataset yields
    `(x, {"teacher_logits": t[, "teacher_features": f][, "labels": y]})`, which
    `AdversarialDistiller` recognises: it then skips the teacher's forward pass.

    Everything is held in memory (as `Dataset.cache()` would), so use it for data that
    fits. Do not use it with augmentation: the cached outputs belong to the original
    images.

    Args:
        data: Images `x`, a tuple `(x, y)` of arrays, or a `tf.data.Dataset` of batches
            yielding `x` or `(x, y)` (e.g. `keras_anc.data.load(..., training=False)`).
        teacher: The teacher `keras.Model` (called in inference mode).
        teacher_layer: The teacher layer the distiller compares, if not the outputs.
        batch_size: Batch size of the returned dataset.
        shuffle: Reshuffle every epoch.
        seed: Shuffle seed.
        inference_batch_size: Batch size for the teacher's single pass over arrays.

    Returns:
        A batched, prefetched `tf.data.Dataset`.

    Example:

    ```python
    train = keras_anc.data.load("mnist", "train", training=False)   # no augmentation
    cached = keras_anc.teacher_outputs.with_teacher_outputs(train, teacher)
    distiller = keras_anc.AdversarialDistiller(teacher, student)
    distiller.compile(student_optimizer="adam", discriminator_optimizer="adam")
    distiller.fit(cached, epochs=10)   # the teacher is not run again
    ```
    """
    tf = require_tensorflow("keras_anc.teacher_outputs (a tf.data pipeline)")
    if isinstance(data, tf.data.Dataset):
        from keras_anc.data.augmentation import augmentation_of

        augmentation = augmentation_of(data)
        if augmentation is not None:
            raise ValueError(
                f"`data` is augmented ({augmentation}): caching the teacher's outputs would "
                "freeze one random view, and the student would then learn the teacher's "
                "outputs for images it never sees again. Cache an un-augmented stream "
                "(e.g. keras_anc.data.load(..., training=False) or augment=False), or train "
                "without the cache."
            )
    taps = taps_lib.tap_model(teacher, teacher_layer, "teacher")
    if isinstance(data, tf.data.Dataset):
        batches = data
    else:
        arrays = data if isinstance(data, tuple) else (data,)
        if len(arrays) not in (1, 2):
            raise ValueError(
                f"`data` must be images `x`, a tuple `(x, y)` or a tf.data.Dataset; got a "
                f"tuple of {len(arrays)} items."
            )
        batches = tf.data.Dataset.from_tensor_slices(arrays).batch(inference_batch_size)

    xs, ys, logits, features = [], [], [], []
    for element in batches:
        if isinstance(element, dict):
            raise ValueError(
                "The dataset yields dicts; map it to `x` or `(x, y)` first (e.g. TFDS with "
                "as_supervised=True)."
            )
        if isinstance(element, (tuple, list)):
            if len(element) > 2:
                raise ValueError(
                    "The dataset must yield `x` or `(x, y)` batches; drop sample weights "
                    "before caching."
                )
            x, y = element[0], element[1] if len(element) == 2 else None
        else:
            x, y = element, None
        x = np.asarray(x)
        f, t = taps(x, training=False)
        xs.append(x)
        logits.append(keras.ops.convert_to_numpy(t).astype("float32"))
        if teacher_layer is not None:
            features.append(keras.ops.convert_to_numpy(taps_lib.as_vectors(f)))
        if y is not None:
            ys.append(np.asarray(y))
    if not xs:
        raise ValueError("`data` is empty: there is nothing to run the teacher on.")

    targets = {"teacher_logits": np.concatenate(logits)}
    if features:
        targets["teacher_features"] = np.concatenate(features)
    if ys:
        targets["labels"] = np.concatenate(ys)
    x_all = np.concatenate(xs)
    ds = tf.data.Dataset.from_tensor_slices((x_all, targets))
    if shuffle:
        ds = ds.shuffle(len(x_all), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
