"""Tests for keras_anc/data/dataset_info.py: `info()`, `DatasetInfo` and the statistics."""

import pytest

from keras_anc import data
from keras_anc.data import dataset_info, tfds_source

SAMPLE_TFDS_NAME = "keras_anc_sample_mnist"  # registered by conftest.py


def test_sample_info_needs_no_tfds():
    meta = data.info("mnist_sample")
    assert meta.image_shape == (28, 28, 1) and meta.num_classes == 10
    assert meta.splits == {"train": 6000, "test": 1000}
    assert (meta.train_size, meta.test_size) == (6000, 1000)
    assert meta.mean == (0.1307,) and meta.std == (0.3081,)
    assert meta.stats_source.startswith("canonical")


def test_known_dataset_metadata_comes_from_the_tfds_builder_code(tmp_path):
    meta = data.info("cifar10", data_dir=str(tmp_path))  # nothing on disk
    assert meta.image_shape == (32, 32, 3) and meta.num_classes == 10
    assert meta.mean == (0.4914, 0.4822, 0.4465) and meta.stats_source == "canonical"
    assert meta.splits == {} and meta.train_size == 0
    assert data.info("cifar100", data_dir=str(tmp_path)).num_classes == 100


@pytest.mark.tfds("mnist")
def test_info_reads_tfds_metadata_for_mnist():
    meta = data.info("mnist")
    assert meta.image_shape == (28, 28, 1)
    assert meta.class_names == tuple(str(i) for i in range(10))
    assert meta.mean == (0.1307,) and meta.std == (0.3081,)
    assert (meta.train_size, meta.test_size) == (60000, 10000)
    assert meta.stats_source == "canonical"


@pytest.mark.tfds("cifar10")
def test_info_reads_class_names_and_split_sizes_for_cifar10():
    meta = data.info("cifar10")  # the class names are stored with the prepared data
    assert meta.class_names[:3] == ("airplane", "automobile", "bird")
    assert meta.splits == {"train": 50000, "test": 10000}


def test_stats_of_an_unknown_dataset_are_estimated_from_its_train_images(sample_mnist_tfds):
    meta = data.info(SAMPLE_TFDS_NAME, data_dir=sample_mnist_tfds)
    assert meta.stats_source == "estimated from 4096 train images"
    assert meta.mean[0] == pytest.approx(0.1307, abs=0.01)  # MNIST digits: same statistics
    assert meta.std[0] == pytest.approx(0.3081, abs=0.01)
    assert meta.splits == {"train": 6000, "test": 1000}
    assert meta.augmentation == data.Augmentation()  # grayscale: no augmentation


def test_estimate_stats_reads_the_requested_number_of_images(sample_mnist_tfds):
    builder = tfds_source.tfds_builder(SAMPLE_TFDS_NAME, sample_mnist_tfds)
    mean, std, source = dataset_info.estimate_stats(builder, num_examples=100)
    assert source == "estimated from 100 train images"
    assert len(mean) == len(std) == 1 and 0.05 < mean[0] < 0.25 and std[0] > 0.1


@pytest.mark.tfds("mnist")
def test_estimated_stats_match_canonical_mnist_values():
    mean, std, source = dataset_info.estimate_stats(tfds_source.tfds_builder("mnist"))
    assert abs(mean[0] - 0.1307) < 0.01 and abs(std[0] - 0.3081) < 0.01
    assert source == "estimated from 4096 train images"


def test_stats_of_an_unprepared_unknown_dataset_are_unavailable(tmp_path):
    with pytest.warns(UserWarning, match="images are only scaled to"):
        meta = data.info(SAMPLE_TFDS_NAME, data_dir=str(tmp_path))
    assert (meta.mean, meta.std, meta.stats_source) == ((0.0,), (1.0,), "unavailable")


def test_unknown_name_lists_known_names_and_tfds_hint():
    with pytest.raises(ValueError) as excinfo:
        data.info("not_a_dataset_name")
    message = str(excinfo.value)
    for expected in ("not_a_dataset_name", "mnist_sample", "cifar100", "svhn_cropped"):
        assert expected in message
    assert "TFDS_DATA_DIR" in message and "image-classification" in message


def test_tfds_name_without_image_label_features_is_rejected():
    with pytest.raises(
        ValueError, match=r"not an image-classification dataset.*\['label', 'text'\]"
    ):
        data.info("imdb_reviews")


def test_non_string_name_is_rejected():
    with pytest.raises(ValueError, match="Received: name=3"):
        data.info(3)
