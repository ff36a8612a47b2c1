"""Function matching: label-free streams of aggressively augmented, mixed images.

Beyer et al. (2022) distil best when teacher and student see the *same* view of every image,
when the views are aggressively augmented and mixed (mixup or cutmix), and when training is
long. The teacher gives targets for any input, so a mixed image needs no label: the student
matches the teacher's function on the inputs, not a class label that cannot follow a mixed
image. keras-anc's distillers (`AdversarialDistiller`, `MimicDistiller`,
`keras.distillation.Distiller`) run teacher and student on the same batch `x`, so augmenting
and mixing in the data pipeline, before the training step, gives the same view to both.

Two ways to get such a stream:

- `keras_anc.data.load(..., labels=False, augment="aggressive", mixing="mixup")` (also
  `from_arrays()` and `from_dataset()`): augmentation and mixing run on raw pixels, before
  standardisation.
- `function_matching(ds)` on any label-free stream of image batches.

Mixing is refused on streams with labels: mixed images would keep the labels of the unmixed
ones. Streams that hold random augmentation are marked (`keras_anc.data.is_augmented(ds)`), so
that consumers which would freeze one random view, such as a teacher-output cache, can refuse
them.

Reference:
    Beyer et al., "Knowledge distillation: A good teacher is patient and consistent",
    CVPR 2022 (https://arxiv.org/abs/2106.05237).
"""

import keras
import numpy as np
import tensorflow as tf

from keras_anc.data.augmentation import (
    NO_AUGMENTATION,
    describe_augmentation,
    mark_augmented,
    resolve_augmentation,
)

# The values `mixing=` accepts, besides `None`.
MIXING_MODES = ("mixup", "cutmix")
# Beta(1, 1): mixing weights (mixup) and kept areas (cutmix) uniform in [0, 1].
DEFAULT_MIXING_ALPHA = 1.0
# Mixing layers are seeded with `seed + MIXING_SEED_OFFSET`: the `Augmentation` layers of the
# same pipeline use `seed` to `seed + 3`.
MIXING_SEED_OFFSET = 4


def check_mixing(mixing, mixing_alpha, labels=False):
    """Validates the `mixing=` and `mixing_alpha=` arguments of the pipeline builders.

    Args:
        mixing: `None`, `"mixup"` or `"cutmix"`.
        mixing_alpha: Positive float, the Beta(alpha, alpha) parameter; at most 1 for cutmix.
        labels: Whether the stream yields labels; mixing is refused if so.

    Returns:
        `(mixing, mixing_alpha)` with `mixing_alpha` as a float.

    Example:

    ```python
    check_mixing("cutmix", 1.0)  # ('cutmix', 1.0)
    check_mixing("mixup", 1.0, labels=True)  # ValueError: `mixing='mixup'` mixes the images ...
    ```
    """
    if mixing is not None and mixing not in MIXING_MODES:
        raise ValueError(
            f"`mixing` must be None, 'mixup' or 'cutmix'. Received: mixing={mixing!r}."
        )
    valid = (
        isinstance(mixing_alpha, (int, float, np.integer, np.floating))
        and not isinstance(mixing_alpha, bool)
        and np.isfinite(mixing_alpha)
        and mixing_alpha > 0
    )
    if not valid or (mixing == "cutmix" and mixing_alpha > 1):
        limit = "in (0, 1] for cutmix" if mixing == "cutmix" else "positive"
        raise ValueError(
            f"`mixing_alpha` must be a number {limit} (the Beta(alpha, alpha) parameter of the "
            f"mixing weights; 1.0 makes them uniform). Received: mixing_alpha={mixing_alpha!r}."
        )
    if mixing is not None and labels:
        raise ValueError(
            f"`mixing={mixing!r}` mixes the images of a batch, so class labels would no longer "
            "match them: mixing is for label-free streams whose targets come from a teacher "
            "(function matching). Pass `labels=False`, or `mixing=None` to keep labels. "
            f"Received: mixing={mixing!r}, labels={labels!r}."
        )
    return mixing, float(mixing_alpha)


def mixing_layer(mixing, mixing_alpha=DEFAULT_MIXING_ALPHA, seed=0):
    """The seeded Keras layer that mixes the images of a batch, or `None` for no mixing.

    Args:
        mixing: `None`, `"mixup"` (`keras.layers.MixUp`: each image becomes `w * x_i +
            (1 - w) * x_j` with `w ~ Beta(alpha, alpha)` and `j` a random permutation of the
            batch) or `"cutmix"` (`keras.layers.CutMix`: a random rectangle covering a
            `1 - w` share of the image is pasted from `x_j`).
        mixing_alpha: The Beta parameter; `1.0` gives uniform weights.
        seed: Integer seed of the layer (the pipelines pass their `seed + 4`); `None` draws a
            random seed.

    Returns:
        A Keras layer to call on image batches with `training=True`, or `None`.

    Example:

    ```python
    layer = mixing_layer("mixup", seed=4)
    mixed = layer(np.random.uniform(size=(8, 28, 28, 1)), training=True)
    ```
    """
    mixing, mixing_alpha = check_mixing(mixing, mixing_alpha)
    if mixing == "mixup":
        return keras.layers.MixUp(alpha=mixing_alpha, seed=seed, dtype="float32", name="mixup")
    if mixing == "cutmix":
        return keras.layers.CutMix(
            factor=(mixing_alpha, mixing_alpha), seed=seed, dtype="float32", name="cutmix"
        )
    return None


def mixing_seed(seed):
    """The seed of a pipeline's mixing layer: `seed + 4` (`None` stays `None`).

    Args:
        seed: The pipeline's integer seed, or `None`.

    Returns:
        An integer or `None`.

    Example:

    ```python
    mixing_seed(0)  # 4
    ```
    """
    return None if seed is None else int(seed) + MIXING_SEED_OFFSET


def function_matching(
    ds, *, mixing="mixup", mixing_alpha=DEFAULT_MIXING_ALPHA, augment=None, seed=0
):
    """Turns a label-free stream of image batches into a function-matching stream.

    Every batch is augmented per image (if `augment` is set) and then mixed within the
    batch (mixup or cutmix). Train a distiller on the result: its teacher and student both
    see each mixed view, and the teacher's outputs on it are the targets, so no labels are
    needed (and none are accepted). Pair it with a long schedule: the views never repeat, so
    the student keeps improving for many more epochs than on plain data.

    `keras_anc.data.load(..., labels=False, augment="aggressive", mixing="mixup")` builds the
    same kind of stream in one call and augments raw pixels (black padding); this function
    works on any label-free stream, typically already standardised, where the padding of the
    geometric augmentation is 0 in the stream's units (the mean pixel when standardised).
    Mixing commutes with standardisation, so it is exact either way.

    Args:
        ds: A `tf.data.Dataset` of image batches, shape `(batch, height, width, channels)`,
            with no labels (e.g. `keras_anc.data.load(name, "train", labels=False)`). Images
            are mixed within each batch, so batches of at least 2 images are needed for
            mixing to do anything.
        mixing: `"mixup"` (default), `"cutmix"`, or `None` for augmentation only.
        mixing_alpha: Beta(alpha, alpha) parameter of the mixing weights (mixup) or of the
            area kept (cutmix, at most 1). `1.0` (default) draws them uniformly from [0, 1].
        augment: Per-image augmentation applied before mixing: `None` or `False` for none,
            `"aggressive"` (`keras_anc.data.augmentation.aggressive_augmentation`),
            `"crop"`, `"crop_flip"` or a `keras_anc.data.Augmentation`.
        seed: Integer seed; equal seeds on equal input streams give identical batches.

    Returns:
        A `tf.data.Dataset` of float32 image batches of the input's shape, marked as augmented
        (`keras_anc.data.is_augmented` returns `True`).

    Example:

    ```python
    images = keras_anc.data.load("fashion_mnist", "train", labels=False)
    views = keras_anc.data.function_matching(images, mixing="mixup", augment="aggressive")
    model = keras_anc.methods.make_method("anc", teacher, student)
    model.fit(views, epochs=100)  # patient: many epochs of views that never repeat
    ```

    Reference:
        Beyer et al., "Knowledge distillation: A good teacher is patient and consistent",
        CVPR 2022 (https://arxiv.org/abs/2106.05237).
    """
    if not isinstance(ds, tf.data.Dataset):
        raise ValueError(
            "`ds` must be a `tf.data.Dataset` of image batches; build one with "
            "`keras_anc.data.from_arrays(x, labels=False)` for arrays. "
            f"Received: ds of type {type(ds).__name__}."
        )
    spec = ds.element_spec
    if not isinstance(spec, tf.TensorSpec):
        raise ValueError(
            "`function_matching` needs a label-free stream of image batches: it mixes the "
            "images of a batch, so labels would no longer match them, and the teacher gives "
            "the targets instead. Remove them first, e.g. with `keras_anc.data.drop_labels(ds)` "
            f"or `keras_anc.data.load(..., labels=False)`. Received: element_spec={spec}."
        )
    if spec.shape.rank != 4 or any(dim is None for dim in spec.shape[1:]):
        raise ValueError(
            "`ds` must yield batches of images with shape (batch, height, width, channels) and "
            "a fixed image size; batch an unbatched stream first, e.g. `ds.batch(128)`. "
            f"Received: element_spec={spec}."
        )
    if not (spec.dtype.is_floating or spec.dtype.is_integer):
        raise ValueError(f"`ds` must yield integer or float images. Received: {spec.dtype}.")
    mixing, mixing_alpha = check_mixing(mixing, mixing_alpha)
    image_shape = tuple(spec.shape[1:])
    augmentation = resolve_augmentation(augment, False, NO_AUGMENTATION, image_shape=image_shape)
    if not augmentation.enabled and mixing is None:
        raise ValueError(
            "`function_matching` with `mixing=None` and no augmentation would not change the "
            "stream. Pass `mixing='mixup'` or `'cutmix'`, and/or `augment='aggressive'`. "
            f"Received: mixing={mixing!r}, augment={augment!r}."
        )
    layers = augmentation.layers(image_shape, seed=seed)
    mixer = mixing_layer(mixing, mixing_alpha, seed=mixing_seed(seed))
    if mixer is not None:
        layers.append(mixer)

    def views(x):
        x = tf.cast(x, tf.float32)
        for layer in layers:
            x = layer(x, training=True)
        return x

    # One thread on purpose: the seeded layers advance a shared seed state on each call, so
    # parallel calls would make the random stream depend on thread timing.
    ds = ds.map(views).prefetch(tf.data.AUTOTUNE)
    return mark_augmented(ds, describe_augmentation(augmentation, mixing, mixing_alpha))
