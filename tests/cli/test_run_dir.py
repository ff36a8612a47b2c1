"""Run folders: a new one per run, never a finished run's."""

import pytest

from keras_anc.cli import config as config_lib
from keras_anc.cli import run_dir


def test_each_run_without_out_gets_its_own_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = run_dir.create({"out": None, "dataset": "mnist"}, "distill")
    config = {"out": None, "dataset": "mnist"}
    second = run_dir.create(config, "distill")  # same second: a suffix, not the same folder
    assert first != second and first.is_dir() and second.is_dir()
    assert first.parent.name == "runs" and first.name.startswith("distill-mnist-")
    assert config["out"] == str(second)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(
        [first.name, second.name]
    )


def test_an_interrupted_run_folder_can_be_reused_a_finished_one_cannot(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "student.keras").write_text("partial")
    assert run_dir.create({"out": str(folder)}, "distill") == folder
    (folder / "results.json").write_text("{}")
    assert run_dir.is_finished(folder)
    with pytest.raises(config_lib.ConfigError, match="holds a finished run"):
        run_dir.create({"out": str(folder)}, "distill")


def test_out_must_be_a_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(config_lib.ConfigError, match="exists and is not a folder"):
        run_dir.check_out(str(blocker))


def test_a_run_folder_stands_for_its_model(tmp_path):
    assert run_dir.model_file(tmp_path / "m.keras") == tmp_path / "m.keras"
    with pytest.raises(config_lib.ConfigError, match="without student.keras or teacher.keras"):
        run_dir.model_file(tmp_path)
    (tmp_path / "teacher.keras").write_text("")
    assert run_dir.model_file(tmp_path) == tmp_path / "teacher.keras"
    (tmp_path / "student.keras").write_text("")
    assert run_dir.model_file(tmp_path) == tmp_path / "student.keras"
