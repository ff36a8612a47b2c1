"""Image-classification input pipelines for distillation: TFDS names, NumPy arrays, `tf.data`.

Every pipeline yields batches of float32 images standardised with per-channel statistics and,
unless `labels=False`, int32 class labels. Training pipelines add the augmentation that is
standard in the knowledge-distillation literature:

| dataset | standardisation (mean, std per channel) | training augmentation |
|---|---|---|
| `mnist`, `mnist_sample`, `fashion_mnist` | canonical train-split values | none |
| `cifar10`, `cifar100` | canonical train-split values | 4-pixel pad + random crop + h-flip |
| `svhn_cropped` | canonical train-split values | 4-pixel pad + random crop (no flip) |
| other TFDS image/label datasets | estimated from train images | pad + crop + flip if colour |

The stage order is: decode -> cache (uint8) -> shuffle -> batch -> augment -> standardise ->
prefetch. Augmentation runs on raw pixels, so the padding is black as in the reference
implementations, and the cache holds uint8 images (4x less memory than float32).

Pad-and-crop is done by `keras.layers.RandomTranslation` with nearest-neighbour sampling, zero
fill and a range of `(pad + 0.5) / size`: rounding a uniform shift in that range gives each integer
offset in `[-pad, pad]` with equal probability, which is exactly the distribution of a random
crop of an image zero-padded by `pad` pixels, but per image inside a batch
(`keras.layers.RandomCrop` crops a whole batch at one location). The seeded Keras layers keep a
seed state that advances with each call, so the augmentation map runs on one thread to keep the
random stream reproducible; it handles whole batches, so a cached CIFAR-10 epoch still streams
at ~12k images/s on 2 CPU cores, far above training speed. Other stages run in parallel, with
deterministic order.

Datasets that are not on disk are read the usual TFDS way: from `data_dir` if given, otherwise
from the `TFDS_DATA_DIR` environment variable, otherwise from `~/tensorflow_datasets`.

Example:

```python
import keras_anc

train = keras_anc.data.load("cifar10", "train", batch_size=128)  # (x, y), augmented, shuffled
images = keras_anc.data.load("cifar10", "train", labels=False)  # x only: label-free stream
test = keras_anc.data.load("cifar10", "test")  # (x, y), no augmentation, fixed order
meta = keras_anc.data.info("cifar10")  # num_classes, image_shape, mean, std, ...
sample = keras_anc.data.load_sample("train")  # embedded MNIST sample, works offline
```
"""

import dataclasses
import functools
import importlib.resources
import os
import warnings

import keras
import numpy as np
import tensorflow as tf

__all__ = [
    "KNOWN_DATASETS",
    "Augmentation",
    "DatasetInfo",
    "drop_labels",
    "from_arrays",
    "from_dataset",
    "info",
    "load",
    "load_sample",
]

SAMPLE_NAME = "mnist_sample"
KNOWN_DATASETS = (SAMPLE_NAME, "mnist", "fashion_mnist", "cifar10", "cifar100", "svhn_cropped")

# Per-channel mean and std of [0, 1]-scaled pixels over each train split. MNIST, Fashion-MNIST
# and CIFAR-10 were recomputed here from the full TFDS train splits (they agree to 4 decimals);
# the CIFAR-100 and SVHN values are the widely used published ones. The stds are population stds
# over all pixels, not means of per-image stds (the often-quoted CIFAR-10 (0.2023, 0.1994,
# 0.2010) is the latter).
_CANONICAL_STATS = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "svhn_cropped": ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
}
_CANONICAL_STATS[SAMPLE_NAME] = _CANONICAL_STATS["mnist"]

_STATS_SAMPLE_SIZE = 4096
_MAX_SHUFFLE_BUFFER = 60_000
_DEFAULT_SHUFFLE_BUFFER = 10_000
_AUTOTUNE = tf.data.AUTOTUNE

_stats_cache = {}


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Training-time image augmentation: random pad-and-crop and horizontal flip.

    Args:
        pad: Integer, pixels of zero padding on each side before a random crop back to the
            original size; `0` disables cropping.
        flip: Boolean, whether to flip images left-right with probability 0.5. Keep it off for
            digits, where mirroring changes the class's appearance.

    Example:

    ```python
    aug = keras_anc.data.Augmentation(pad=4, flip=True)  # the CIFAR recipe
    train = keras_anc.data.load("cifar10", augment=aug)
    [type(layer).__name__ for layer in aug.layers((32, 32, 3))]
    # ['RandomTranslation', 'RandomFlip']
    ```
    """

    pad: int = 0
    flip: bool = False

    def __post_init__(self):
        if not isinstance(self.pad, (int, np.integer)) or isinstance(self.pad, bool):
            raise ValueError(f"`pad` must be a non-negative integer. Received: pad={self.pad!r}")
        if self.pad < 0:
            raise ValueError(f"`pad` must be a non-negative integer. Received: pad={self.pad}")

    @property
    def enabled(self):
        """Whether this augmentation changes images at all."""
        return self.pad > 0 or self.flip

    def layers(self, image_shape, seed=0):
        """Builds the seeded Keras preprocessing layers that implement this augmentation.

        Args:
            image_shape: `(height, width, channels)` of the images to augment.
            seed: Integer seed; the crop uses `seed` and the flip `seed + 1`. `None` draws a
                random seed.

        Returns:
            A list of Keras layers, to be called on image batches with `training=True`.
        """
        height, width = int(image_shape[0]), int(image_shape[1])
        layers = []
        if self.pad:
            layers.append(
                keras.layers.RandomTranslation(
                    height_factor=(self.pad + 0.5) / height,
                    width_factor=(self.pad + 0.5) / width,
                    fill_mode="constant",
                    fill_value=0.0,
                    interpolation="nearest",
                    seed=seed,
                    dtype="float32",
                    name="pad_and_crop",
                )
            )
        if self.flip:
            layers.append(
                keras.layers.RandomFlip(
                    "horizontal",
                    seed=None if seed is None else seed + 1,
                    dtype="float32",
                    name="horizontal_flip",
                )
            )
        return layers


_NO_AUGMENTATION = Augmentation()
_DEFAULT_AUGMENTATION = {
    SAMPLE_NAME: _NO_AUGMENTATION,
    "mnist": _NO_AUGMENTATION,
    "fashion_mnist": _NO_AUGMENTATION,
    "cifar10": Augmentation(pad=4, flip=True),
    "cifar100": Augmentation(pad=4, flip=True),
    "svhn_cropped": Augmentation(pad=4, flip=False),
}
_AUGMENT_PRESETS = {
    "none": _NO_AUGMENTATION,
    "crop": Augmentation(pad=4),
    "crop_flip": Augmentation(pad=4, flip=True),
}


def _generic_augmentation(image_shape):
    """Default for datasets without a known recipe: pad+crop+flip for colour, none for grey."""
    if image_shape[-1] == 1:
        return _NO_AUGMENTATION
    return Augmentation(pad=max(1, round(min(image_shape[0], image_shape[1]) / 8)), flip=True)


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
    augmentation: Augmentation = _NO_AUGMENTATION
    stats_source: str = "canonical"

    @property
    def train_size(self):
        """Number of examples in the `train` split (0 if unknown)."""
        return self.splits.get("train", 0)

    @property
    def test_size(self):
        """Number of examples in the `test` split (0 if unknown)."""
        return self.splits.get("test", 0)


# ----------------------------------------------------------------------------------------------
# Dataset metadata.


def info(name, *, data_dir=None):
    """Describes a dataset: image shape, classes, normalisation statistics, split sizes.

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
        arrays = _sample_arrays()
        return DatasetInfo(
            name=SAMPLE_NAME,
            image_shape=tuple(arrays["x_train"].shape[1:]),
            num_classes=10,
            class_names=tuple(str(i) for i in range(10)),
            mean=_CANONICAL_STATS[SAMPLE_NAME][0],
            std=_CANONICAL_STATS[SAMPLE_NAME][1],
            splits={"train": len(arrays["y_train"]), "test": len(arrays["y_test"])},
            augmentation=_DEFAULT_AUGMENTATION[SAMPLE_NAME],
            stats_source="canonical (full MNIST train split)",
        )
    builder = _tfds_builder(name, data_dir)
    features = builder.info.features
    image_shape = tuple(features["image"].shape)
    if name in _CANONICAL_STATS:
        mean, std = _CANONICAL_STATS[name]
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
        augmentation=_DEFAULT_AUGMENTATION.get(name, _generic_augmentation(image_shape)),
        stats_source=stats_source,
    )


def _unknown_name_message(name, data_dir):
    where = data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets (default)"
    return (
        f"Unknown dataset name {name!r}. Known names: {', '.join(KNOWN_DATASETS)}. Any other "
        "TensorFlow Datasets image-classification name with `image` and `label` features works "
        "too (see https://www.tensorflow.org/datasets/catalog/overview). TFDS reads prepared data "
        f"from `data_dir=` or the TFDS_DATA_DIR environment variable (now: {where}); for example "
        "`export TFDS_DATA_DIR=/path/to/tensorflow_datasets`. For your own images use "
        "`keras_anc.data.from_arrays(x, y)` or `keras_anc.data.from_dataset(ds)`."
    )


def _tfds_builder(name, data_dir):
    """Returns the TFDS builder for `name`, checking it is a fixed-size image/label dataset."""
    import tensorflow_datasets as tfds

    if not isinstance(name, str) or not name.strip():
        raise ValueError(
            f"`name` must be a dataset name string. Received: {name!r}. "
            + _unknown_name_message(name, data_dir)
        )
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(_unknown_name_message(name, data_dir)) from None
    features = builder.info.features
    keys = sorted(features.keys()) if hasattr(features, "keys") else []
    if not (
        "image" in keys
        and "label" in keys
        and isinstance(features["image"], tfds.features.Image)
        and isinstance(features["label"], tfds.features.ClassLabel)
    ):
        raise ValueError(
            f"TFDS dataset {name!r} is not an image-classification dataset: keras-anc needs an "
            f"`image` (Image) feature and a `label` (ClassLabel) feature, but it has {keys}. "
            "Convert it yourself and pass it to `keras_anc.data.from_dataset(ds)`."
        )
    image_shape = tuple(features["image"].shape)
    if len(image_shape) != 3 or any(dim is None for dim in image_shape):
        raise ValueError(
            f"TFDS dataset {name!r} has images of varying size (shape {image_shape}); keras-anc "
            "pipelines need a fixed image size. Resize the images in your own `tf.data` "
            "pipeline (e.g. with `keras.layers.Resizing`) and pass it to "
            "`keras_anc.data.from_dataset(ds)`."
        )
    return builder


def _is_prepared(builder):
    return bool(builder.info.splits) and builder.is_prepared()


def _dataset_stats(builder, channels):
    """Estimates per-channel mean/std from the start of the train split (cached per process)."""
    key = (builder.name, builder.data_dir)
    if key not in _stats_cache:
        if not _is_prepared(builder):
            warnings.warn(
                f"No canonical statistics for dataset {builder.name!r} and its data is not "
                f"prepared in {builder.data_dir}, so images are only scaled to [0, 1]. Call "
                "`keras_anc.data.load(...)` (which prepares the data) before `info(...)` to get "
                "statistics estimated from the train split.",
                stacklevel=3,
            )
            return (0.0,) * channels, (1.0,) * channels, "unavailable"
        _stats_cache[key] = _estimate_stats(builder)
    return _stats_cache[key]


def _estimate_stats(builder, num_examples=_STATS_SAMPLE_SIZE):
    import tensorflow_datasets as tfds

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


# ----------------------------------------------------------------------------------------------
# The embedded MNIST sample.


@functools.lru_cache(maxsize=1)
def _sample_arrays():
    resource = importlib.resources.files("keras_anc") / "resources" / "mnist_sample.npz"
    with resource.open("rb") as f, np.load(f) as npz:
        return {key: npz[key] for key in npz.files}


def _sample_source(split):
    if split not in ("train", "test"):
        raise ValueError(
            f"The embedded {SAMPLE_NAME!r} dataset has splits 'train' (6000 images) and 'test' "
            f"(1000 images). Received: split={split!r}. Use `take=N` to read fewer examples."
        )
    arrays = _sample_arrays()
    return tf.data.Dataset.from_tensor_slices(
        (arrays[f"x_{split}"], arrays[f"y_{split}"].astype(np.int32))
    )


# ----------------------------------------------------------------------------------------------
# Public pipeline builders.


def load(
    name,
    split="train",
    *,
    batch_size=128,
    training=None,
    labels=True,
    augment=None,
    shuffle=None,
    cache=True,
    seed=0,
    data_dir=None,
    take=None,
    download=True,
    drop_remainder=False,
):
    """Builds a batched, standardised `tf.data` pipeline for an image-classification dataset.

    Args:
        name: `"mnist_sample"` (embedded, offline), `"mnist"`, `"fashion_mnist"`, `"cifar10"`,
            `"cifar100"`, `"svhn_cropped"`, or any TFDS image-classification name with `image`
            and `label` features.
        split: Split name; TFDS slicing such as `"train[:512]"` works for TFDS datasets.
        batch_size: Positive integer batch size.
        training: Whether this is a training stream (augmentation and shuffling by default).
            `None` means `split` starts with `"train"`.
        labels: If `True`, elements are `(images, labels)`; if `False`, elements are `images`
            only: the labels are removed right after reading, before caching, so a label-free
            consumer never receives them.
        augment: `None` uses the dataset's standard augmentation when `training` and none
            otherwise; `True` forces the dataset's standard augmentation; `False` or `"none"`
            disables it; `"crop"` (4-pixel pad + crop), `"crop_flip"` or an `Augmentation` set
            it explicitly.
        shuffle: Whether to shuffle examples (reshuffled each epoch). `None` means `training`.
        cache: `True` caches decoded uint8 images in memory, a string caches them to that file
            path, `False` disables caching.
        seed: Integer seed for shuffling and augmentation; equal seeds give identical streams.
        data_dir: TFDS data directory; `None` uses `TFDS_DATA_DIR` or `~/tensorflow_datasets`.
        take: Optional number of examples to keep from the start of the split.
        download: Whether TFDS may download and prepare a dataset that is not on disk.
        drop_remainder: Whether to drop the last incomplete batch (gives static batch shapes).

    Returns:
        A `tf.data.Dataset` of `(images, labels)` with float32 images of shape
        `(batch, height, width, channels)` and int32 labels of shape `(batch,)`, or of images
        only when `labels=False`.

    Example:

    ```python
    train = keras_anc.data.load("cifar10", "train[:5000]", batch_size=64, seed=1)
    x, y = next(iter(train))  # x: (64, 32, 32, 3) float32, y: (64,) int32
    ```
    """
    _check_batch_size(batch_size)
    if training is None:
        training = str(split).startswith("train")
    if name == SAMPLE_NAME:
        source = _sample_source(split)
    else:
        source = _tfds_source(name, split, data_dir, download)
    meta = info(name, data_dir=data_dir)
    return _pipeline(
        source,
        image_shape=meta.image_shape,
        scale=1.0 / 255.0,
        mean=meta.mean,
        std=meta.std,
        batch_size=batch_size,
        labels=labels,
        augmentation=_resolve_augmentation(augment, training, meta.augmentation),
        shuffle=training if shuffle is None else shuffle,
        cache=cache,
        seed=seed,
        take=take,
        drop_remainder=drop_remainder,
    )


def load_sample(split="train", **kwargs):
    """Loads the MNIST sample embedded in keras-anc (no download, no TFDS data needed).

    The sample holds 6000 training and 1000 test images of real MNIST digits, 600 and 100 per
    class (see `keras_anc/resources/MNIST_SAMPLE_README.md`).

    Args:
        split: `"train"` or `"test"`.
        **kwargs: Any keyword argument of `load()` (`batch_size`, `labels`, `seed`, ...).

    Returns:
        The `tf.data.Dataset` that `load("mnist_sample", split, **kwargs)` returns.

    Example:

    ```python
    images = keras_anc.data.load_sample("train", labels=False, batch_size=64)
    ```
    """
    return load(SAMPLE_NAME, split, **kwargs)


def from_arrays(
    x,
    y=None,
    *,
    batch_size=128,
    training=False,
    labels=None,
    augment=None,
    shuffle=None,
    cache=True,
    seed=0,
    mean=None,
    std=None,
    drop_remainder=False,
):
    """Builds the same kind of pipeline as `load()` from in-memory NumPy arrays.

    Args:
        x: Images, shape `(n, height, width, channels)` or `(n, height, width)` for grayscale.
            Integer pixels are in [0, 255]; float images are used as they are unless `mean` and
            `std` are given.
        y: Optional integer class labels, shape `(n,)` (or `(n, 1)`).
        batch_size: Positive integer batch size.
        training: Whether this is a training stream: enables shuffling by default.
        labels: Whether to yield `(images, labels)`; `None` means "if `y` was given".
        augment: `None` or `False` for no augmentation; `True` for pad+crop+flip on colour
            images and none on grayscale; `"crop"`, `"crop_flip"` or an `Augmentation`.
        shuffle: Whether to shuffle (reshuffled each epoch). `None` means `training`.
        cache: Whether to cache the source tensors (cheap for arrays; kept for symmetry).
        seed: Integer seed for shuffling and augmentation.
        mean: Per-channel mean of [0, 1]-scaled pixels (or of the float images). `None` with
            integer images computes it from `x`; `None` with float images skips standardisation.
        std: Per-channel standard deviation matching `mean`.
        drop_remainder: Whether to drop the last incomplete batch.

    Returns:
        A `tf.data.Dataset` of `(images, labels)` or of images only.

    Example:

    ```python
    (x, y), _ = keras.datasets.mnist.load_data()
    train = keras_anc.data.from_arrays(x, y, training=True)
    ```
    """
    _check_batch_size(batch_size)
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(
            "`x` must be a non-empty array of images with shape (n, height, width, channels) "
            f"or (n, height, width). Received: x.shape={x.shape}."
        )
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise ValueError(f"`x` must hold integer or float pixels. Received: x.dtype={x.dtype}.")
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(
                "`y` must be integer class labels with shape (n,) or (n, 1); convert one-hot "
                f"labels with `y.argmax(-1)`. Received: y.shape={y.shape}, y.dtype={y.dtype}."
            )
        if len(y) != len(x):
            raise ValueError(
                f"`x` and `y` must have the same length. Received: len(x)={len(x)}, "
                f"len(y)={len(y)}."
            )
    if labels is None:
        labels = y is not None
    if labels and y is None:
        raise ValueError(
            "`labels=True` needs labels: pass `y`, or use `labels=False` for an image-only stream."
        )
    integer = np.issubdtype(x.dtype, np.integer)
    if (mean is None) != (std is None):
        raise ValueError("Pass both `mean` and `std`, or neither.")
    if mean is None and integer:
        pixels = x.reshape(-1, x.shape[-1]).astype(np.float64) / 255.0
        mean, std = pixels.mean(axis=0), np.maximum(pixels.std(axis=0), 1e-3)
    if integer and x.dtype != np.uint8:
        x = np.clip(x, 0, 255).astype(np.uint8)
    source = (
        tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32)))
        if labels
        else tf.data.Dataset.from_tensor_slices(x)
    )
    return _pipeline(
        source,
        image_shape=x.shape[1:],
        scale=1.0 / 255.0 if integer else 1.0,
        mean=mean,
        std=std,
        batch_size=batch_size,
        labels=labels,
        augmentation=_resolve_augmentation(augment, False, _generic_augmentation(x.shape[1:])),
        shuffle=training if shuffle is None else shuffle,
        cache=cache,
        seed=seed,
        take=None,
        drop_remainder=drop_remainder,
    )


def from_dataset(
    ds,
    *,
    batch_size=128,
    training=False,
    labels=None,
    augment=None,
    shuffle=None,
    cache=False,
    seed=0,
    mean=None,
    std=None,
    drop_remainder=False,
):
    """Builds the same kind of pipeline as `load()` from a user `tf.data.Dataset`.

    Args:
        ds: A `tf.data.Dataset` of images, `(images, labels)` or `(images, labels, weights)`
            (weights are dropped). Images have shape `(height, width, channels)` or
            `(height, width)`; a batched dataset (rank-4 images) is unbatched and re-batched to
            `batch_size`. Height and width must be fixed.
        batch_size: Positive integer batch size.
        training: Whether this is a training stream: enables shuffling by default.
        labels: Whether to yield `(images, labels)`; `None` means "if `ds` has labels".
        augment: As in `from_arrays()`.
        shuffle: Whether to shuffle (reshuffled each epoch). `None` means `training`.
        cache: `True` caches in memory, a string caches to that file, `False` does not cache.
        seed: Integer seed for shuffling and augmentation.
        mean: Per-channel mean of [0, 1]-scaled pixels (or of float images); `None` skips
            standardisation (integer pixels are still scaled to [0, 1]).
        std: Per-channel standard deviation matching `mean`.
        drop_remainder: Whether to drop the last incomplete batch.

    Returns:
        A `tf.data.Dataset` of `(images, labels)` or of images only.

    Example:

    ```python
    raw = tfds.load("mnist", split="train", as_supervised=True)
    train = keras_anc.data.from_dataset(raw, training=True, mean=(0.1307,), std=(0.3081,))
    ```
    """
    _check_batch_size(batch_size)
    if not isinstance(ds, tf.data.Dataset):
        raise ValueError(
            "`ds` must be a `tf.data.Dataset`; use `from_arrays()` for NumPy arrays. "
            f"Received: {type(ds).__name__}."
        )
    spec = ds.element_spec
    if isinstance(spec, tf.TensorSpec):
        has_labels = False
        image_spec = spec
    elif isinstance(spec, tuple) and 1 <= len(spec) <= 3 and isinstance(spec[0], tf.TensorSpec):
        has_labels = len(spec) >= 2
        image_spec = spec[0]
        ds = ds.map(lambda *e: e[:2] if has_labels else e[0])
    else:
        raise ValueError(
            "`ds` elements must be `images`, `(images, labels)` or `(images, labels, weights)` "
            f"with a tensor of images. Received element_spec={spec}. Map dict elements to "
            "tuples first, e.g. `ds.map(lambda e: (e['image'], e['label']))`."
        )
    if image_spec.shape.rank == 4:
        ds = ds.unbatch()
        image_spec = tf.TensorSpec(image_spec.shape[1:], image_spec.dtype)
    if image_spec.shape.rank == 2:
        ds = ds.map(lambda x, *y: (x[..., None], *y) if y else x[..., None])
        image_spec = tf.TensorSpec(image_spec.shape.concatenate([1]), image_spec.dtype)
    image_shape = tuple(image_spec.shape)
    if len(image_shape) != 3 or any(dim is None for dim in image_shape):
        raise ValueError(
            "`ds` images must have a fixed shape (height, width, channels) or (height, width); "
            f"received {image_spec.shape}. Resize them first, e.g. with "
            "`keras.layers.Resizing`."
        )
    if labels is None:
        labels = has_labels
    if labels and not has_labels:
        raise ValueError(
            "`labels=True` but `ds` has no labels. Use `labels=False` for an image-only stream."
        )
    if has_labels:
        ds = ds.map(lambda x, y: (x, tf.cast(y, tf.int32)) if labels else x)
    if (mean is None) != (std is None):
        raise ValueError("Pass both `mean` and `std`, or neither.")
    integer = image_spec.dtype.is_integer
    return _pipeline(
        ds,
        image_shape=image_shape,
        scale=1.0 / 255.0 if integer else 1.0,
        mean=mean,
        std=std,
        batch_size=batch_size,
        labels=labels,
        augmentation=_resolve_augmentation(augment, False, _generic_augmentation(image_shape)),
        shuffle=training if shuffle is None else shuffle,
        cache=cache,
        seed=seed,
        take=None,
        drop_remainder=drop_remainder,
    )


def drop_labels(ds):
    """Removes labels (and sample weights) from a dataset, keeping only the inputs.

    Args:
        ds: A `tf.data.Dataset` of `(x, y)` or `(x, y, sample_weight)` tuples. A dataset whose
            elements are single tensors is returned unchanged.

    Returns:
        A `tf.data.Dataset` whose elements are `x` alone.

    Example:

    ```python
    images = keras_anc.data.drop_labels(keras_anc.data.load("mnist"))
    images.element_spec  # TensorSpec(shape=(None, 28, 28, 1), dtype=tf.float32, name=None)
    ```
    """
    spec = ds.element_spec
    if isinstance(spec, (tf.TensorSpec, tf.RaggedTensorSpec, tf.SparseTensorSpec)):
        return ds
    if isinstance(spec, tuple) and 2 <= len(spec) <= 3:
        return ds.map(lambda *e: e[0], num_parallel_calls=_AUTOTUNE, deterministic=True)
    raise ValueError(
        "`drop_labels` expects elements that are `(x, y)` or `(x, y, sample_weight)` tuples, or "
        f"single tensors. Received element_spec={spec}."
    )


# ----------------------------------------------------------------------------------------------
# Pipeline internals.


def _check_batch_size(batch_size):
    if (
        not isinstance(batch_size, (int, np.integer))
        or isinstance(batch_size, bool)
        or batch_size < 1
    ):
        raise ValueError(f"`batch_size` must be a positive integer. Received: {batch_size!r}.")


def _resolve_augmentation(augment, training, default):
    if augment is None:
        return default if training else _NO_AUGMENTATION
    if augment is True:
        return default
    if augment is False:
        return _NO_AUGMENTATION
    if isinstance(augment, Augmentation):
        return augment
    if isinstance(augment, str) and augment in _AUGMENT_PRESETS:
        return _AUGMENT_PRESETS[augment]
    raise ValueError(
        "`augment` must be None (dataset default when training), True, False, one of "
        f"{sorted(_AUGMENT_PRESETS)} or a `keras_anc.data.Augmentation`. Received: {augment!r}."
    )


def _tfds_source(name, split, data_dir, download):
    """Reads `(uint8 image, int32 label)` pairs from TFDS in a fixed order."""
    import tensorflow_datasets as tfds

    builder = _tfds_builder(name, data_dir)
    if not download and not _is_prepared(builder):
        raise ValueError(
            f"Dataset {name!r} is not prepared in {builder.data_dir} and `download=False`. Point "
            "TFDS at a directory that holds it (`data_dir=` or the TFDS_DATA_DIR environment "
            "variable), or pass `download=True`."
        )
    ds = tfds.load(
        name,
        split=split,
        data_dir=data_dir,
        download=download,
        shuffle_files=False,
        decoders=tfds.decode.PartialDecoding({"image": True, "label": True}),
    )
    return ds.map(
        lambda e: (e["image"], tf.cast(e["label"], tf.int32)),
        num_parallel_calls=_AUTOTUNE,
        deterministic=True,
    )


def raw(name, split="test", *, take=None, data_dir=None, download=True):
    """Unbatched `(uint8 image, int32 label)` pairs, before any preprocessing.

    What a deployed model with baked-in preprocessing receives from clients; used to check
    exported artefacts against the Keras model on the same images.

    Args:
        name: `"mnist_sample"` or a TFDS image-classification name.
        split: Split to read (TFDS split syntax, e.g. `"test[:1000]"`).
        take: Optional number of examples to keep.
        data_dir: TFDS data directory.
        download: Whether TFDS may download a dataset missing from `data_dir`.

    Returns:
        A `tf.data.Dataset` in the dataset's fixed order.

    Example:

    ```python
    images_and_labels = keras_anc.data.raw("mnist_sample", "test")
    ```
    """
    if name == SAMPLE_NAME:
        ds = _sample_source(split)
    else:
        info(name, data_dir=data_dir)  # validates the name with a helpful message
        ds = _tfds_source(name, split, data_dir, download)
    return ds.take(take) if take is not None else ds


def _pipeline(
    source,
    *,
    image_shape,
    scale,
    mean,
    std,
    batch_size,
    labels,
    augmentation,
    shuffle,
    cache,
    seed,
    take,
    drop_remainder,
):
    """cache -> shuffle -> batch -> augment -> standardise -> prefetch, deterministically."""
    ds = source
    if take is not None:
        if not isinstance(take, (int, np.integer)) or take < 1:
            raise ValueError(f"`take` must be a positive integer or None. Received: {take!r}.")
        ds = ds.take(int(take))
    if not labels and isinstance(ds.element_spec, tuple):
        ds = ds.map(lambda x, y: x, num_parallel_calls=_AUTOTUNE, deterministic=True)
    if cache:
        ds = ds.cache() if cache is True else ds.cache(os.fspath(cache))
    if shuffle:
        count = int(ds.cardinality())
        buffer = min(count, _MAX_SHUFFLE_BUFFER) if count > 0 else _DEFAULT_SHUFFLE_BUFFER
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(
        batch_size,
        drop_remainder=drop_remainder,
        num_parallel_calls=_AUTOTUNE,
        deterministic=True,
    )

    layers = augmentation.layers(image_shape, seed=seed)
    if layers:

        def augment_batch(x, *y):
            for layer in layers:
                x = layer(x, training=True)
            return (x, *y) if y else x

        # One thread on purpose: the seeded layers advance a shared seed state on each call,
        # so parallel calls would make the random stream depend on thread timing.
        ds = ds.map(augment_batch)

    channels = image_shape[-1]
    offset = np.zeros(channels, np.float32) if mean is None else np.asarray(mean, np.float32)
    divisor = np.ones(channels, np.float32) if std is None else np.asarray(std, np.float32)
    if offset.shape not in ((1,), (channels,)) or divisor.shape not in ((1,), (channels,)):
        raise ValueError(
            f"`mean` and `std` must have one value per channel ({channels}). Received: "
            f"mean={mean!r}, std={std!r}."
        )
    if np.any(divisor <= 0):
        raise ValueError(f"`std` must be positive. Received: std={std!r}.")
    multiplier = np.float32(scale) / divisor
    shift = offset / divisor

    def standardise(x, *y):
        x = tf.cast(x, tf.float32) * multiplier - shift
        return (x, *y) if y else x

    ds = ds.map(standardise, num_parallel_calls=_AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.deterministic = True
    return ds.with_options(options).prefetch(_AUTOTUNE)
