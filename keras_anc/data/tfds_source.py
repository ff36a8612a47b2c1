"""TensorFlow Datasets access: builder look-up, the prepared check, preparation, raw examples.

keras-anc reads TFDS data sets that are *prepared* in a TFDS data directory: `data_dir=` if
given, otherwise the `TFDS_DATA_DIR` environment variable, otherwise `~/tensorflow_datasets`.
When one is missing, the `download=` argument of `load()` and `raw()` decides what happens:

- `None` (default): download only when that can work, decided in at most 3 seconds: the
  data directory exists (or is TFDS's default one), the `KERAS_ANC_OFFLINE` environment variable
  is not set, and the hosts the data set is downloaded from answer. Otherwise fail at once with
  one line that names the data set, the directory searched and how to provide the data.
- `False`: never download; fail at once when the data set is missing.
- `True`: let TFDS download it (without network, TFDS retries for minutes before failing).

`prepare()` prepares a data set explicitly, from files downloaded by hand (`manual_dir=`) or
by download.

Example:

```python
if not keras_anc.data.is_prepared("cifar10"):
    keras_anc.data.prepare("cifar10", manual_dir="~/Downloads")  # holds cifar-10-binary.tar.gz
images_and_labels = keras_anc.data.raw("cifar10", "test", take=16)
```
"""

import hashlib
import os
import pathlib
import socket
import threading
import time
import urllib.parse
import urllib.request

import tensorflow as tf

from keras_anc.data._catalog import KNOWN_DATASETS, SAMPLE_NAME
from keras_anc.data.sample import sample_source

# Environment variable that turns automatic downloads off (any value but "", "0", "false").
OFFLINE_ENV = "KERAS_ANC_OFFLINE"
# Seconds the automatic download check waits for the download hosts to answer.
PROBE_TIMEOUT = 3.0


class DatasetNotPreparedError(ValueError):
    """A TFDS data set is not prepared in the data directory and was not downloaded.

    The message is one line: the data set, the directory searched, why nothing was downloaded
    and how to provide the data.

    Example:

    ```python
    try:
        train = keras_anc.data.load("cifar10", download=False)
    except keras_anc.data.DatasetNotPreparedError as e:
        print(e)
    ```
    """


def import_tfds():
    """Imports and returns `tensorflow_datasets`, or raises a clear `ImportError`.

    Returns:
        The `tensorflow_datasets` module.

    Example:

    ```python
    tfds = import_tfds()
    ```
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise ImportError(
            "TFDS data sets need TensorFlow Datasets, which is not installed. Install it with "
            "`pip install tensorflow-datasets`, or use the embedded MNIST sample "
            "(`keras_anc.data.load_sample()`) or your own arrays "
            f"(`keras_anc.data.from_arrays(x, y)`). Received: {e}"
        ) from e
    return tfds


def _unknown_name_message(name, data_dir):
    where = data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets (default)"
    return (
        f"Unknown dataset name {name!r}. Known names: {', '.join(KNOWN_DATASETS)}. Any other "
        "TensorFlow Datasets image-classification name with `image` and `label` features works "
        "too (see https://www.tensorflow.org/datasets/catalog/overview). TFDS reads prepared data "
        f"from `data_dir=` or the TFDS_DATA_DIR environment variable (now: {where}); for example "
        "`export TFDS_DATA_DIR=/path/to/tensorflow_datasets`. For your own images use "
        "`keras_anc.data.from_arrays(x, y)` or `keras_anc.data.from_dataset(ds)`."
    )


def tfds_builder(name, data_dir=None):
    """Returns the TFDS builder for `name`, checking it is a fixed-size image/label dataset.

    Reads only the builder's code and, when prepared, its metadata on disk: it never downloads
    and never creates `data_dir`.

    Args:
        name: TFDS data set name.
        data_dir: TFDS data directory; `None` uses `TFDS_DATA_DIR` or `~/tensorflow_datasets`.

    Returns:
        A `tfds.core.DatasetBuilder`.

    Example:

    ```python
    tfds_builder("cifar10").info.features["label"].num_classes  # 10
    ```
    """
    tfds = import_tfds()
    if not isinstance(name, str) or not name.strip():
        raise ValueError(
            f"`name` must be a dataset name string. Received: name={name!r}. "
            + _unknown_name_message(name, data_dir)
        )
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(_unknown_name_message(name, data_dir)) from None
    features = builder.info.features
    keys = sorted(features.keys()) if hasattr(features, "keys") else []
    if not (
        "image" in keys
        and "label" in keys
        and isinstance(features["image"], tfds.features.Image)
        and isinstance(features["label"], tfds.features.ClassLabel)
    ):
        raise ValueError(
            f"TFDS dataset {name!r} is not an image-classification dataset: keras-anc needs an "
            f"`image` (Image) feature and a `label` (ClassLabel) feature, but it has {keys}. "
            "Convert it yourself and pass it to `keras_anc.data.from_dataset(ds)`."
        )
    image_shape = tuple(features["image"].shape)
    if len(image_shape) != 3 or any(dim is None for dim in image_shape):
        raise ValueError(
            f"TFDS dataset {name!r} has images of varying size (shape {image_shape}); keras-anc "
            "pipelines need a fixed image size. Resize the images in your own `tf.data` "
            "pipeline (e.g. with `keras.layers.Resizing`) and pass it to "
            "`keras_anc.data.from_dataset(ds)`."
        )
    return builder


def builder_is_prepared(builder):
    """Whether `builder`'s data set is prepared (complete, with split metadata) on disk.

    Args:
        builder: A `tfds.core.DatasetBuilder`.

    Returns:
        A boolean.

    Example:

    ```python
    builder_is_prepared(tfds_builder("mnist"))
    ```
    """
    return bool(builder.info.splits) and builder.is_prepared()


def describe_data_dir(builder, data_dir=None):
    """Names the TFDS data directory `builder` reads and where that setting came from.

    Args:
        builder: A `tfds.core.DatasetBuilder`.
        data_dir: The `data_dir=` the caller passed, if any.

    Returns:
        A string such as `"/data/tfds (from TFDS_DATA_DIR)"`.

    Example:

    ```python
    describe_data_dir(tfds_builder("mnist"))  # '/home/me/tensorflow_datasets (TFDS default)'
    ```
    """
    root = os.fspath(builder.data_dir_root)
    if data_dir:
        source = "from `data_dir=`"
    elif os.environ.get("TFDS_DATA_DIR") and _same_path(os.environ["TFDS_DATA_DIR"], root):
        source = "from TFDS_DATA_DIR"
    elif os.environ.get("TFDS_DATA_DIR"):
        source = "TFDS default"
    else:
        source = "TFDS default; TFDS_DATA_DIR is not set"
    return f"{root} ({source})"


def _same_path(a, b):
    return os.path.abspath(os.path.expanduser(a)) == os.path.abspath(os.path.expanduser(b))


def _download_files(builder):
    """`{url: UrlInfo}` of the files TFDS downloads for `builder` (empty if it lists none)."""
    return dict(builder.url_infos or {})


def _not_prepared_message(builder, name, data_dir, reason=None):
    files = [info.filename or url for url, info in _download_files(builder).items()]
    what = f"{', '.join(sorted(files))}" if files else "the files of its TFDS catalogue page"
    message = f"TFDS data set {name!r} is not prepared in {describe_data_dir(builder, data_dir)}"
    if reason:
        message += f" and was not downloaded: {reason}"
    return (
        f"{message}. Point `data_dir=` (CLI: `--data-dir`) or the TFDS_DATA_DIR environment "
        "variable at a TFDS data directory that holds it, or prepare it there from "
        f"{what} downloaded by hand into a folder DIR: `keras_anc.data.prepare({name!r}, "
        f"data_dir=..., manual_dir=DIR)` (or `tfds build {name} --data_dir=... "
        "--manual_dir=DIR`)."
    )


def is_prepared(name, data_dir=None):
    """Whether data set `name` can be read from disk without any download.

    Never downloads, never creates `data_dir`, and returns at once.

    Args:
        name: `"mnist_sample"` (always available) or a TFDS image-classification name.
        data_dir: TFDS data directory; `None` uses `TFDS_DATA_DIR` or `~/tensorflow_datasets`.

    Returns:
        `True` when the data set is prepared in the data directory.

    Example:

    ```python
    keras_anc.data.is_prepared("mnist", data_dir="/data/tfds")  # True or False
    ```
    """
    if name == SAMPLE_NAME:
        return True
    return builder_is_prepared(tfds_builder(name, data_dir))


def require_prepared(name, data_dir=None):
    """Raises a one-line `DatasetNotPreparedError` unless data set `name` is on disk.

    Never downloads and never creates `data_dir`.

    Args:
        name: `"mnist_sample"` or a TFDS image-classification name.
        data_dir: TFDS data directory; `None` uses `TFDS_DATA_DIR` or `~/tensorflow_datasets`.

    Returns:
        The dataset's prepared directory (`<data_dir>/<name>/<version>`) as a string, or `None`
        for the embedded sample.

    Example:

    ```python
    keras_anc.data.require_prepared("cifar10")  # '/data/tfds/cifar10/3.0.2'
    ```
    """
    if name == SAMPLE_NAME:
        return None
    builder = tfds_builder(name, data_dir)
    if not builder_is_prepared(builder):
        raise DatasetNotPreparedError(_not_prepared_message(builder, name, data_dir))
    return os.fspath(builder.data_dir)


def unreachable_hosts(urls, timeout=PROBE_TIMEOUT):
    """Returns the download hosts of `urls` that do not accept a connection within `timeout`.

    Honours the `https_proxy` / `http_proxy` / `no_proxy` environment variables: behind a proxy
    only the proxy is checked. Name look-ups run in background threads, so the call returns
    within about `timeout` seconds even when DNS hangs.

    Args:
        urls: Download URLs.
        timeout: Seconds to wait for all hosts together.

    Returns:
        A sorted list of `"host:port"` strings; empty when every host answered.

    Example:

    ```python
    unreachable_hosts(["https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"])  # []
    ```
    """
    proxies = urllib.request.getproxies()
    targets = set()
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme or "https"
        proxy = proxies.get(scheme) or proxies.get("all")
        if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
            parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            scheme = parts.scheme
        port = parts.port or (443 if scheme == "https" else 80)
        targets.add((parts.hostname or "", port))
    answered = set()

    def attempt(target):
        try:
            with socket.create_connection(target, timeout=timeout):
                answered.add(target)
        except (OSError, UnicodeError):
            pass

    threads = [threading.Thread(target=attempt, args=(t,), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return sorted(f"{host}:{port}" for host, port in targets - answered)


def _offline():
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _download_refusal(builder, data_dir, create_data_dir):
    """Why an automatic download would not work (a short phrase), or `None` if it can."""
    if _offline():
        return f"downloads are off ({OFFLINE_ENV} is set)"
    root = pathlib.Path(builder.data_dir_root).expanduser()
    default_root = pathlib.Path("~/tensorflow_datasets").expanduser()
    if not create_data_dir and not root.is_dir() and root.absolute() != default_root:
        return (
            "that directory does not exist, and keras-anc does not create a data directory "
            "unasked (pass `download=True` to create it and download there)"
        )
    urls = list(_download_files(builder))
    if not urls:
        return "TFDS lists no download URL for it (pass `download=True` to let TFDS try anyway)"
    unreachable = unreachable_hosts(urls)
    if unreachable:
        return (
            f"no network ({', '.join(unreachable)} did not answer within {PROBE_TIMEOUT:g} s; "
            "pass `download=True` to let TFDS try anyway)"
        )
    return None


def ensure_prepared(builder, name, data_dir=None, download=None):
    """Makes sure `builder`'s data set is on disk, downloading it if `download` allows.

    Args:
        builder: A `tfds.core.DatasetBuilder` from `tfds_builder()`.
        name: The data set name, for messages.
        data_dir: The `data_dir=` the caller passed, if any.
        download: `None` (download only if that can work, decided within seconds), `True`
            (let TFDS download) or `False` (never download).

    Raises:
        DatasetNotPreparedError: The data set is missing and was not downloaded.

    Example:

    ```python
    ensure_prepared(tfds_builder("mnist"), "mnist", download=False)
    ```
    """
    if download not in (None, True, False):
        raise ValueError(
            f"`download` must be None, True or False. Received: download={download!r}."
        )
    if builder_is_prepared(builder):
        return
    if download is False:
        reason = "`download=False`"
    elif download is None:
        reason = _download_refusal(builder, data_dir, create_data_dir=False)
    else:
        reason = None
    if reason:
        raise DatasetNotPreparedError(_not_prepared_message(builder, name, data_dir, reason))
    builder.download_and_prepare()


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_manual_files(builder, name, manual_dir):
    """Checks that `manual_dir` holds every file TFDS downloads for `name`, byte for byte."""
    expected = {url: info for url, info in _download_files(builder).items() if info.filename}
    missing = [
        info.filename for info in expected.values() if not (manual_dir / info.filename).is_file()
    ]
    if missing:
        urls = [url for url, info in expected.items() if info.filename in missing]
        raise DatasetNotPreparedError(
            f"Cannot prepare {name!r}: `manual_dir` {manual_dir} lacks "
            f"{', '.join(sorted(missing))}. Download them from {', '.join(sorted(urls))} into "
            "that folder, or pass the folder that holds them."
        )
    for url, info in expected.items():
        path = manual_dir / info.filename
        size = path.stat().st_size
        checksum = None if size != int(info.size) else _sha256(path)
        if checksum != info.checksum:
            got = f"{size} bytes" if checksum is None else f"SHA-256 {checksum[:16]}..."
            raise DatasetNotPreparedError(
                f"Cannot prepare {name!r}: {path} is not the file TFDS expects from {url} "
                f"({int(info.size)} bytes, SHA-256 {info.checksum[:16]}...); it has {got}. "
                "TFDS accepts only the published files: download that file again, unmodified."
            )


def prepare(name, *, data_dir=None, manual_dir=None):
    """Prepares a TFDS data set in a data directory, from files downloaded by hand or by download.

    With `manual_dir`, TFDS reads the data set's source files from that folder (its manual
    download path) and never goes to the network: keras-anc first checks that every file is
    there with the size and SHA-256 that TFDS registered, so that a wrong or missing file fails
    at once and leaves `data_dir` untouched. Without `manual_dir`, the files are downloaded when
    the download hosts answer within seconds; otherwise this fails at once. Does nothing when
    the data set is already prepared. Unlike `load()` and `raw()` with the default
    `download=None`, it creates `data_dir` when that does not exist.

    Args:
        name: A TFDS image-classification name, e.g. `"mnist"` or `"cifar10"`.
        data_dir: TFDS data directory to prepare into; `None` uses `TFDS_DATA_DIR` or
            `~/tensorflow_datasets`.
        manual_dir: Optional folder holding the data set's source files as published (for
            `mnist`: `train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`,
            `t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz`).

    Returns:
        The prepared directory (`<data_dir>/<name>/<version>`) as a string.

    Raises:
        DatasetNotPreparedError: A source file is missing or differs from the published one,
            or downloading is not possible.

    Example:

    ```python
    keras_anc.data.prepare("mnist", data_dir="/data/tfds", manual_dir="~/Downloads/mnist")
    train = keras_anc.data.load("mnist", data_dir="/data/tfds")
    ```
    """
    tfds = import_tfds()
    builder = tfds_builder(name, data_dir)
    if builder_is_prepared(builder):
        return os.fspath(builder.data_dir)
    if manual_dir is not None:
        manual = pathlib.Path(os.fspath(manual_dir)).expanduser()
        if not manual.is_dir():
            raise ValueError(
                "`manual_dir` must be an existing folder that holds the files downloaded by hand. "
                f"Received: manual_dir={os.fspath(manual_dir)!r}."
            )
        _check_manual_files(builder, name, manual)
        config = tfds.download.DownloadConfig(manual_dir=os.fspath(manual), try_download_gcs=False)
    else:
        reason = _download_refusal(builder, data_dir, create_data_dir=True)
        if reason:
            raise DatasetNotPreparedError(_not_prepared_message(builder, name, data_dir, reason))
        config = tfds.download.DownloadConfig()
    builder.download_and_prepare(download_config=config)
    return os.fspath(builder.data_dir)


def read_tfds(name, split, *, data_dir=None, download=None):
    """Reads `(uint8 image, int32 label)` pairs of a TFDS split in its fixed order.

    Args:
        name: A TFDS image-classification name.
        split: Split to read (TFDS split syntax, e.g. `"test[:1000]"`).
        data_dir: TFDS data directory.
        download: As in `ensure_prepared()`.

    Returns:
        An unbatched `tf.data.Dataset`.

    Example:

    ```python
    image, label = next(iter(read_tfds("mnist", "test")))
    ```
    """
    tfds = import_tfds()
    builder = tfds_builder(name, data_dir)
    ensure_prepared(builder, name, data_dir, download)
    ds = builder.as_dataset(
        split=split,
        shuffle_files=False,
        decoders=tfds.decode.PartialDecoding({"image": True, "label": True}),
        # The pipelines cache after `take`; TFDS' own cache of small data sets would be a
        # second copy, read partly under `take` (TF then warns "did not fully read the
        # dataset being cached" and discards it).
        read_config=tfds.ReadConfig(try_autocache=False),
    )
    return ds.map(
        lambda e: (e["image"], tf.cast(e["label"], tf.int32)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )


def raw(name, split="test", *, take=None, data_dir=None, download=None):
    """Unbatched `(uint8 image, int32 label)` pairs, before any preprocessing.

    What a deployed model with baked-in preprocessing receives from clients; used to check
    exported artefacts against the Keras model on the same images.

    Args:
        name: `"mnist_sample"` or a TFDS image-classification name.
        split: Split to read (TFDS split syntax, e.g. `"test[:1000]"`).
        take: Optional number of examples to keep.
        data_dir: TFDS data directory.
        download: Whether TFDS may download a dataset missing from `data_dir`: `None` (default)
            downloads only when the download hosts answer within seconds and the data directory
            exists, otherwise fails at once; `True` always lets TFDS try; `False` never does.

    Returns:
        A `tf.data.Dataset` in the dataset's fixed order.

    Example:

    ```python
    images_and_labels = keras_anc.data.raw("mnist_sample", "test")
    ```
    """
    if name == SAMPLE_NAME:
        ds = sample_source(split)
    else:
        ds = read_tfds(name, split, data_dir=data_dir, download=download)
    return ds.take(take) if take is not None else ds
