"""Training-time image augmentation (`Augmentation`) and the per-dataset presets.

Pad-and-crop is done by `keras.layers.RandomTranslation` with nearest-neighbour sampling, zero
fill and a range of `(pad + 0.5) / size`: rounding a uniform shift in that range gives each integer
offset in `[-pad, pad]` with equal probability, which is exactly the distribution of a random
crop of an image zero-padded by `pad` pixels, but per image inside a batch
(`keras.layers.RandomCrop` crops a whole batch at one location).

| dataset | training augmentation |
|---|---|
| `mnist`, `mnist_sample`, `fashion_mnist` | none |
| `cifar10`, `cifar100` | 4-pixel pad + random crop + h-flip |
| `svhn_cropped` | 4-pixel pad + random crop (no flip) |
| other colour images | pad (1/8 of the side) + crop + flip |
| other grayscale images | none |

`augment="aggressive"` (`aggressive_augmentation()`) adds a random zoom and rotation to the
pad-and-crop (and the flip, for colour images): the heavier augmentation that function matching
(`keras_anc.data.function_matching`) pairs with mixing, for label-free streams whose targets
come from a teacher.
"""

import contextlib
import dataclasses

import keras
import numpy as np

from keras_anc.data._catalog import SAMPLE_NAME


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Training-time image augmentation: random pad-and-crop, flip, zoom and rotation.

    Args:
        pad: Integer, pixels of zero padding on each side before a random crop back to the
            original size; `0` disables cropping.
        flip: Boolean, whether to flip images left-right with probability 0.5. Keep it off for
            digits, where mirroring changes the class's appearance.
        zoom: Float in [0, 1), the largest relative zoom in or out (`keras.layers.RandomZoom`
            with `height_factor=(-zoom, zoom)`, aspect ratio kept, zero fill); `0` disables it.
        rotation: Float in [0, 0.5], the largest rotation as a fraction of a full turn
            (`keras.layers.RandomRotation(rotation)`, zero fill); `0` disables it.

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
    zoom: float = 0.0
    rotation: float = 0.0

    def __post_init__(self):
        if not isinstance(self.pad, (int, np.integer)) or isinstance(self.pad, bool):
            raise ValueError(f"`pad` must be a non-negative integer. Received: pad={self.pad!r}")
        if self.pad < 0:
            raise ValueError(f"`pad` must be a non-negative integer. Received: pad={self.pad}")
        for field, high, closed in (("zoom", 1.0, False), ("rotation", 0.5, True)):
            value = getattr(self, field)
            valid = (
                isinstance(value, (int, float, np.integer, np.floating))
                and not isinstance(value, bool)
                and value >= 0.0
                and (value <= high if closed else value < high)
            )
            if not valid:
                interval = f"[0, {high}]" if closed else f"[0, {high})"
                raise ValueError(
                    f"`{field}` must be a number in {interval}. Received: {field}={value!r}"
                )

    @property
    def enabled(self):
        """Whether this augmentation changes images at all."""
        return self.pad > 0 or self.flip or self.zoom > 0 or self.rotation > 0

    def layers(self, image_shape, seed=0):
        """Builds the seeded Keras preprocessing layers that implement this augmentation.

        Args:
            image_shape: `(height, width, channels)` of the images to augment.
            seed: Integer seed; the crop uses `seed`, the flip `seed + 1`, the zoom `seed + 2`
                and the rotation `seed + 3`. `None` draws a random seed.

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
        if self.zoom:
            layers.append(
                keras.layers.RandomZoom(
                    height_factor=(-float(self.zoom), float(self.zoom)),
                    fill_mode="constant",
                    fill_value=0.0,
                    seed=None if seed is None else seed + 2,
                    dtype="float32",
                    name="zoom",
                )
            )
        if self.rotation:
            layers.append(
                keras.layers.RandomRotation(
                    float(self.rotation),
                    fill_mode="constant",
                    fill_value=0.0,
                    seed=None if seed is None else seed + 3,
                    dtype="float32",
                    name="rotation",
                )
            )
        return layers


NO_AUGMENTATION = Augmentation()

# Named presets accepted by `augment="..."`.
PRESETS = {
    "none": NO_AUGMENTATION,
    "crop": Augmentation(pad=4),
    "crop_flip": Augmentation(pad=4, flip=True),
}

# The preset name of `aggressive_augmentation()`, which depends on the image shape.
AGGRESSIVE = "aggressive"

# The standard recipe of each known dataset in the knowledge-distillation literature.
DATASET_DEFAULTS = {
    SAMPLE_NAME: NO_AUGMENTATION,
    "mnist": NO_AUGMENTATION,
    "fashion_mnist": NO_AUGMENTATION,
    "cifar10": Augmentation(pad=4, flip=True),
    "cifar100": Augmentation(pad=4, flip=True),
    "svhn_cropped": Augmentation(pad=4, flip=False),
}


def generic_augmentation(image_shape):
    """The default for images without a known recipe: none for grayscale, pad+crop+flip else.

    Args:
        image_shape: `(height, width, channels)` of the images.

    Returns:
        An `Augmentation`; colour images are padded by an eighth of their shorter side.

    Example:

    ```python
    generic_augmentation((64, 64, 3))  # Augmentation(pad=8, flip=True, zoom=0.0, rotation=0.0)
    ```
    """
    if image_shape[-1] == 1:
        return NO_AUGMENTATION
    return Augmentation(pad=max(1, round(min(image_shape[0], image_shape[1]) / 8)), flip=True)


def aggressive_augmentation(image_shape):
    """The heavy augmentation of function matching: pad+crop, zoom, rotation, flip if colour.

    Pads by an eighth of the shorter side (4 pixels for 28x28 and 32x32 images), zooms in or
    out by up to 25% and rotates by up to 0.04 of a turn (about 14 degrees); colour images are
    also flipped left-right (grayscale ones are not: digits must not be mirrored). Too strong
    for training on labels alone, it suits a label-free student whose targets come from a
    teacher that sees the same augmented view.

    Args:
        image_shape: `(height, width, channels)` of the images.

    Returns:
        An `Augmentation`.

    Example:

    ```python
    aggressive_augmentation((28, 28, 1))
    # Augmentation(pad=4, flip=False, zoom=0.25, rotation=0.04)
    ```

    Reference:
        Beyer et al., "Knowledge distillation: A good teacher is patient and consistent",
        CVPR 2022 (https://arxiv.org/abs/2106.05237).
    """
    return Augmentation(
        pad=max(1, round(min(image_shape[0], image_shape[1]) / 8)),
        flip=image_shape[-1] != 1,
        zoom=0.25,
        rotation=0.04,
    )


def default_augmentation(name, image_shape):
    """The standard training augmentation of dataset `name` (generic if it has no recipe).

    Args:
        name: Dataset name.
        image_shape: `(height, width, channels)` of its images.

    Returns:
        An `Augmentation`.

    Example:

    ```python
    default_augmentation("svhn_cropped", (32, 32, 3))
    # Augmentation(pad=4, flip=False, zoom=0.0, rotation=0.0)
    ```
    """
    if name in DATASET_DEFAULTS:
        return DATASET_DEFAULTS[name]
    return generic_augmentation(image_shape)


def resolve_augmentation(augment, training, default, image_shape=None):
    """Turns the `augment=` argument of the pipeline builders into an `Augmentation`.

    Args:
        augment: `None` (the `default` when `training`, none otherwise), `True` (`default`),
            `False`, a preset name from `PRESETS`, `"aggressive"` (needs `image_shape`), or an
            `Augmentation`.
        training: Whether the pipeline is a training stream.
        default: The dataset's standard `Augmentation`.
        image_shape: `(height, width, channels)` of the images, for `"aggressive"`.

    Returns:
        An `Augmentation`.

    Example:

    ```python
    resolve_augmentation("crop", False, NO_AUGMENTATION)
    # Augmentation(pad=4, flip=False, zoom=0.0, rotation=0.0)
    ```
    """
    if augment is None:
        return default if training else NO_AUGMENTATION
    if augment is True:
        return default
    if augment is False:
        return NO_AUGMENTATION
    if isinstance(augment, Augmentation):
        return augment
    if isinstance(augment, str) and augment in PRESETS:
        return PRESETS[augment]
    if isinstance(augment, str) and augment == AGGRESSIVE:
        if image_shape is None:
            raise ValueError(
                "`augment='aggressive'` depends on the image shape; pass `image_shape=` or use "
                "`aggressive_augmentation(image_shape)`."
            )
        return aggressive_augmentation(image_shape)
    raise ValueError(
        "`augment` must be None (dataset default when training), True, False, one of "
        f"{sorted([*PRESETS, AGGRESSIVE])} or a `keras_anc.data.Augmentation`. Received: "
        f"augment={augment!r}."
    )


# The attribute that marks a `tf.data.Dataset` whose images are randomly augmented.
AUGMENTED_ATTRIBUTE = "_keras_anc_augmentation"


def describe_augmentation(augmentation, mixing=None, mixing_alpha=None):
    """One line naming a stream's random augmentation and mixing, or `None` when it has none.

    Args:
        augmentation: An `Augmentation`.
        mixing: `None`, `"mixup"` or `"cutmix"`.
        mixing_alpha: The mixing's Beta parameter.

    Returns:
        A string, or `None`.

    Example:

    ```python
    describe_augmentation(Augmentation(pad=4), "mixup", 1.0)
    # "Augmentation(pad=4, flip=False, zoom=0.0, rotation=0.0), mixing='mixup' (alpha=1.0)"
    ```
    """
    parts = [repr(augmentation)] if augmentation.enabled else []
    if mixing is not None:
        parts.append(f"mixing={mixing!r} (alpha={mixing_alpha})")
    return ", ".join(parts) or None


def mark_augmented(ds, description):
    """Marks `ds` as a stream of randomly augmented images (no-op when `description` is None).

    Args:
        ds: A `tf.data.Dataset`.
        description: What the augmentation is (`describe_augmentation()`), or `None`.

    Returns:
        `ds` itself.

    Example:

    ```python
    ds = mark_augmented(ds, "Augmentation(pad=4, flip=True, zoom=0.0, rotation=0.0)")
    ```
    """
    if description is not None:
        setattr(ds, AUGMENTED_ATTRIBUTE, str(description))
    return ds


def augmentation_of(data):
    """The random augmentation a `keras_anc.data` stream carries, or `None`.

    Finds the mark that the pipelines of `keras_anc.data` put on streams with random
    augmentation or mixing, also after further `tf.data` transformations of such a stream
    (`take`, `map`, `unbatch`, ...): it walks the dataset's inputs.

    Args:
        data: Anything; only `tf.data.Dataset`s built from a marked stream are recognised.

    Returns:
        A one-line description of the augmentation, or `None`.

    Example:

    ```python
    augmentation_of(keras_anc.data.load("cifar10", "train"))
    # 'Augmentation(pad=4, flip=True, zoom=0.0, rotation=0.0)'
    ```
    """
    stack, seen = [data], set()
    while stack:
        ds = stack.pop()
        if id(ds) in seen:
            continue
        seen.add(id(ds))
        description = getattr(ds, AUGMENTED_ATTRIBUTE, None)
        if description is not None:
            return description
        inputs = getattr(ds, "_inputs", None)  # every `tf.data.Dataset` lists its inputs
        if callable(inputs):
            with contextlib.suppress(Exception):  # not a `tf.data.Dataset` after all
                stack.extend(inputs())
    return None


def is_augmented(data):
    """Whether `data` is (built from) a `keras_anc.data` stream with random augmentation.

    Such a stream shows other random views of the images at every epoch (crops, flips, zooms,
    rotations, mixing), so whatever is computed from one pass over it, such as a cache of the
    teacher's outputs, holds for one random view only. Streams without augmentation
    (`training=False`, `augment=False`, or a dataset whose standard recipe is none) are not
    marked.

    Args:
        data: A `tf.data.Dataset` (anything else gives `False`).

    Returns:
        A bool.

    Example:

    ```python
    keras_anc.data.is_augmented(keras_anc.data.load("cifar10", "train"))  # True
    keras_anc.data.is_augmented(keras_anc.data.load("cifar10", "test"))  # False
    ```
    """
    return augmentation_of(data) is not None
