"""Shared helpers of the benchmarks: real TFDS data as arrays, machine description, atomic
writes of result files."""

import os
import pathlib
import platform
import secrets
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DATASETS = ("mnist", "fashion_mnist", "cifar10")


def load_arrays(name, split):
    """Loads a TFDS split (e.g. `"train[:8000]"`) as float32 images in [0, 1] and int labels.

    Reads from `TFDS_DATA_DIR` exactly as `tfds.load` does; nothing is downloaded.
    """
    import tensorflow_datasets as tfds

    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}: use one of {DATASETS}.")
    images, labels = tfds.as_numpy(tfds.load(name, split=split, batch_size=-1, as_supervised=True))
    return images.astype("float32") / 255.0, labels.astype("int64")


def environment():
    """Machine and library versions, for the results files."""
    import keras
    import tensorflow as tf

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "backend": keras.backend.backend(),
        "devices": [d.device_type for d in tf.config.list_physical_devices()],
        "tfds_data_dir": os.environ.get("TFDS_DATA_DIR"),
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
    }


def _temporary_name(path):
    return path.parent / f".{path.stem}-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}"


def write_text(path, text):
    """Writes `text` to `path` atomically (a temporary name in the same folder, then
    `os.replace`), so an interrupted benchmark never leaves a truncated results file."""
    path = pathlib.Path(path)
    tmp = _temporary_name(path)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_figure(fig, path, **kwargs):
    """`fig.savefig(path, **kwargs)`, atomically."""
    path = pathlib.Path(path)
    tmp = _temporary_name(path)
    try:
        fig.savefig(tmp, **kwargs)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
