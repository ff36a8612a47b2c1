"""Tests for keras_anc/data/__init__.py: the public names and the TensorFlow requirement."""

import pathlib
import subprocess
import sys
import textwrap

from keras_anc import data
from keras_anc.data import augmentation, dataset_info, pipeline, sample, tfds_source
from keras_anc.data.function_matching import function_matching

PUBLIC = {
    "Augmentation": augmentation.Augmentation,
    "DatasetInfo": dataset_info.DatasetInfo,
    "info": dataset_info.info,
    "load": pipeline.load,
    "from_arrays": pipeline.from_arrays,
    "from_dataset": pipeline.from_dataset,
    "drop_labels": pipeline.drop_labels,
    "function_matching": function_matching,
    "is_augmented": augmentation.is_augmented,
    "load_sample": sample.load_sample,
    "raw": tfds_source.raw,
    "is_prepared": tfds_source.is_prepared,
    "require_prepared": tfds_source.require_prepared,
    "prepare": tfds_source.prepare,
    "DatasetNotPreparedError": tfds_source.DatasetNotPreparedError,
}


def test_public_names_are_re_exported_from_their_modules():
    for name, obj in PUBLIC.items():
        assert getattr(data, name) is obj, name
    assert set(PUBLIC) | {"KNOWN_DATASETS", "SAMPLE_NAME"} == set(data.__all__)
    assert data.SAMPLE_NAME == "mnist_sample" and data.SAMPLE_NAME in data.KNOWN_DATASETS


def test_import_without_tensorflow_names_the_install_command():
    script = textwrap.dedent(
        """
        import importlib.abc, sys

        class NoTensorFlow(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "tensorflow" or name.startswith("tensorflow."):
                    raise ImportError(f"No module named {name!r}")
                return None

        sys.meta_path.insert(0, NoTensorFlow())
        try:
            import keras_anc.data
        except ImportError as e:
            print(e)
        else:
            print("imported")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=pathlib.Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout.strip().splitlines()
    assert len(out) == 1, done.stdout
    assert "`keras_anc.data`" in out[0]
    assert "pip install tensorflow tensorflow-datasets" in out[0]
