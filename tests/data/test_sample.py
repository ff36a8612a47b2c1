"""Tests for keras_anc/data/sample.py: the MNIST sample embedded in keras-anc."""

import numpy as np
import pytest

from keras_anc import data
from keras_anc.data.sample import sample_arrays


def _collect(ds):
    return tuple(np.concatenate(parts) for parts in zip(*ds.as_numpy_iterator()))


def test_embedded_sample_sizes_and_balanced_labels():
    x, y = _collect(data.load_sample("train", batch_size=1000))
    assert x.shape == (6000, 28, 28, 1) and x.dtype == np.float32
    assert np.bincount(y, minlength=10).tolist() == [600] * 10
    x, y = _collect(data.load("mnist_sample", "test", batch_size=1000))
    assert x.shape == (1000, 28, 28, 1)
    assert np.bincount(y, minlength=10).tolist() == [100] * 10
    np.testing.assert_allclose(x.mean(), 0.0, atol=0.1)
    np.testing.assert_allclose(x.std(), 1.0, atol=0.1)


def test_sample_arrays_are_uint8_shared_and_read_only():
    arrays = sample_arrays()
    assert arrays is sample_arrays()
    assert arrays["x_train"].dtype == np.uint8 and arrays["y_train"].dtype == np.uint8
    assert arrays["tfds_index_test"].shape == (1000,)
    with pytest.raises(ValueError, match="read-only"):
        arrays["x_test"][0, 0, 0, 0] = 1


def test_classes_are_interleaved_in_tfds_order():
    arrays = sample_arrays()
    assert np.all(np.diff(arrays["tfds_index_train"].astype(np.int64)) > 0)
    assert len(set(arrays["y_train"][:100].tolist())) == 10


def test_load_sample_passes_keyword_arguments_to_load():
    ds = data.load_sample("test", labels=False, take=70, batch_size=32)
    assert [int(batch.shape[0]) for batch in ds] == [32, 32, 6]
    assert ds.element_spec.shape.as_list() == [None, 28, 28, 1]


def test_embedded_sample_rejects_other_splits():
    with pytest.raises(ValueError, match="'train' .* and 'test'.*Received: split='validation'"):
        data.load_sample("validation")


@pytest.mark.tfds("mnist")
def test_embedded_sample_is_real_mnist_at_recorded_tfds_positions():
    import tensorflow_datasets as tfds

    arrays = sample_arrays()
    index = arrays["tfds_index_test"][:50].astype(np.int64)
    raw, labels = tfds.as_numpy(
        tfds.load("mnist", split=f"test[:{index.max() + 1}]", as_supervised=True, batch_size=-1)
    )
    np.testing.assert_array_equal(arrays["x_test"][:50], raw[index])
    np.testing.assert_array_equal(arrays["y_test"][:50], labels[index])
