"""Tests for keras_anc/data/tfds_source.py: prepared check, download policy, `prepare`, `raw`.

Everything here runs offline. Preparation is tested end to end on TFDS's own MNIST builder fed
with `.gz` files rebuilt from the embedded sample (see `conftest.py`).
"""

import os
import socket

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_anc import data
from keras_anc.data import tfds_source
from keras_anc.data.sample import sample_arrays

SAMPLE_TFDS_NAME = "keras_anc_sample_mnist"  # registered by conftest.py
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@pytest.fixture
def online(monkeypatch):
    """Automatic downloads allowed (the test conftest turns them off) but the network is mocked.

    Returns the list of URL lists the network check was asked about.
    """
    monkeypatch.delenv(tfds_source.OFFLINE_ENV, raising=False)
    asked = []

    def unreachable(urls, timeout=tfds_source.PROBE_TIMEOUT):
        asked.append(list(urls))
        return ["mnist.invalid:443"]

    monkeypatch.setattr(tfds_source, "unreachable_hosts", unreachable)
    return asked


def _examples(ds):
    """The `(image bytes, label)` pairs of a raw dataset, sorted (TFDS stores them shuffled)."""
    return sorted((image.tobytes(), int(label)) for image, label in ds.as_numpy_iterator())


def _sample_examples(split):
    arrays = sample_arrays()
    return sorted(
        (image.tobytes(), int(label))
        for image, label in zip(arrays[f"x_{split}"], arrays[f"y_{split}"])
    )


# ----------------------------------------------------------------------------------------------
# is_prepared / require_prepared.


def test_is_prepared_is_false_for_an_empty_or_absent_dir_and_creates_nothing(tmp_path):
    absent = tmp_path / "absent"
    assert data.is_prepared("mnist", data_dir=str(tmp_path)) is False
    assert data.is_prepared("cifar10", data_dir=str(absent)) is False
    assert list(tmp_path.iterdir()) == []


def test_the_embedded_sample_is_always_prepared(tmp_path):
    assert data.is_prepared("mnist_sample", data_dir=str(tmp_path / "absent")) is True
    assert data.require_prepared("mnist_sample") is None


def test_require_prepared_says_in_one_line_what_is_missing_where_and_how_to_fix(tmp_path):
    with pytest.raises(data.DatasetNotPreparedError) as excinfo:
        data.require_prepared("mnist", data_dir=str(tmp_path))
    message = str(excinfo.value)
    assert "\n" not in message
    assert "'mnist'" in message and f"{tmp_path} (from `data_dir=`)" in message
    for hint in ("--data-dir", "TFDS_DATA_DIR", "keras_anc.data.prepare('mnist'", "tfds build"):
        assert hint in message
    for filename in MNIST_FILES:
        assert filename in message
    assert isinstance(excinfo.value, ValueError)  # what callers caught before
    assert list(tmp_path.iterdir()) == []


def test_require_prepared_returns_the_prepared_directory(sample_mnist_tfds):
    path = data.require_prepared(SAMPLE_TFDS_NAME, data_dir=sample_mnist_tfds)
    assert path == os.path.join(sample_mnist_tfds, SAMPLE_TFDS_NAME, "3.0.1")
    assert data.is_prepared(SAMPLE_TFDS_NAME, data_dir=sample_mnist_tfds)


def test_unknown_names_are_rejected_by_the_checks():
    with pytest.raises(ValueError, match="Unknown dataset name 'not_a_dataset_name'"):
        data.is_prepared("not_a_dataset_name")


# ----------------------------------------------------------------------------------------------
# The download policy of load() and raw().


@pytest.mark.parametrize("call", ["load", "raw"])
def test_default_fails_at_once_without_network_and_never_downloads(
    call, tmp_path, online, no_download
):
    with pytest.raises(data.DatasetNotPreparedError) as excinfo:
        getattr(data, call)("mnist", data_dir=str(tmp_path))
    message = str(excinfo.value)
    assert "\n" not in message
    assert "no network (mnist.invalid:443 did not answer" in message
    assert str(tmp_path) in message and "TFDS_DATA_DIR" in message
    assert online and all("cvdf-datasets/mnist" in url for url in online[0])
    assert list(tmp_path.iterdir()) == []


def test_default_downloads_when_the_download_hosts_answer(tmp_path, online, monkeypatch):
    monkeypatch.setattr(tfds_source, "unreachable_hosts", lambda urls, timeout=3.0: [])
    prepared = []

    def fake_download(self, *args, **kwargs):
        prepared.append(self.name)
        raise RuntimeError("stop here: no real download in tests")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", fake_download)
    with pytest.raises(RuntimeError, match="stop here"):
        data.load("mnist", data_dir=str(tmp_path))
    assert prepared == ["mnist"]


def test_offline_switch_skips_the_network_check(tmp_path, online, monkeypatch, no_download):
    monkeypatch.setenv(tfds_source.OFFLINE_ENV, "1")
    with pytest.raises(data.DatasetNotPreparedError, match="downloads are off"):
        data.load("cifar10", data_dir=str(tmp_path))
    assert online == []


def test_a_missing_data_dir_is_neither_created_nor_downloaded_to(tmp_path, online, no_download):
    wrong = tmp_path / "typo" / "tfds"
    with pytest.raises(data.DatasetNotPreparedError, match="does not exist.*download=True"):
        data.load("mnist", "test", data_dir=str(wrong))
    with pytest.raises(data.DatasetNotPreparedError):
        data.raw("mnist", data_dir=str(wrong))
    assert online == []  # decided without touching the network
    assert not (tmp_path / "typo").exists()


def test_download_false_never_downloads(tmp_path, no_download):
    with pytest.raises(data.DatasetNotPreparedError, match="`download=False`"):
        data.load("mnist", data_dir=str(tmp_path), download=False)
    assert list(tmp_path.iterdir()) == []


def test_download_must_be_none_true_or_false(tmp_path):
    with pytest.raises(ValueError, match="Received: download='yes'"):
        data.raw("mnist", data_dir=str(tmp_path), download="yes")


def test_info_reads_code_metadata_without_data_and_creates_nothing(tmp_path, no_download):
    meta = data.info("cifar10", data_dir=str(tmp_path / "absent"))
    assert meta.num_classes == 10 and meta.splits == {}
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------------
# The network check (loopback only).


@pytest.fixture
def closed_port():
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_hosts_reports_only_hosts_that_do_not_answer(closed_port, monkeypatch):
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        open_port = server.getsockname()[1]
        urls = [f"http://127.0.0.1:{open_port}/a.gz", f"http://127.0.0.1:{closed_port}/b.gz"]
        assert tfds_source.unreachable_hosts(urls, timeout=2) == [f"127.0.0.1:{closed_port}"]
        assert tfds_source.unreachable_hosts(urls[:1], timeout=2) == []


def test_unreachable_hosts_checks_the_proxy_when_one_is_set(closed_port, monkeypatch):
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{closed_port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert tfds_source.unreachable_hosts(["https://example.invalid/x.gz"], timeout=2) == [
        f"127.0.0.1:{closed_port}"
    ]


# ----------------------------------------------------------------------------------------------
# prepare().


def test_prepare_from_manual_files_then_read_them_back(sample_mnist_tfds):
    for split in ("train", "test"):
        ds = data.raw(SAMPLE_TFDS_NAME, split, data_dir=sample_mnist_tfds)
        assert _examples(ds) == _sample_examples(split)
    x, y = next(iter(data.load(SAMPLE_TFDS_NAME, "test", data_dir=sample_mnist_tfds)))
    assert x.shape == (128, 28, 28, 1) and y.shape == (128,)


def test_prepare_is_a_no_op_when_prepared(sample_mnist_tfds, no_download):
    path = data.prepare(SAMPLE_TFDS_NAME, data_dir=sample_mnist_tfds, manual_dir="/nonexistent")
    assert path == data.require_prepared(SAMPLE_TFDS_NAME, data_dir=sample_mnist_tfds)


def test_prepare_mnist_refuses_files_that_are_not_the_published_ones(
    tmp_path, write_mnist_files, no_download
):
    # TFDS checks every file against the checksums it registered for the published MNIST files,
    # so `mnist` itself cannot be prepared offline from rebuilt files: keras-anc says so before
    # TFDS writes anything.
    manual = write_mnist_files(tmp_path / "manual")
    data_dir = tmp_path / "tfds"
    with pytest.raises(data.DatasetNotPreparedError) as excinfo:
        data.prepare("mnist", data_dir=str(data_dir), manual_dir=manual)
    message = str(excinfo.value)
    assert "\n" not in message
    assert "is not the file TFDS expects from https://storage.googleapis.com/" in message
    assert "download that file again" in message
    assert not data_dir.exists()


def test_prepare_lists_missing_manual_files(tmp_path, write_mnist_files, no_download):
    manual = write_mnist_files(tmp_path / "manual")
    (manual / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(data.DatasetNotPreparedError, match=r"lacks t10k-labels-idx1-ubyte\.gz\."):
        data.prepare("mnist", data_dir=str(tmp_path / "tfds"), manual_dir=manual)
    assert not (tmp_path / "tfds").exists()


def test_prepare_needs_an_existing_manual_dir(tmp_path):
    with pytest.raises(ValueError, match="`manual_dir` must be an existing folder"):
        data.prepare("mnist", data_dir=str(tmp_path), manual_dir=tmp_path / "absent")


def test_prepare_without_files_or_network_fails_at_once(tmp_path, online, no_download):
    with pytest.raises(data.DatasetNotPreparedError, match="no network"):
        data.prepare("mnist", data_dir=str(tmp_path / "new"))
    assert online


# ----------------------------------------------------------------------------------------------
# raw().


def test_raw_sample_is_the_embedded_arrays_in_order():
    images, labels = zip(*data.raw("mnist_sample", "test", take=50).as_numpy_iterator())
    arrays = sample_arrays()
    np.testing.assert_array_equal(np.stack(images), arrays["x_test"][:50])
    np.testing.assert_array_equal(np.array(labels), arrays["y_test"][:50])


@pytest.mark.tfds("mnist")
def test_raw_mnist_matches_tfds():
    expected = tfds.as_numpy(tfds.load("mnist", split="test[:64]", as_supervised=True))
    for (image, label), (raw_image, raw_label) in zip(
        expected, data.raw("mnist", "test", take=64).as_numpy_iterator()
    ):
        np.testing.assert_array_equal(image, raw_image)
        assert int(label) == raw_label and raw_image.dtype == np.uint8
