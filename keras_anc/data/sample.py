"""The MNIST sample embedded in keras-anc: 7,000 real MNIST digits that work offline.

The sample holds 6000 training and 1000 test images of real MNIST digits, 600 and 100 per class,
in TFDS's example order (see `keras_anc/resources/MNIST_SAMPLE_README.md`). Pipelines
standardise it with the full MNIST train-split statistics, as for `load("mnist")`.
"""

import functools
import importlib.resources

import numpy as np
import tensorflow as tf

from keras_anc.data._catalog import SAMPLE_NAME

SPLITS = ("train", "test")


@functools.lru_cache(maxsize=1)
def sample_arrays():
    """The arrays of the embedded sample, read once per process.

    Returns:
        A dict with `x_train` (6000, 28, 28, 1) and `x_test` (1000, 28, 28, 1) uint8 images,
        `y_train` and `y_test` uint8 labels, and `tfds_index_train` / `tfds_index_test`: the
        position of each image in the TFDS `mnist` split it comes from. Treat them as read-only.

    Example:

    ```python
    arrays = sample_arrays()
    arrays["x_test"].shape  # (1000, 28, 28, 1)
    ```
    """
    resource = importlib.resources.files("keras_anc") / "resources" / "mnist_sample.npz"
    with resource.open("rb") as f, np.load(f) as npz:
        arrays = {key: npz[key] for key in npz.files}
    for array in arrays.values():
        array.flags.writeable = False  # shared by every caller in the process
    return arrays


def sample_source(split):
    """Unbatched `(uint8 image, int32 label)` pairs of one split of the sample, in order.

    Args:
        split: `"train"` or `"test"`.

    Returns:
        A `tf.data.Dataset`.

    Example:

    ```python
    image, label = next(iter(sample_source("test")))  # (28, 28, 1) uint8, int32
    ```
    """
    if split not in SPLITS:
        raise ValueError(
            f"The embedded {SAMPLE_NAME!r} dataset has splits 'train' (6000 images) and 'test' "
            f"(1000 images). Received: split={split!r}. Use `take=N` to read fewer examples."
        )
    arrays = sample_arrays()
    return tf.data.Dataset.from_tensor_slices(
        (arrays[f"x_{split}"], arrays[f"y_{split}"].astype(np.int32))
    )


def load_sample(split="train", **kwargs):
    """Loads the MNIST sample embedded in keras-anc (no download, no TFDS data needed).

    The sample holds 6000 training and 1000 test images of real MNIST digits, 600 and 100 per
    class (see `keras_anc/resources/MNIST_SAMPLE_README.md`).

    Args:
        split: `"train"` or `"test"`.
        **kwargs: Any keyword argument of `keras_anc.data.load()` (`batch_size`, `labels`,
            `seed`, ...).

    Returns:
        The `tf.data.Dataset` that `keras_anc.data.load("mnist_sample", split, **kwargs)`
        returns.

    Example:

    ```python
    images = keras_anc.data.load_sample("train", labels=False, batch_size=64)
    ```
    """
    from keras_anc.data.pipeline import load  # the pipeline module imports this one

    return load(SAMPLE_NAME, split, **kwargs)
