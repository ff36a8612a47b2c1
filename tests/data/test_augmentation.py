"""Tests for keras_anc/data/augmentation.py: the `Augmentation` recipe and its presets."""

import keras
import numpy as np
import pytest

from keras_anc import data
from keras_anc.data import augmentation

CIFAR10_MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32)
CIFAR10_STD = np.array([0.2470, 0.2435, 0.2616], np.float32)


def _collect(ds):
    batches = list(ds.as_numpy_iterator())
    if isinstance(batches[0], tuple):
        return tuple(np.concatenate(parts) for parts in zip(*batches))
    return np.concatenate(batches)


def _crop(image, dy, dx, flip, size):
    crop = image[dy : dy + size, dx : dx + size]
    return crop[:, ::-1] if flip else crop


def _crop_positions(original, augmented, pad):
    """For each augmented image, the `(dy, dx, flipped)` crop of the zero-padded original."""
    size = original.shape[1]
    padded = np.pad(original.astype(np.float32), [(0, 0), (pad, pad), (pad, pad), (0, 0)])
    positions = []
    for i in range(len(original)):
        matches = [
            (dy, dx, flip)
            for flip in (False, True)
            for dy in range(2 * pad + 1)
            for dx in range(2 * pad + 1)
            if np.array_equal(_crop(padded[i], dy, dx, flip, size), augmented[i])
        ]
        assert matches, f"image {i} is not a pad-{pad} crop (or its mirror) of the original"
        positions.append(matches[0])
    return positions


# ----------------------------------------------------------------------------------------------
# Augmentation itself.


def test_augmentation_builds_seeded_crop_then_flip_layers():
    layers = data.Augmentation(pad=4, flip=True).layers((32, 32, 3), seed=5)
    assert [type(layer) for layer in layers] == [
        keras.layers.RandomTranslation,
        keras.layers.RandomFlip,
    ]
    assert layers[1].mode == "horizontal"
    assert data.Augmentation().layers((28, 28, 1)) == []
    assert not data.Augmentation().enabled and data.Augmentation(flip=True).enabled


@pytest.mark.parametrize("pad", [-1, 1.5, True, "4"])
def test_bad_augmentation_pad_is_rejected(pad):
    with pytest.raises(ValueError, match="`pad` must be a non-negative integer"):
        data.Augmentation(pad=pad)


def test_pad_crop_flip_is_an_exact_per_image_crop_of_the_zero_padded_image():
    n = 128
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, size=(n, 16, 16, 3), dtype=np.uint8)  # no zero pixels
    ds = data.from_arrays(images, batch_size=64, augment="crop_flip", mean=(0, 0, 0), std=(1,) * 3)
    pixels = np.rint(_collect(ds) * 255.0)
    positions = _crop_positions(images, pixels, pad=4)
    assert len({p[:2] for p in positions}) > 20  # many crop positions, per image not per batch
    flips = sum(p[2] for p in positions)
    assert 0.25 * n < flips < 0.75 * n  # flipped about half the time


def test_crop_preset_never_flips():
    rng = np.random.default_rng(1)
    images = rng.integers(1, 256, size=(64, 12, 12, 3), dtype=np.uint8)
    ds = data.from_arrays(images, batch_size=64, augment="crop", mean=(0, 0, 0), std=(1,) * 3)
    positions = _crop_positions(images, np.rint(_collect(ds) * 255.0), pad=4)
    assert not any(p[2] for p in positions)
    assert len({p[:2] for p in positions}) > 10


# ----------------------------------------------------------------------------------------------
# Presets: the standard recipe of each dataset, no flip for digits.


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "mnist_sample"])
def test_grayscale_digit_datasets_have_no_augmentation(name):
    meta = data.info(name)
    assert meta.augmentation == data.Augmentation(pad=0, flip=False)
    assert meta.augmentation.layers(meta.image_shape) == []


def test_svhn_pads_and_crops_but_never_flips():
    meta = data.info("svhn_cropped")
    assert meta.augmentation == data.Augmentation(pad=4, flip=False)
    layers = meta.augmentation.layers(meta.image_shape, seed=0)
    assert [type(layer) for layer in layers] == [keras.layers.RandomTranslation]


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_pads_crops_and_flips(name):
    assert data.info(name).augmentation == data.Augmentation(pad=4, flip=True)


def test_generic_augmentation_depends_on_colour_and_size():
    assert augmentation.generic_augmentation((28, 28, 1)) == augmentation.NO_AUGMENTATION
    assert augmentation.generic_augmentation((64, 48, 3)) == data.Augmentation(pad=6, flip=True)
    assert augmentation.generic_augmentation((4, 4, 3)) == data.Augmentation(pad=1, flip=True)
    assert augmentation.default_augmentation("my_faces", (64, 64, 3)).pad == 8


def test_resolve_augmentation_follows_training_and_presets():
    default = data.Augmentation(pad=4, flip=True)
    resolve = augmentation.resolve_augmentation
    assert resolve(None, True, default) == default
    assert resolve(None, False, default) == augmentation.NO_AUGMENTATION
    assert resolve(True, False, default) == default
    assert resolve(False, True, default) == augmentation.NO_AUGMENTATION
    assert resolve("crop", True, default) == data.Augmentation(pad=4)
    custom = data.Augmentation(pad=2)
    assert resolve(custom, False, default) is custom
    with pytest.raises(ValueError, match="Received: augment='rotate'"):
        resolve("rotate", True, default)


def test_mnist_training_stream_is_not_augmented():
    train = _collect(data.load("mnist_sample", "train", take=256, training=True, shuffle=False))
    plain = _collect(data.load("mnist_sample", "train", take=256, training=False))
    np.testing.assert_array_equal(train[0], plain[0])
    np.testing.assert_array_equal(train[1], plain[1])


@pytest.mark.tfds("cifar10")
def test_cifar10_training_stream_is_pad4_crop_and_horizontal_flip():
    import tensorflow_datasets as tfds

    n = 128
    raw, raw_labels = tfds.as_numpy(
        tfds.load("cifar10", split=f"train[:{n}]", as_supervised=True, batch_size=-1)
    )
    x, y = _collect(data.load("cifar10", f"train[:{n}]", training=True, shuffle=False, seed=3))
    np.testing.assert_array_equal(y, raw_labels)
    assert x.shape == raw.shape and x.dtype == np.float32
    pixels = np.rint((x * CIFAR10_STD + CIFAR10_MEAN) * 255.0)  # undo the standardisation
    positions = _crop_positions(raw, pixels, pad=4)
    assert len({p[:2] for p in positions}) > 20
    assert 0.25 * n < sum(p[2] for p in positions) < 0.75 * n
