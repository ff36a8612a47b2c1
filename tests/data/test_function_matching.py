"""Tests for keras_anc/data/function_matching.py: mixed, aggressively augmented label-free streams.

Also covers what the pipelines of `keras_anc.data` add for it: `augment="aggressive"`, the
`mixing=` argument of `load`, `from_arrays` and `from_dataset`, and the `is_augmented` mark.
Everything runs on the embedded MNIST sample or small arrays: no TFDS data is needed.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_anc import data
from keras_anc.data import augmentation
from keras_anc.data.function_matching import check_mixing, mixing_layer

BATCH = 16
UNIT = {"mean": (0.0,), "std": (1.0,)}  # pixels scaled to [0, 1], not standardised


def _collect(ds):
    return np.concatenate(list(ds.as_numpy_iterator()))


def _random_images(n=BATCH, size=12, seed=0):
    """uint8 images without zero pixels, so pixels of different images rarely coincide."""
    return np.random.default_rng(seed).integers(1, 256, size=(n, size, size, 1), dtype=np.uint8)


def _unit_arrays(images, **kwargs):
    """`images` through `from_arrays` with pixels in [0, 1], no shuffling, one batch of 16."""
    return _collect(data.from_arrays(images, batch_size=BATCH, **UNIT, **kwargs))


# ----------------------------------------------------------------------------------------------
# Shapes, dtypes and pixel range.


@pytest.mark.parametrize("mixing", ["mixup", "cutmix"])
def test_sample_stream_with_mixing_keeps_shapes_and_yields_images_only(mixing):
    ds = data.load_sample("train", labels=False, batch_size=64, take=100, mixing=mixing)
    assert ds.element_spec.shape.as_list() == [None, 28, 28, 1]
    batches = list(ds.as_numpy_iterator())
    assert [b.shape for b in batches] == [(64, 28, 28, 1), (36, 28, 28, 1)]  # partial batch too
    assert all(b.dtype == np.float32 for b in batches)


@pytest.mark.parametrize("mixing", ["mixup", "cutmix"])
@pytest.mark.parametrize("augment", [None, "aggressive"])
def test_mixing_and_aggressive_augmentation_keep_the_pixel_range(mixing, augment):
    images = data.load_sample("train", labels=False, batch_size=128, take=512, augment=False)
    plain = _collect(images)
    mixed = _collect(
        data.load_sample(
            "train", labels=False, batch_size=128, take=512, augment=augment, mixing=mixing
        )
    )
    assert mixed.shape == plain.shape
    # The sample is standardised with MNIST's statistics: raw pixels 0 and 255 map to these.
    low, high = plain.min(), plain.max()
    assert mixed.min() >= low - 1e-5 and mixed.max() <= high + 1e-5
    assert not np.allclose(mixed, plain)


# ----------------------------------------------------------------------------------------------
# Mixing mixes: convex combinations (mixup) and pasted rectangles (cutmix).


def test_mixup_makes_convex_combinations_of_two_images_of_the_batch():
    images = _random_images()
    x = _unit_arrays(images)
    out = _unit_arrays(images, labels=False, mixing="mixup", seed=3)
    mixed = 0
    for i in range(BATCH):
        fits = []
        for j in range(BATCH):
            # Least-squares weight w of out_i = w * x_i + (1 - w) * x_j.
            d = (x[i] - x[j]).ravel()
            if not d.any():
                continue
            w = float(np.dot((out[i] - x[j]).ravel(), d) / np.dot(d, d))
            residual = np.abs(w * x[i] + (1 - w) * x[j] - out[i]).max()
            fits.append((residual, w, j))
        residual, w, j = min(fits)
        unchanged = np.allclose(out[i], x[i], atol=1e-6)
        assert residual < 1e-5 or unchanged, f"image {i} is not a mix of two batch images"
        assert -1e-4 <= w <= 1 + 1e-4, f"image {i}: weight {w} is not a convex weight"
        mixed += not unchanged and 0.01 < w < 0.99
    assert mixed >= BATCH // 2  # most images really are mixed (j = i and w ~ 1 are rare)


def _pasted_rectangle(original, other, out):
    """The rectangle of `other` pasted into `original` to give `out`, or None if it is not one."""
    from_other = (out == other) & (out != original)
    if not (np.isclose(out, original) | np.isclose(out, other)).all() or not from_other.any():
        return None
    rows, cols = np.nonzero(from_other[..., 0])
    box = np.zeros_like(from_other)
    box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
    return box if np.array_equal(np.where(box, other, original), out) else None


def test_cutmix_pastes_one_rectangle_from_another_image_of_the_batch():
    images = _random_images(size=16, seed=1)
    x = _unit_arrays(images)
    out = _unit_arrays(images, labels=False, mixing="cutmix", seed=5)
    areas = []
    for i in range(BATCH):
        if np.array_equal(out[i], x[i]):
            continue  # paired with itself, or an empty rectangle
        boxes = [_pasted_rectangle(x[i], x[j], out[i]) for j in range(BATCH) if j != i]
        boxes = [box for box in boxes if box is not None]
        assert boxes, f"image {i} is not image {i} with a rectangle pasted from another image"
        areas.append(boxes[0].mean())
    assert len(areas) >= BATCH // 2
    assert len({round(a, 3) for a in areas}) > 3  # rectangle sizes vary from image to image


def test_mixing_layer_builds_keras_mixup_and_cutmix():
    assert isinstance(mixing_layer("mixup", 0.4), keras.layers.MixUp)
    assert mixing_layer("mixup", 0.4).alpha == 0.4
    cutmix = mixing_layer("cutmix", 0.5)
    assert isinstance(cutmix, keras.layers.CutMix) and cutmix.factor == (0.5, 0.5)
    assert mixing_layer(None) is None


# ----------------------------------------------------------------------------------------------
# Determinism.


@pytest.mark.parametrize("mixing", ["mixup", "cutmix"])
def test_same_seed_gives_identical_batches_and_another_seed_differs(mixing):
    def stream(seed):
        return _collect(
            data.load_sample(
                "train",
                labels=False,
                batch_size=64,
                take=256,
                augment="aggressive",
                mixing=mixing,
                seed=seed,
            )
        )

    first = stream(7)
    np.testing.assert_array_equal(first, stream(7))
    assert not np.array_equal(first, stream(8))


def test_function_matching_is_deterministic_for_a_seed():
    def views(seed):
        images = data.load_sample("train", labels=False, batch_size=32, take=128)
        return _collect(data.function_matching(images, mixing="cutmix", seed=seed))

    np.testing.assert_array_equal(views(1), views(1))
    assert not np.array_equal(views(1), views(2))


# ----------------------------------------------------------------------------------------------
# Labels are refused.


def test_load_refuses_mixing_on_a_labelled_stream():
    with pytest.raises(ValueError, match=r"labels would no longer match.*labels=False"):
        data.load_sample("train", mixing="mixup")  # labels=True is the default


def test_from_arrays_and_from_dataset_refuse_mixing_with_labels():
    images = _random_images()
    labels = np.arange(BATCH) % 10
    with pytest.raises(ValueError, match="Received: mixing='cutmix', labels=True"):
        data.from_arrays(images, labels, mixing="cutmix")
    labelled = tf.data.Dataset.from_tensor_slices((images, labels))
    with pytest.raises(ValueError, match="labels would no longer match"):
        data.from_dataset(labelled, mixing="mixup")
    # Without labels it works, from the same sources.
    unlabelled = data.from_arrays(images, labels, labels=False, mixing="cutmix")
    assert unlabelled.element_spec.shape[1:] == (12, 12, 1)
    assert isinstance(
        data.from_dataset(labelled, labels=False, mixing="mixup").element_spec, tf.TensorSpec
    )


def test_function_matching_refuses_labelled_and_unbatched_streams():
    labelled = data.load_sample("train", batch_size=32, take=64)
    with pytest.raises(ValueError, match=r"label-free stream.*drop_labels"):
        data.function_matching(labelled)
    unbatched = data.load_sample("train", labels=False, batch_size=32, take=64).unbatch()
    with pytest.raises(ValueError, match=r"batches of images.*ds.batch"):
        data.function_matching(unbatched)
    with pytest.raises(ValueError, match="tf.data.Dataset"):
        data.function_matching(np.zeros((4, 8, 8, 1), np.float32))
    with pytest.raises(ValueError, match="would not change the stream"):
        data.function_matching(data.drop_labels(labelled), mixing=None)
    # Dropping the labels is the way through.
    views = data.function_matching(data.drop_labels(labelled), mixing="mixup")
    assert next(iter(views)).shape == (32, 28, 28, 1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mixing": "mixmatch"}, "`mixing` must be None, 'mixup' or 'cutmix'"),
        ({"mixing": "mixup", "mixing_alpha": 0.0}, "`mixing_alpha` must be a number positive"),
        ({"mixing": "mixup", "mixing_alpha": True}, "Received: mixing_alpha=True"),
        ({"mixing": "mixup", "mixing_alpha": float("nan")}, "mixing_alpha=nan"),
        ({"mixing": "cutmix", "mixing_alpha": 2.0}, r"in \(0, 1\] for cutmix"),
    ],
)
def test_bad_mixing_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.load_sample("train", labels=False, **kwargs)


def test_check_mixing_returns_validated_values():
    assert check_mixing("mixup", 2) == ("mixup", 2.0)  # mixup takes any positive alpha
    assert check_mixing(None, 1.0, labels=True) == (None, 1.0)  # no mixing: labels are fine


# ----------------------------------------------------------------------------------------------
# `function_matching` on a standardised label-free stream.


def test_function_matching_mixes_a_standardised_stream_and_keeps_its_shape():
    images = data.load_sample("train", labels=False, batch_size=32, take=96)
    plain = _collect(images)
    views = data.function_matching(images, mixing="mixup", augment="aggressive", seed=0)
    mixed = _collect(views)
    assert views.element_spec == tf.TensorSpec((None, 28, 28, 1), tf.float32)
    assert mixed.shape == plain.shape
    assert not np.allclose(mixed, plain)
    # Augmentation pads with 0 (the mean, in standardised units), so the range stays inside.
    assert mixed.min() >= min(plain.min(), 0.0) - 1e-5
    assert mixed.max() <= plain.max() + 1e-5


# ----------------------------------------------------------------------------------------------
# The aggressive preset.


def test_aggressive_augmentation_adds_zoom_and_rotation_and_flips_colour_only():
    gray = augmentation.aggressive_augmentation((28, 28, 1))
    assert gray == data.Augmentation(pad=4, flip=False, zoom=0.25, rotation=0.04)
    assert augmentation.aggressive_augmentation((32, 32, 3)).flip
    layers = gray.layers((28, 28, 1), seed=0)
    assert [type(layer) for layer in layers] == [
        keras.layers.RandomTranslation,
        keras.layers.RandomZoom,
        keras.layers.RandomRotation,
    ]
    assert data.Augmentation(zoom=0.1).enabled and data.Augmentation(rotation=0.1).enabled


@pytest.mark.parametrize(
    "kwargs",
    [{"zoom": -0.1}, {"zoom": 1.0}, {"zoom": "0.2"}, {"rotation": 0.6}, {"rotation": True}],
)
def test_bad_zoom_and_rotation_are_rejected(kwargs):
    with pytest.raises(ValueError, match="must be a number in"):
        data.Augmentation(**kwargs)


def test_aggressive_preset_needs_the_image_shape():
    with pytest.raises(ValueError, match="depends on the image shape"):
        augmentation.resolve_augmentation("aggressive", True, augmentation.NO_AUGMENTATION)


# ----------------------------------------------------------------------------------------------
# The augmentation mark.


def test_augmented_streams_are_marked_and_the_mark_survives_transformations():
    views = data.load_sample("train", labels=False, take=64, mixing="mixup")
    assert data.is_augmented(views)
    assert data.is_augmented(views.take(1).map(lambda x: x * 2.0).unbatch())
    assert "mixing='mixup'" in augmentation.augmentation_of(views)
    crops = data.load_sample("train", take=64, augment="crop")  # labelled, augmented
    assert data.is_augmented(crops)
    assert "pad=4" in augmentation.augmentation_of(crops)
    images = data.load_sample("train", labels=False, take=64)
    assert data.is_augmented(data.function_matching(images))


def test_unaugmented_streams_and_other_objects_are_not_marked():
    assert not data.is_augmented(data.load_sample("train", take=64))  # digits: no augmentation
    assert not data.is_augmented(data.load_sample("test", labels=False))
    assert not data.is_augmented(data.from_arrays(_random_images(), augment=False))
    assert not data.is_augmented(tf.data.Dataset.range(3))
    assert not data.is_augmented(np.zeros((2, 8, 8, 1)))
    assert augmentation.augmentation_of((np.zeros(2), np.zeros(2))) is None


# ----------------------------------------------------------------------------------------------
# End to end: a label-free distiller trains on the mixed views.


def test_label_free_distiller_trains_on_a_function_matching_stream():
    from keras_anc import methods
    from keras_anc.models import get_model

    keras.utils.set_random_seed(0)
    teacher = get_model("lenet_tiny", input_shape=(28, 28, 1), num_classes=10, name="teacher")
    student = get_model("lenet_tiny", input_shape=(28, 28, 1), num_classes=10, name="student")
    before = [w.copy() for w in student.get_weights()]
    model = methods.make_method("logit_regression", teacher, student, metrics=None)
    views = data.load_sample(
        "train", labels=False, batch_size=32, take=64, augment="aggressive", mixing="cutmix"
    )
    history = model.fit(views, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    assert any(not np.array_equal(a, b) for a, b in zip(before, student.get_weights()))
