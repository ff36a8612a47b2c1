"""Tests for keras_anc.data on real data: the offline TFDS dir and the embedded MNIST sample."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_anc import data

CIFAR10_MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32)
CIFAR10_STD = np.array([0.2470, 0.2435, 0.2616], np.float32)


def _raw(name, split):
    """The raw uint8 images and labels of a TFDS split, in TFDS order."""
    images, labels = tfds.as_numpy(tfds.load(name, split=split, as_supervised=True, batch_size=-1))
    return images, labels


def _collect(ds):
    """Concatenates all batches of a dataset of (x, y) or x into NumPy arrays."""
    batches = list(ds.as_numpy_iterator())
    if isinstance(batches[0], tuple):
        return tuple(np.concatenate(parts) for parts in zip(*batches))
    return np.concatenate(batches)


# ----------------------------------------------------------------------------------------------
# Metadata.


def test_info_reads_tfds_metadata_for_mnist():
    meta = data.info("mnist")
    assert meta.image_shape == (28, 28, 1)
    assert meta.num_classes == 10
    assert meta.class_names == tuple(str(i) for i in range(10))
    assert meta.mean == (0.1307,) and meta.std == (0.3081,)
    assert (meta.train_size, meta.test_size) == (60000, 10000)
    assert meta.stats_source == "canonical"


def test_info_reads_class_names_for_cifar10():
    meta = data.info("cifar10")
    assert meta.image_shape == (32, 32, 3)
    assert meta.class_names[:3] == ("airplane", "automobile", "bird")
    assert len(meta.mean) == len(meta.std) == 3
    assert meta.splits == {"train": 50000, "test": 10000}


def test_info_for_known_but_absent_dataset_comes_from_tfds_code():
    meta = data.info("cifar100")  # not on disk here: shape and classes come from the builder
    assert meta.num_classes == 100
    assert meta.image_shape == (32, 32, 3)
    assert meta.stats_source == "canonical"


def test_estimated_stats_match_canonical_mnist_values():
    mean, std, source = data._estimate_stats(tfds.builder("mnist"))
    assert abs(mean[0] - 0.1307) < 0.01 and abs(std[0] - 0.3081) < 0.01
    assert source == "estimated from 4096 train images"


# ----------------------------------------------------------------------------------------------
# Augmentation policy: no flip for digits.


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
    meta = data.info(name)
    assert meta.augmentation == data.Augmentation(pad=4, flip=True)
    layers = meta.augmentation.layers(meta.image_shape, seed=0)
    assert [type(layer) for layer in layers] == [
        keras.layers.RandomTranslation,
        keras.layers.RandomFlip,
    ]
    assert layers[1].mode == "horizontal"


def test_mnist_training_stream_is_not_augmented():
    train = _collect(data.load("mnist", "train[:256]", training=True, shuffle=False))
    plain = _collect(data.load("mnist", "train[:256]", training=False))
    np.testing.assert_array_equal(train[0], plain[0])
    np.testing.assert_array_equal(train[1], plain[1])


def _crop(image, dy, dx, flip):
    crop = image[dy : dy + 32, dx : dx + 32]
    return crop[:, ::-1] if flip else crop


def test_cifar10_augmentation_is_pad4_crop_and_horizontal_flip():
    n = 128
    raw, raw_labels = _raw("cifar10", f"train[:{n}]")
    x, y = _collect(data.load("cifar10", f"train[:{n}]", training=True, shuffle=False, seed=3))
    np.testing.assert_array_equal(y, raw_labels)
    assert x.shape == raw.shape and x.dtype == np.float32
    # Undo the standardisation to recover raw pixels, then find each image as a crop of the
    # zero-padded original, possibly mirrored.
    pixels = np.rint((x * CIFAR10_STD + CIFAR10_MEAN) * 255.0)
    padded = np.pad(raw.astype(np.float32), [(0, 0), (4, 4), (4, 4), (0, 0)])
    offsets, flips = set(), 0
    for i in range(n):
        matches = [
            (dy, dx, flip)
            for flip in (False, True)
            for dy in range(9)
            for dx in range(9)
            if np.array_equal(_crop(padded[i], dy, dx, flip), pixels[i])
        ]
        assert matches, f"image {i} is not a pad-4 crop (or its mirror) of the original"
        offsets.add(matches[0][:2])
        flips += matches[0][2]
    assert len(offsets) > 20  # many different crop positions, per image not per batch
    assert 0.25 * n < flips < 0.75 * n  # flipped about half the time


# ----------------------------------------------------------------------------------------------
# Shapes, dtypes, normalisation.


def test_mnist_batches_have_expected_shapes_and_dtypes():
    ds = data.load("mnist", "train[:512]", batch_size=64)
    x_spec, y_spec = ds.element_spec
    assert x_spec.shape.as_list() == [None, 28, 28, 1] and x_spec.dtype == tf.float32
    assert y_spec.shape.as_list() == [None] and y_spec.dtype == tf.int32
    x, y = next(iter(ds))
    assert x.shape == (64, 28, 28, 1)
    assert y.shape == (64,)
    assert int(tf.reduce_min(y)) >= 0 and int(tf.reduce_max(y)) <= 9


def test_take_and_partial_last_batch():
    sizes = [int(b[0].shape[0]) for b in data.load("mnist", "test", take=100, batch_size=64)]
    assert sizes == [64, 36]
    sizes = [
        int(b[0].shape[0])
        for b in data.load("mnist", "test", take=100, batch_size=64, drop_remainder=True)
    ]
    assert sizes == [64]


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_standardisation_gives_zero_mean_unit_std_per_channel(name):
    x, _ = _collect(data.load(name, "train[:2048]", training=False, batch_size=512))
    mean = x.mean(axis=(0, 1, 2))
    std = x.std(axis=(0, 1, 2))
    np.testing.assert_allclose(mean, 0.0, atol=0.05)
    np.testing.assert_allclose(std, 1.0, atol=0.05)


def test_standardisation_matches_raw_pixels():
    raw, labels = _raw("cifar10", "test[:64]")
    x, y = _collect(data.load("cifar10", "test[:64]", batch_size=64))
    expected = (raw / 255.0 - CIFAR10_MEAN) / CIFAR10_STD
    np.testing.assert_allclose(x, expected, atol=1e-5)
    np.testing.assert_array_equal(y, labels)


# ----------------------------------------------------------------------------------------------
# Determinism and shuffling.


def test_same_seed_gives_identical_batches_and_different_seed_differs():
    def first_batches(seed):
        ds = data.load("cifar10", "train[:512]", training=True, batch_size=64, seed=seed)
        return [(x.numpy(), y.numpy()) for x, y in ds.take(3)]

    a, b, c = first_batches(1), first_batches(1), first_batches(2)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a[0][0], c[0][0])
    assert not np.array_equal(a[0][1], c[0][1])


def test_training_stream_reshuffles_and_reaugments_each_epoch():
    ds = data.load("cifar10", "train[:256]", training=True, batch_size=256, seed=0)
    [(x1, y1)], [(x2, y2)] = list(ds), list(ds)
    assert sorted(y1.numpy()) == sorted(y2.numpy())  # same examples ...
    assert not np.array_equal(y1.numpy(), y2.numpy())  # ... in a new order
    assert not np.array_equal(x1.numpy(), x2.numpy())


def test_evaluation_stream_keeps_tfds_order():
    _, labels = _raw("mnist", "test[:300]")
    _, y = _collect(data.load("mnist", "test[:300]", batch_size=128))
    np.testing.assert_array_equal(y, labels)


# ----------------------------------------------------------------------------------------------
# Label-free streams.


def test_labels_false_yields_images_only():
    ds = data.load("cifar10", "train[:256]", labels=False, batch_size=128)
    assert isinstance(ds.element_spec, tf.TensorSpec)
    assert ds.element_spec.shape.as_list() == [None, 32, 32, 3]
    batches = list(ds)
    assert len(batches) == 2 and all(isinstance(b, tf.Tensor) for b in batches)
    assert batches[0].shape == (128, 32, 32, 3)


def test_training_consumer_receives_no_labels():
    seen = []

    class Probe(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            return self.dense(keras.ops.reshape(x, (-1, 28 * 28)))

        def train_step(self, batch):
            seen.append(tf.nest.map_structure(lambda t: tuple(t.shape), batch))
            return {"mean": keras.ops.mean(batch)}

    model = Probe()
    model.compile(optimizer="sgd")
    images = data.load_sample("train", labels=False, take=64, batch_size=32)
    model.fit(images, epochs=1, shuffle=False, verbose=0)
    assert seen and all(s == (None, 28, 28, 1) for s in seen)  # one tensor, not (x, y)


def test_drop_labels_keeps_inputs_and_removes_labels_and_weights():
    labelled = data.load("mnist", "test[:64]", batch_size=32)
    dropped = data.drop_labels(labelled)
    assert isinstance(dropped.element_spec, tf.TensorSpec)
    for (x, _), x_only in zip(labelled, dropped):
        np.testing.assert_array_equal(x.numpy(), x_only.numpy())
    weighted = labelled.map(lambda x, y: (x, y, tf.ones_like(y, tf.float32)))
    assert isinstance(data.drop_labels(weighted).element_spec, tf.TensorSpec)
    assert data.drop_labels(dropped) is dropped
    with pytest.raises(ValueError, match="expects elements"):
        data.drop_labels(tf.data.Dataset.from_tensor_slices({"a": [1, 2]}))


# ----------------------------------------------------------------------------------------------
# The embedded MNIST sample.


def test_embedded_sample_sizes_and_labels():
    meta = data.info("mnist_sample")
    assert meta.splits == {"train": 6000, "test": 1000}
    x, y = _collect(data.load_sample("train", batch_size=1000))
    assert x.shape == (6000, 28, 28, 1) and x.dtype == np.float32
    assert np.bincount(y, minlength=10).tolist() == [600] * 10
    x, y = _collect(data.load("mnist_sample", "test", batch_size=1000))
    assert x.shape == (1000, 28, 28, 1)
    assert np.bincount(y, minlength=10).tolist() == [100] * 10
    np.testing.assert_allclose(x.mean(), 0.0, atol=0.1)
    np.testing.assert_allclose(x.std(), 1.0, atol=0.1)


def test_embedded_sample_is_real_mnist_at_recorded_tfds_positions():
    arrays = data._sample_arrays()
    assert arrays["x_train"].dtype == np.uint8 and arrays["y_train"].dtype == np.uint8
    index = arrays["tfds_index_test"][:50].astype(np.int64)
    raw, labels = _raw("mnist", f"test[:{index.max() + 1}]")
    np.testing.assert_array_equal(arrays["x_test"][:50], raw[index])
    np.testing.assert_array_equal(arrays["y_test"][:50], labels[index])


def test_embedded_sample_rejects_other_splits():
    with pytest.raises(ValueError, match="'train' .* and 'test'"):
        data.load_sample("validation")


# ----------------------------------------------------------------------------------------------
# NumPy arrays and user datasets.


def test_from_arrays_adds_channel_and_standardises():
    raw, labels = _raw("fashion_mnist", "test[:512]")
    ds = data.from_arrays(raw[..., 0], labels, batch_size=100)
    x, y = _collect(ds)
    assert x.shape == (512, 28, 28, 1)
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_allclose(x.mean(), 0.0, atol=1e-3)
    np.testing.assert_allclose(x.std(), 1.0, atol=1e-3)


def test_from_arrays_without_labels_and_with_given_stats():
    raw, _ = _raw("mnist", "test[:64]")
    ds = data.from_arrays(raw, mean=(0.1307,), std=(0.3081,))
    assert isinstance(ds.element_spec, tf.TensorSpec)
    expected, _ = _collect(data.load("mnist", "test[:64]"))
    np.testing.assert_allclose(_collect(ds), expected, atol=1e-6)


def test_from_arrays_rejects_bad_inputs():
    images = np.zeros((10, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="same length"):
        data.from_arrays(images, np.zeros(9, np.int64))
    with pytest.raises(ValueError, match=r"x.shape=\(10, 8\)"):
        data.from_arrays(np.zeros((10, 8)), np.zeros(10, np.int64))
    with pytest.raises(ValueError, match="one-hot"):
        data.from_arrays(images, np.zeros((10, 3), np.float32))
    with pytest.raises(ValueError, match="pass `y`"):
        data.from_arrays(images, labels=True)
    with pytest.raises(ValueError, match="one value per channel"):
        data.from_arrays(images, mean=(0.5, 0.5), std=(0.2, 0.2))


def test_from_dataset_matches_load_for_the_same_source():
    raw = tfds.load("mnist", split="test[:200]", as_supervised=True)
    ours = data.from_dataset(raw, batch_size=64, mean=(0.1307,), std=(0.3081,))
    reference = data.load("mnist", "test[:200]", batch_size=64)
    for (xa, ya), (xb, yb) in zip(ours, reference):
        np.testing.assert_allclose(xa.numpy(), xb.numpy(), atol=1e-6)
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())
    rebatched = data.from_dataset(raw.batch(50), batch_size=64, labels=False)
    assert [int(b.shape[0]) for b in rebatched] == [64, 64, 64, 8]


def test_from_dataset_augments_per_image_with_a_given_policy():
    raw = tfds.load("cifar10", split="train[:64]", as_supervised=True)
    plain = _collect(data.from_dataset(raw, labels=False, batch_size=64))
    augmented = _collect(data.from_dataset(raw, labels=False, batch_size=64, augment="crop_flip"))
    assert augmented.shape == plain.shape
    changed = [not np.array_equal(a, p) for a, p in zip(augmented, plain)]
    assert sum(changed) > 48


# ----------------------------------------------------------------------------------------------
# Errors.


def test_unknown_name_lists_known_names_and_tfds_hint():
    with pytest.raises(ValueError) as excinfo:
        data.load("not_a_dataset_name")
    message = str(excinfo.value)
    for expected in ("not_a_dataset_name", "mnist_sample", "cifar100", "svhn_cropped"):
        assert expected in message
    assert "TFDS_DATA_DIR" in message and "image-classification" in message


def test_tfds_name_without_image_label_features_is_rejected():
    with pytest.raises(
        ValueError, match=r"not an image-classification dataset.*\['label', 'text'\]"
    ):
        data.info("imdb_reviews")


def test_absent_dataset_without_download_says_where_to_look(tmp_path):
    with pytest.raises(ValueError, match="not prepared in .*TFDS_DATA_DIR"):
        data.load("mnist", data_dir=str(tmp_path), download=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"augment": "rotate"}, "augment"),
        ({"take": 0}, "take"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.load_sample("train", **kwargs)


def test_bad_augmentation_pad_is_rejected():
    with pytest.raises(ValueError, match="non-negative"):
        data.Augmentation(pad=-1)
