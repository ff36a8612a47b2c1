"""Batched, standardised `tf.data` pipelines: from TFDS names, NumPy arrays or a `tf.data.Dataset`.

Every pipeline yields batches of float32 images standardised with per-channel statistics and,
unless `labels=False`, int32 class labels. The stage order is: decode -> cache (uint8) -> shuffle
-> batch -> augment -> mix (label-free streams only) -> standardise -> prefetch. Augmentation
and mixing run on raw pixels, so the padding is black as in the reference implementations, and
the cache holds uint8 images (4x less memory than float32).

The seeded Keras augmentation layers keep a seed state that advances with each call, so the
augmentation map runs on one thread to keep the random stream reproducible; it handles whole
batches, so a cached CIFAR-10 epoch still streams at ~12k images/s on 2 CPU cores, far above
training speed. Other stages run in parallel, with deterministic order.
"""

import os

import numpy as np
import tensorflow as tf

from keras_anc.data._catalog import SAMPLE_NAME
from keras_anc.data.augmentation import (
    describe_augmentation,
    generic_augmentation,
    mark_augmented,
    resolve_augmentation,
)
from keras_anc.data.dataset_info import info
from keras_anc.data.function_matching import (
    DEFAULT_MIXING_ALPHA,
    check_mixing,
    mixing_layer,
    mixing_seed,
)
from keras_anc.data.sample import sample_source
from keras_anc.data.tfds_source import read_tfds

AUTOTUNE = tf.data.AUTOTUNE
_MAX_SHUFFLE_BUFFER = 60_000
_DEFAULT_SHUFFLE_BUFFER = 10_000


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
    download=None,
    drop_remainder=False,
    mixing=None,
    mixing_alpha=DEFAULT_MIXING_ALPHA,
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
            disables it; `"crop"` (4-pixel pad + crop), `"crop_flip"`, `"aggressive"` (pad +
            crop, zoom, rotation, flip for colour images: for function matching) or an
            `Augmentation` set it explicitly.
        shuffle: Whether to shuffle examples (reshuffled each epoch). `None` means `training`.
        cache: `True` caches decoded uint8 images in memory, a string caches them to that file
            path, `False` disables caching.
        seed: Integer seed for shuffling and augmentation; equal seeds give identical streams.
        data_dir: TFDS data directory; `None` uses `TFDS_DATA_DIR` or `~/tensorflow_datasets`.
        take: Optional number of examples to keep from the start of the split.
        download: Whether TFDS may download and prepare a dataset missing from the data
            directory. `None` (default) downloads only when that can work, decided within
            seconds (the data directory exists or is TFDS's default, `KERAS_ANC_OFFLINE` is
            not set, the download hosts answer), and otherwise fails at once with a
            `DatasetNotPreparedError` saying how to provide the data; `True` always lets TFDS
            try (without network it retries for minutes); `False` never downloads.
        drop_remainder: Whether to drop the last incomplete batch (gives static batch shapes).
        mixing: `None` (default), `"mixup"` or `"cutmix"`: mix the (augmented) images of each
            batch, for function matching (see `keras_anc.data.function_matching`). Needs
            `labels=False`: a label cannot follow a mixed image, a teacher can.
        mixing_alpha: Beta(alpha, alpha) parameter of the mixing weights (mixup) or of the
            area kept (cutmix, at most 1); `1.0` draws them uniformly from [0, 1].

    Returns:
        A `tf.data.Dataset` of `(images, labels)` with float32 images of shape
        `(batch, height, width, channels)` and int32 labels of shape `(batch,)`, or of images
        only when `labels=False`. Streams with random augmentation or mixing are marked:
        `keras_anc.data.is_augmented(ds)` is `True` for them.

    Example:

    ```python
    train = keras_anc.data.load("cifar10", "train[:5000]", batch_size=64, seed=1)
    x, y = next(iter(train))  # x: (64, 32, 32, 3) float32, y: (64,) int32
    views = keras_anc.data.load(
        "cifar10", "train", labels=False, augment="aggressive", mixing="mixup"
    )  # function matching: a teacher gives the targets of the mixed images
    ```

    Reference:
        Function matching: Beyer et al., "Knowledge distillation: A good teacher is patient
        and consistent", CVPR 2022 (https://arxiv.org/abs/2106.05237).
    """
    _check_batch_size(batch_size)
    mixing, mixing_alpha = check_mixing(mixing, mixing_alpha, labels)
    if training is None:
        training = str(split).startswith("train")
    if name == SAMPLE_NAME:
        source = sample_source(split)
    else:
        source = read_tfds(name, split, data_dir=data_dir, download=download)
    meta = info(name, data_dir=data_dir)
    return _pipeline(
        source,
        image_shape=meta.image_shape,
        scale=1.0 / 255.0,
        mean=meta.mean,
        std=meta.std,
        batch_size=batch_size,
        labels=labels,
        augmentation=resolve_augmentation(
            augment, training, meta.augmentation, image_shape=meta.image_shape
        ),
        shuffle=training if shuffle is None else shuffle,
        cache=cache,
        seed=seed,
        take=take,
        drop_remainder=drop_remainder,
        mixing=mixing,
        mixing_alpha=mixing_alpha,
    )


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
    mixing=None,
    mixing_alpha=DEFAULT_MIXING_ALPHA,
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
            images and none on grayscale; `"crop"`, `"crop_flip"`, `"aggressive"` or an
            `Augmentation`.
        shuffle: Whether to shuffle (reshuffled each epoch). `None` means `training`.
        cache: Whether to cache the source tensors (cheap for arrays; kept for symmetry).
        seed: Integer seed for shuffling and augmentation.
        mean: Per-channel mean of [0, 1]-scaled pixels (or of the float images). `None` with
            integer images computes it from `x`; `None` with float images skips standardisation.
        std: Per-channel standard deviation matching `mean`.
        drop_remainder: Whether to drop the last incomplete batch.
        mixing: `None`, `"mixup"` or `"cutmix"`, as in `load()`; needs a label-free stream.
        mixing_alpha: As in `load()`.

    Returns:
        A `tf.data.Dataset` of `(images, labels)` or of images only.

    Example:

    ```python
    (x, y), _ = keras.datasets.mnist.load_data()
    train = keras_anc.data.from_arrays(x, y, training=True)
    views = keras_anc.data.from_arrays(x, training=True, augment="aggressive", mixing="cutmix")
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
    mixing, mixing_alpha = check_mixing(mixing, mixing_alpha, labels)
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
        augmentation=resolve_augmentation(
            augment, False, generic_augmentation(x.shape[1:]), image_shape=x.shape[1:]
        ),
        shuffle=training if shuffle is None else shuffle,
        cache=cache,
        seed=seed,
        take=None,
        drop_remainder=drop_remainder,
        mixing=mixing,
        mixing_alpha=mixing_alpha,
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
    mixing=None,
    mixing_alpha=DEFAULT_MIXING_ALPHA,
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
        mixing: `None`, `"mixup"` or `"cutmix"`, as in `load()`; needs a label-free stream
            (`labels=False`, or `ds` without labels).
        mixing_alpha: As in `load()`.

    Returns:
        A `tf.data.Dataset` of `(images, labels)` or of images only.

    Example:

    ```python
    raw = tfds.load("mnist", split="train", as_supervised=True)
    train = keras_anc.data.from_dataset(raw, training=True, mean=(0.1307,), std=(0.3081,))
    views = keras_anc.data.from_dataset(raw, training=True, labels=False, mixing="mixup")
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
    mixing, mixing_alpha = check_mixing(mixing, mixing_alpha, labels)
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
        augmentation=resolve_augmentation(
            augment, False, generic_augmentation(image_shape), image_shape=image_shape
        ),
        shuffle=training if shuffle is None else shuffle,
        cache=cache,
        seed=seed,
        take=None,
        drop_remainder=drop_remainder,
        mixing=mixing,
        mixing_alpha=mixing_alpha,
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
        return ds.map(lambda *e: e[0], num_parallel_calls=AUTOTUNE, deterministic=True)
    raise ValueError(
        "`drop_labels` expects elements that are `(x, y)` or `(x, y, sample_weight)` tuples, or "
        f"single tensors. Received element_spec={spec}."
    )


def _check_batch_size(batch_size):
    if (
        not isinstance(batch_size, (int, np.integer))
        or isinstance(batch_size, bool)
        or batch_size < 1
    ):
        raise ValueError(f"`batch_size` must be a positive integer. Received: {batch_size!r}.")


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
    mixing=None,
    mixing_alpha=DEFAULT_MIXING_ALPHA,
):
    """cache -> shuffle -> batch -> augment -> mix -> standardise -> prefetch, deterministically."""
    ds = source
    if take is not None:
        if not isinstance(take, (int, np.integer)) or take < 1:
            raise ValueError(f"`take` must be a positive integer or None. Received: {take!r}.")
        ds = ds.take(int(take))
    if not labels and isinstance(ds.element_spec, tuple):
        ds = ds.map(lambda x, y: x, num_parallel_calls=AUTOTUNE, deterministic=True)
    if cache:
        ds = ds.cache() if cache is True else ds.cache(os.fspath(cache))
    if shuffle:
        count = int(ds.cardinality())
        buffer = min(count, _MAX_SHUFFLE_BUFFER) if count > 0 else _DEFAULT_SHUFFLE_BUFFER
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(
        batch_size,
        drop_remainder=drop_remainder,
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )

    layers = augmentation.layers(image_shape, seed=seed)
    mixer = mixing_layer(mixing, mixing_alpha, seed=mixing_seed(seed))
    if mixer is not None:
        layers.append(mixer)  # after the per-image augmentation, on raw pixels (labels=False)
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

    ds = ds.map(standardise, num_parallel_calls=AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.deterministic = True
    ds = ds.with_options(options).prefetch(AUTOTUNE)
    return mark_augmented(ds, describe_augmentation(augmentation, mixing, mixing_alpha))
