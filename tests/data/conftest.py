"""Fixtures for the `keras_anc.data` tests that need a TFDS data set without any download.

`KerasAncSampleMnist` is TFDS's own MNIST builder pointed at the four MNIST `.gz` files rebuilt
from the MNIST sample embedded in keras-anc (6,000 train and 1,000 test digits in the original
idx format). Its registered checksums are those of these files, so TFDS's manual-download path
(`manual_dir=`) prepares it offline exactly as it prepares `mnist` from the published files.
"""

import gzip
import hashlib
import os
import struct

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_anc.data.sample import sample_arrays

SAMPLE_TFDS_NAME = "keras_anc_sample_mnist"
# Files named as the published MNIST ones, so that the real `mnist` builder recognises them.
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


class KerasAncSampleMnist(tfds.image_classification.MNIST):
    """TFDS's MNIST builder for the idx files of the embedded sample (any number of images)."""

    name = SAMPLE_TFDS_NAME
    URL = "https://mnist.invalid/"  # never resolves: the files must come from `manual_dir`
    url_infos = {}  # the files' checksums, set by `sample_mnist_files`

    def _generate_examples(self, num_examples, data_path, label_path):
        count = tf.io.gfile.stat(os.fspath(label_path)).length - 8  # 8-byte idx1 header
        yield from super()._generate_examples(count, data_path, label_path)


def _idx_gz(path, array):
    """Writes `array` (uint8 images (n, 28, 28) or labels (n,)) as a gzipped idx file."""
    if array.ndim == 3:
        header = struct.pack(">IIII", 0x803, *array.shape)
    else:
        header = struct.pack(">II", 0x801, len(array))
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(header + np.ascontiguousarray(array, np.uint8).tobytes())


def _write_sample_mnist_files(folder):
    """Writes the four MNIST `.gz` files of the embedded sample into `folder`; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = sample_arrays()
    for split in ("train", "test"):
        _idx_gz(folder / MNIST_FILES[f"{split}_images"], arrays[f"x_{split}"][..., 0])
        _idx_gz(folder / MNIST_FILES[f"{split}_labels"], arrays[f"y_{split}"])
    return folder


@pytest.fixture
def write_mnist_files():
    """`write(folder)`: writes the MNIST `.gz` files of the embedded sample; returns `folder`."""
    return _write_sample_mnist_files


@pytest.fixture(scope="session")
def sample_mnist_files(tmp_path_factory):
    """A folder with the MNIST `.gz` files of the embedded sample; registers their checksums."""
    folder = _write_sample_mnist_files(tmp_path_factory.mktemp("manual"))
    infos = {}
    for filename in MNIST_FILES.values():
        data = (folder / filename).read_bytes()
        infos[KerasAncSampleMnist.URL + filename] = tfds.core.download.checksums.UrlInfo(
            size=len(data), checksum=hashlib.sha256(data).hexdigest(), filename=filename
        )
    KerasAncSampleMnist.url_infos = infos
    return folder


@pytest.fixture(scope="session")
def sample_mnist_tfds(tmp_path_factory, sample_mnist_files):
    """A TFDS data dir where `keras_anc_sample_mnist` was prepared by `keras_anc.data.prepare`."""
    from keras_anc import data

    data_dir = tmp_path_factory.mktemp("tfds") / "prepared"
    data.prepare(SAMPLE_TFDS_NAME, data_dir=str(data_dir), manual_dir=sample_mnist_files)
    return str(data_dir)


@pytest.fixture
def no_download(monkeypatch):
    """Fails the test if TFDS is asked to download or prepare anything."""

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"TFDS was asked to download/prepare {self.name!r}")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", refuse)
