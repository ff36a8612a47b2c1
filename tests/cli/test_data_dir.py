"""The TFDS data directory read without TensorFlow: what is prepared, the fast failure."""

import json
import subprocess
import sys

import pytest

from keras_anc import data
from keras_anc.cli import config as config_lib
from keras_anc.cli import data_dir


def _fake_prepared(root, name, version, splits):
    folder = root / name / version
    folder.mkdir(parents=True)
    info = {"name": name, "splits": [{"name": k, "shardLengths": [str(v)]} for k, v in splits]}
    (folder / "dataset_info.json").write_text(json.dumps(info))
    return folder


def test_known_names_match_the_library():
    assert (data.SAMPLE_NAME, *data_dir.KNOWN_TFDS_NAMES) == tuple(data.KNOWN_DATASETS)


def test_prepared_lists_the_newest_complete_version_of_each(tmp_path):
    _fake_prepared(tmp_path, "mnist", "3.0.0", [("train", 1)])
    newest = _fake_prepared(tmp_path, "mnist", "3.0.1", [("train", 60000), ("test", 10000)])
    _fake_prepared(tmp_path, "cifar10", "3.0.2.incompleteABC", [("train", 5)])
    (tmp_path / "downloads").mkdir()
    [found] = data_dir.prepared(str(tmp_path))
    assert (found.name, found.version, found.path) == ("mnist", "3.0.1", newest)
    assert found.splits == {"train": 60000, "test": 10000}
    assert data_dir.is_on_disk("mnist", str(tmp_path))
    assert not data_dir.is_on_disk("cifar10", str(tmp_path))
    assert data_dir.prepared(str(tmp_path / "missing")) == []


def test_data_dir_comes_from_the_flag_then_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "env"))
    assert data_dir.resolve(str(tmp_path / "flag")) == (tmp_path / "flag", "--data-dir")
    assert data_dir.resolve(None) == (tmp_path / "env", "TFDS_DATA_DIR")
    monkeypatch.delenv("TFDS_DATA_DIR")
    assert data_dir.resolve(None)[1] == "default"
    assert "TFDS_DATA_DIR is not set" in data_dir.describe(None)


def test_a_known_data_set_that_is_not_on_disk_fails_in_one_line(tmp_path):
    with pytest.raises(config_lib.ConfigError) as error:
        data_dir.check("cifar10", str(tmp_path))
    message = str(error.value)
    assert "\n" not in message
    assert f"not prepared in the TFDS data directory {tmp_path} (from --data-dir)" in message
    assert f"`keras-anc data prepare cifar10 --data-dir {tmp_path}`" in message
    assert "TFDS_DATA_DIR" in message and "--from FOLDER" in message
    data_dir.check("mnist_sample", str(tmp_path))  # embedded: always there
    data_dir.check("some_other_tfds_set", str(tmp_path))  # left to TFDS


def test_this_module_loads_no_tensorflow():
    code = (
        "import sys\n"
        "from keras_anc.cli import data_dir\n"
        "data_dir.prepared(None)\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'tensorflow_datasets') "
        "if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
