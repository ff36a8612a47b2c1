"""Labelled test data for measuring exported artefacts (shared by `tflite` and `report`)."""

import sys

import numpy as np


def labelled_batches(data, batch_size, example_rank):
    """Yields `(x, y)` numpy batches from arrays or a `tf.data.Dataset`.

    `data` is `(x, y)` arrays, or a dataset of `(x, y)` tuples or of TFDS dicts with
    `"image"` and `"label"`, batched or not (`example_rank` tells them apart). One-hot labels
    are turned into class ids.

    Args:
        data: the labelled images, as above.
        batch_size: batch size for arrays and unbatched datasets.
        example_rank: rank of one image (3 for `(H, W, C)`).

    Example:

    ```python
    for x, y in labelled_batches((x_test, y_test), batch_size=256, example_rank=3):
        ...
    ```
    """
    # A `tf.data.Dataset` can only exist once TensorFlow was imported: arrays need no TF.
    tf = sys.modules.get("tensorflow")

    def labels(y):
        y = np.asarray(y)
        return y.argmax(-1) if y.ndim == 2 else y.reshape(-1)

    if tf is not None and isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        if isinstance(spec, dict):
            if "image" not in spec or "label" not in spec:
                raise ValueError(
                    "A dataset of dicts must have 'image' and 'label' keys (as TFDS returns); "
                    f"found keys {sorted(spec)}. Or map it to (image, label) tuples."
                )
            data = data.map(lambda d: (d["image"], d["label"]))
            spec = data.element_spec
        if not isinstance(spec, tuple) or len(spec) < 2:
            raise ValueError(
                "The dataset must yield (images, labels) tuples or TFDS dicts with 'image' and "
                "'label' (e.g. `tfds.load(..., as_supervised=True)`). "
                f"Received a dataset of: {spec!r}."
            )
        if len(spec) > 2:
            data = data.map(lambda *e: (e[0], e[1]))
        if spec[0].shape.rank == example_rank:
            data = data.batch(batch_size)
        for x, y in data.as_numpy_iterator():
            yield np.asarray(x), labels(y)
        return
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = np.asarray(data[0]), labels(data[1])
        if len(x) != len(y):
            raise ValueError(
                f"`data` has {len(x)} images but {len(y)} labels; pass matching (x, y) arrays."
            )
        for start in range(0, len(x), batch_size):
            yield x[start : start + batch_size], y[start : start + batch_size]
        return
    raise ValueError(
        "`data` must be a tuple `(images, labels)` of arrays or a `tf.data.Dataset` of "
        f"(image, label) pairs. Received: `data` of type {type(data).__name__}."
    )
