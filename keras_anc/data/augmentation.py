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
"""

import dataclasses

import keras
import numpy as np

from keras_anc.data._catalog import SAMPLE_NAME


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


NO_AUGMENTATION = Augmentation()

# Named presets accepted by `augment="..."`.
PRESETS = {
    "none": NO_AUGMENTATION,
    "crop": Augmentation(pad=4),
    "crop_flip": Augmentation(pad=4, flip=True),
}

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
    generic_augmentation((64, 64, 3))  # Augmentation(pad=8, flip=True)
    ```
    """
    if image_shape[-1] == 1:
        return NO_AUGMENTATION
    return Augmentation(pad=max(1, round(min(image_shape[0], image_shape[1]) / 8)), flip=True)


def default_augmentation(name, image_shape):
    """The standard training augmentation of dataset `name` (generic if it has no recipe).

    Args:
        name: Dataset name.
        image_shape: `(height, width, channels)` of its images.

    Returns:
        An `Augmentation`.

    Example:

    ```python
    default_augmentation("svhn_cropped", (32, 32, 3))  # Augmentation(pad=4, flip=False)
    ```
    """
    if name in DATASET_DEFAULTS:
        return DATASET_DEFAULTS[name]
    return generic_augmentation(image_shape)


def resolve_augmentation(augment, training, default):
    """Turns the `augment=` argument of the pipeline builders into an `Augmentation`.

    Args:
        augment: `None` (the `default` when `training`, none otherwise), `True` (`default`),
            `False`, a preset name from `PRESETS`, or an `Augmentation`.
        training: Whether the pipeline is a training stream.
        default: The dataset's standard `Augmentation`.

    Returns:
        An `Augmentation`.

    Example:

    ```python
    resolve_augmentation("crop", False, NO_AUGMENTATION)  # Augmentation(pad=4, flip=False)
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
    raise ValueError(
        "`augment` must be None (dataset default when training), True, False, one of "
        f"{sorted(PRESETS)} or a `keras_anc.data.Augmentation`. Received: augment={augment!r}."
    )
