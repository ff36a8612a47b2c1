"""Tests for keras_anc/data/pipeline.py: `load`, `from_arrays`, `from_dataset`, `drop_labels`.

Most run on the embedded MNIST sample and on synthetic arrays; the ones that check the real
TFDS data sets are marked `tfds(...)`.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_anc import data
from keras_anc.data.sample import sample_arrays

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
CIFAR10_MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32)
CIFAR10_STD = np.array([0.2470, 0.2435, 0.2616], np.float32)


def _collect(ds):
    """Concatenates all batches of a dataset of (x, y) or x into NumPy arrays."""
    batches = list(ds.as_numpy_iterator())
    if isinstance(batches[0], tuple):
        return tuple(np.concatenate(parts) for parts in zip(*batches))
    return np.concatenate(batches)


def _colour_images(n=256, size=16, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    return images, rng.integers(0, 10, size=n)


# ----------------------------------------------------------------------------------------------
# Shapes, dtypes, normalisation.


def test_batches_have_expected_shapes_and_dtypes():
    ds = data.load("mnist_sample", "train", take=512, batch_size=64)
    x_spec, y_spec = ds.element_spec
    assert x_spec.shape.as_list() == [None, 28, 28, 1] and x_spec.dtype == tf.float32
    assert y_spec.shape.as_list() == [None] and y_spec.dtype == tf.int32
    x, y = next(iter(ds))
    assert x.shape == (64, 28, 28, 1) and y.shape == (64,)
    assert int(tf.reduce_min(y)) >= 0 and int(tf.reduce_max(y)) <= 9


def test_take_and_partial_last_batch():
    sizes = [int(b[0].shape[0]) for b in data.load_sample("test", take=100, batch_size=64)]
    assert sizes == [64, 36]
    ds = data.load_sample("test", take=100, batch_size=64, drop_remainder=True)
    assert [int(b[0].shape[0]) for b in ds] == [64]
    assert ds.element_spec[0].shape.as_list() == [64, 28, 28, 1]


def test_load_standardises_with_the_dataset_statistics():
    arrays = sample_arrays()
    x, y = _collect(data.load_sample("test", batch_size=256))
    expected = (arrays["x_test"] / 255.0 - MNIST_MEAN) / MNIST_STD
    np.testing.assert_allclose(x, expected, atol=1e-5)
    np.testing.assert_array_equal(y, arrays["y_test"])  # evaluation streams keep the order


def test_from_arrays_standardises_to_zero_mean_unit_std_per_channel():
    images, labels = _colour_images()
    images[..., 2] //= 4  # give the channels different statistics
    x, y = _collect(data.from_arrays(images, labels, batch_size=100))
    np.testing.assert_allclose(x.mean(axis=(0, 1, 2)), 0.0, atol=1e-3)
    np.testing.assert_allclose(x.std(axis=(0, 1, 2)), 1.0, atol=1e-3)
    np.testing.assert_array_equal(y, labels)


def test_from_arrays_adds_a_channel_to_grayscale_images():
    arrays = sample_arrays()
    x, y = _collect(data.from_arrays(arrays["x_test"][:512, ..., 0], arrays["y_test"][:512]))
    assert x.shape == (512, 28, 28, 1)
    np.testing.assert_array_equal(y, arrays["y_test"][:512])
    np.testing.assert_allclose(x.mean(), 0.0, atol=1e-3)
    np.testing.assert_allclose(x.std(), 1.0, atol=1e-3)


def test_from_arrays_without_labels_and_with_given_stats_matches_load():
    images = sample_arrays()["x_test"][:64]
    ds = data.from_arrays(images, mean=(MNIST_MEAN,), std=(MNIST_STD,))
    assert isinstance(ds.element_spec, tf.TensorSpec)
    expected, _ = _collect(data.load_sample("test", take=64))
    np.testing.assert_allclose(_collect(ds), expected, atol=1e-6)


def test_from_arrays_uses_float_images_as_they_are():
    images = np.random.default_rng(0).normal(size=(8, 4, 4, 2)).astype(np.float32)
    np.testing.assert_allclose(_collect(data.from_arrays(images)), images, atol=1e-6)


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.tfds(n)) for n in ("mnist", "fashion_mnist", "cifar10")],
)
def test_tfds_standardisation_gives_zero_mean_unit_std_per_channel(name):
    x, _ = _collect(data.load(name, "train[:2048]", training=False, batch_size=512))
    np.testing.assert_allclose(x.mean(axis=(0, 1, 2)), 0.0, atol=0.05)
    np.testing.assert_allclose(x.std(axis=(0, 1, 2)), 1.0, atol=0.05)


@pytest.mark.tfds("cifar10")
def test_cifar10_standardisation_matches_raw_pixels():
    raw, labels = zip(*data.raw("cifar10", "test", take=64).as_numpy_iterator())
    x, y = _collect(data.load("cifar10", "test[:64]", batch_size=64))
    expected = (np.stack(raw) / 255.0 - CIFAR10_MEAN) / CIFAR10_STD
    np.testing.assert_allclose(x, expected, atol=1e-5)
    np.testing.assert_array_equal(y, np.array(labels))


@pytest.mark.tfds("mnist")
def test_mnist_evaluation_stream_keeps_tfds_order():
    _, labels = zip(*data.raw("mnist", "test", take=300).as_numpy_iterator())
    _, y = _collect(data.load("mnist", "test[:300]", batch_size=128))
    np.testing.assert_array_equal(y, np.array(labels))


# ----------------------------------------------------------------------------------------------
# Determinism and shuffling.


def test_same_seed_gives_identical_batches_and_different_seed_differs():
    images, labels = _colour_images(512)

    def first_batches(seed):
        ds = data.from_arrays(images, labels, training=True, augment=True, batch_size=64, seed=seed)
        return [(x.numpy(), y.numpy()) for x, y in ds.take(3)]

    a, b, c = first_batches(1), first_batches(1), first_batches(2)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a[0][0], c[0][0])
    assert not np.array_equal(a[0][1], c[0][1])


def test_training_stream_reshuffles_and_reaugments_each_epoch():
    images, labels = _colour_images(256)
    ds = data.from_arrays(images, labels, training=True, augment=True, batch_size=256, seed=0)
    [(x1, y1)], [(x2, y2)] = list(ds), list(ds)
    assert sorted(y1.numpy()) == sorted(y2.numpy())  # same examples ...
    assert not np.array_equal(y1.numpy(), y2.numpy())  # ... in a new order
    assert not np.array_equal(x1.numpy(), x2.numpy())


def test_load_training_stream_shuffles_the_sample_by_default():
    _, y = _collect(data.load_sample("train", take=512, batch_size=512, seed=0))
    np.testing.assert_array_equal(np.sort(y), np.sort(sample_arrays()["y_train"][:512]))
    assert not np.array_equal(y, sample_arrays()["y_train"][:512])


# ----------------------------------------------------------------------------------------------
# Label-free streams.


def test_labels_false_yields_images_only():
    images, labels = _colour_images(256)
    ds = data.from_arrays(images, labels, labels=False, batch_size=128)
    assert isinstance(ds.element_spec, tf.TensorSpec)
    assert ds.element_spec.shape.as_list() == [None, 16, 16, 3]
    batches = list(ds)
    assert len(batches) == 2 and all(isinstance(b, tf.Tensor) for b in batches)
    assert isinstance(data.load_sample("train", labels=False).element_spec, tf.TensorSpec)


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
    labelled = data.load_sample("test", take=64, batch_size=32)
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
# User datasets.


def test_from_dataset_matches_load_for_the_same_source():
    source = data.raw("mnist_sample", "test", take=200)
    ours = data.from_dataset(source, batch_size=64, mean=(MNIST_MEAN,), std=(MNIST_STD,))
    reference = data.load_sample("test", take=200, batch_size=64)
    for (xa, ya), (xb, yb) in zip(ours, reference, strict=True):
        np.testing.assert_allclose(xa.numpy(), xb.numpy(), atol=1e-6)
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())
    rebatched = data.from_dataset(source.batch(50), batch_size=64, labels=False)
    assert [int(b.shape[0]) for b in rebatched] == [64, 64, 64, 8]


def test_from_dataset_accepts_grayscale_and_weighted_elements():
    images = sample_arrays()["x_test"][:10, ..., 0]
    ds = tf.data.Dataset.from_tensor_slices((images, np.arange(10), np.ones(10)))
    x, y = _collect(data.from_dataset(ds, batch_size=4))
    assert x.shape == (10, 28, 28, 1) and y.dtype == np.int32
    np.testing.assert_allclose(x, images[..., None] / 255.0, atol=1e-6)


def test_from_dataset_augments_per_image_with_a_given_policy():
    images, labels = _colour_images(64)
    source = tf.data.Dataset.from_tensor_slices((images, labels))
    plain = _collect(data.from_dataset(source, labels=False, batch_size=64))
    augmented = _collect(
        data.from_dataset(source, labels=False, batch_size=64, augment="crop_flip")
    )
    assert augmented.shape == plain.shape
    changed = [not np.array_equal(a, p) for a, p in zip(augmented, plain)]
    assert sum(changed) > 48


# ----------------------------------------------------------------------------------------------
# Errors.


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
    with pytest.raises(ValueError, match="both `mean` and `std`"):
        data.from_arrays(images, mean=(0.5,))
    with pytest.raises(ValueError, match="`std` must be positive"):
        data.from_arrays(images, mean=(0.5,), std=(0.0,))


def test_from_dataset_rejects_bad_inputs():
    with pytest.raises(ValueError, match="use `from_arrays\\(\\)`"):
        data.from_dataset(np.zeros((4, 8, 8, 1)))
    with pytest.raises(ValueError, match="Map dict elements to tuples"):
        data.from_dataset(tf.data.Dataset.from_tensor_slices({"image": np.zeros((4, 8, 8))}))
    with pytest.raises(ValueError, match="no labels"):
        data.from_dataset(tf.data.Dataset.from_tensor_slices(np.zeros((4, 8, 8, 1))), labels=True)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"augment": "rotate"}, "augment"),
        ({"take": 0}, "take"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.load_sample("train", **kwargs)


def test_unknown_name_lists_known_names(tmp_path):
    with pytest.raises(ValueError, match="Unknown dataset name 'not_a_dataset_name'.*mnist_sample"):
        data.load("not_a_dataset_name", data_dir=str(tmp_path))
