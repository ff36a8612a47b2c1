"""Atomic writes: the final name holds the old file or the complete new one, never a part."""

import os

import keras
import numpy as np
import pytest

from keras_anc import atomic


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_write_text_and_bytes_replace_the_file_and_leave_no_temporary(tmp_path):
    target = tmp_path / "results.json"
    assert atomic.atomic_write_text(target, "old") == target
    assert atomic.atomic_write_text(target, "new ü") == target
    assert target.read_text(encoding="utf-8") == "new ü"
    atomic.atomic_write_bytes(tmp_path / "model.tflite", b"\x00\x01")
    assert (tmp_path / "model.tflite").read_bytes() == b"\x00\x01"
    assert _names(tmp_path) == ["model.tflite", "results.json"]


def test_a_failing_writer_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    target = atomic.atomic_write_text(tmp_path / "summary.md", "old")
    with pytest.raises(RuntimeError, match="disk full"), atomic.atomic_path(target) as tmp:
        with open(tmp, "w") as f:
            f.write("half a fil")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert _names(tmp_path) == ["summary.md"]


def test_the_temporary_is_hidden_beside_the_target_and_ends_with_its_name(tmp_path):
    with atomic.atomic_path(tmp_path / "student.weights.h5") as tmp:
        name = os.path.basename(tmp)
        assert os.path.dirname(tmp) == str(tmp_path)
        assert name.startswith(".tmp-") and name.endswith(".student.weights.h5")
        open(tmp, "w").close()


def test_nothing_is_visible_under_the_final_name_before_the_rename(tmp_path, monkeypatch):
    target = tmp_path / "config.yaml"
    seen = []
    real_replace = os.replace

    def spying_replace(src, dst):
        with open(src) as f:
            seen.append((os.path.exists(dst), f.read()))
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", spying_replace)
    atomic.atomic_write_text(target, "epochs: 3\n")
    assert seen == [(False, "epochs: 3\n")]


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*Create"):
        atomic.atomic_write_text(tmp_path / "missing" / "a.txt", "x")
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError, match="over the directory"):
        atomic.atomic_write_text(tmp_path / "folder", "x")


def test_atomic_save_model_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = atomic.atomic_save_model(model, tmp_path / "m.keras")
    assert _names(tmp_path) == ["m.keras"]
    x = np.ones((1, 3), "float32")
    np.testing.assert_allclose(
        keras.saving.load_model(path).predict(x, verbose=0), model.predict(x, verbose=0)
    )
