"""What a pipeline needs to know about a dataset (`DatasetInfo`, `info()`), and its statistics.

Images are standardised with per-channel statistics of [0, 1]-scaled training pixels: the
canonical values for the known datasets, otherwise estimated from up to 4096 training images
(once per process).
"""

import dataclasses
import warnings

import numpy as np

from keras_anc.data._catalog import CANONICAL_STATS, SAMPLE_NAME
from keras_anc.data.augmentation import NO_AUGMENTATION, Augmentation, default_augmentation
from keras_anc.data.sample import sample_arrays
from keras_anc.data.tfds_source import builder_is_prepared, import_tfds, tfds_builder

STATS_SAMPLE_SIZE = 4096

_stats_cache = {}


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a pipeline needs to know about an image-classification dataset.

    Args:
        name: The dataset name as passed to `load()`.
        image_shape: `(height, width, channels)` of one image.
        num_classes: Number of classes.
        class_names: Class names, in label order.
        mean: Per-channel mean of [0, 1]-scaled training pixels, used for standardisation.
        std: Per-channel standard deviation of [0, 1]-scaled training pixels.
        splits: Mapping of split name to number of examples (empty when TFDS has not prepared
            the dataset yet).
        augmentation: The `Augmentation` used by default for training pipelines.
        stats_source: Where `mean` and `std` come from: `"canonical"`, `"estimated from N train
            images"`, or `"unavailable"` (images are then only scaled to [0, 1]).

    Example:

    ```python
    meta = keras_anc.data.info("cifar10")
    meta.num_classes, meta.image_shape, meta.train_size  # (10, (32, 32, 3), 50000)
    ```
    """

    name: str
    image_shape: tuple
    num_classes: int
    class_names: tuple
    mean: tuple
    std: tuple
    splits: dict = dataclasses.field(default_factory=dict)
    augmentation: Augmentation = NO_AUGMENTATION
    stats_source: str = "canonical"

    @property
    def train_size(self):
        """Number of examples in the `train` split (0 if unknown)."""
        return self.splits.get("train", 0)

    @property
    def test_size(self):
        """Number of examples in the `test` split (0 if unknown)."""
        return self.splits.get("test", 0)


def info(name, *, data_dir=None):
    """Describes a dataset: image shape, classes, normalisation statistics, split sizes.

    Reads TFDS metadata only: it never downloads and never creates `data_dir`. For a TFDS
    dataset that is not prepared, shape and classes come from the TFDS builder's code and
    `splits` is empty; `keras_anc.data.is_prepared(name)` tells whether the data is on disk.

    Args:
        name: `"mnist_sample"` (the embedded sample), one of `KNOWN_DATASETS`, or any TFDS
            image-classification dataset name with `image` and `label` features.
        data_dir: TFDS data directory; `None` uses `TFDS_DATA_DIR` or `~/tensorflow_datasets`.

    Returns:
        A `DatasetInfo`. For a TFDS name without canonical statistics, `mean` and `std` are
        estimated from up to 4096 training images when the data is on disk (cached per process);
        otherwise they are zeros and ones, with a warning, and `stats_source="unavailable"`.

    Example:

    ```python
    keras_anc.data.info("mnist").mean  # (0.1307,)
    ```
    """
    if name == SAMPLE_NAME:
        arrays = sample_arrays()
        return DatasetInfo(
            name=SAMPLE_NAME,
            image_shape=tuple(arrays["x_train"].shape[1:]),
            num_classes=10,
            class_names=tuple(str(i) for i in range(10)),
            mean=CANONICAL_STATS[SAMPLE_NAME][0],
            std=CANONICAL_STATS[SAMPLE_NAME][1],
            splits={"train": len(arrays["y_train"]), "test": len(arrays["y_test"])},
            augmentation=default_augmentation(SAMPLE_NAME, arrays["x_train"].shape[1:]),
            stats_source="canonical (full MNIST train split)",
        )
    builder = tfds_builder(name, data_dir)
    features = builder.info.features
    image_shape = tuple(features["image"].shape)
    if name in CANONICAL_STATS:
        mean, std = CANONICAL_STATS[name]
        stats_source = "canonical"
    else:
        mean, std, stats_source = _dataset_stats(builder, image_shape[-1])
    return DatasetInfo(
        name=name,
        image_shape=image_shape,
        num_classes=int(features["label"].num_classes),
        class_names=tuple(features["label"].names),
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        splits={key: int(split.num_examples) for key, split in builder.info.splits.items()},
        augmentation=default_augmentation(name, image_shape),
        stats_source=stats_source,
    )


def _dataset_stats(builder, channels):
    """Estimates per-channel mean/std from the start of the train split (cached per process)."""
    key = (builder.name, builder.data_dir)
    if key not in _stats_cache:
        if not builder_is_prepared(builder):
            warnings.warn(
                f"No canonical statistics for dataset {builder.name!r} and its data is not "
                f"prepared in {builder.data_dir}, so images are only scaled to [0, 1]. Prepare "
                f"it first (`keras_anc.data.prepare({builder.name!r})`, or `load(...)` with a "
                "download) to get statistics estimated from the train split.",
                stacklevel=3,
            )
            return (0.0,) * channels, (1.0,) * channels, "unavailable"
        _stats_cache[key] = estimate_stats(builder)
    return _stats_cache[key]


def estimate_stats(builder, num_examples=STATS_SAMPLE_SIZE):
    """Estimates per-channel mean and std of [0, 1]-scaled pixels from a prepared TFDS dataset.

    Args:
        builder: A `tfds.core.DatasetBuilder` whose data is prepared.
        num_examples: How many images to read from the start of the `train` split (or of the
            first split when there is no `train`).

    Returns:
        `(mean, std, source)`: per-channel tuples and a description such as
        `"estimated from 4096 train images"`.

    Example:

    ```python
    mean, std, source = estimate_stats(tfds.builder("mnist"))  # ((0.13...,), (0.30...,), ...)
    ```
    """
    tfds = import_tfds()
    split = "train" if "train" in builder.info.splits else next(iter(builder.info.splits))
    ds = builder.as_dataset(
        split=f"{split}[:{num_examples}]",
        shuffle_files=False,
        decoders=tfds.decode.PartialDecoding({"image": True}),
    )
    images = np.concatenate([batch["image"] for batch in tfds.as_numpy(ds.batch(1024))], axis=0)
    pixels = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
    std = np.maximum(pixels.std(axis=0), 1e-3)
    return (
        tuple(pixels.mean(axis=0).tolist()),
        tuple(std.tolist()),
        f"estimated from {len(images)} {split} images",
    )
