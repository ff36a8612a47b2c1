"""`keras-anc train-teacher`: its summary describes a teacher, its next step is a command
that works, and `evaluate` takes its run folder."""

import json
import shlex

import pytest

from keras_anc.cli import main as cli


def _run(capsys, *argv):
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_train_teacher_then_its_suggested_distill_and_evaluate(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    small = ["--train-examples", "512", "--test-examples", "256"]
    argv = ["--model", "mlp", "--epochs", "1", "--quiet", *small, "--out", "teacher_run"]
    status, out, err = _run(capsys, "train-teacher", *argv)
    assert status == 0, err
    run = tmp_path / "teacher_run"
    results = json.loads((run / "results.json").read_text())
    summary = (run / "summary.md").read_text()
    assert summary.startswith("# keras-anc train-teacher: mlp on mnist_sample\n")
    for wrong in ("?", "n/a", "| student", "Student", "distill --config"):
        assert wrong not in summary, wrong
    assert (run / "curves.png").is_file()

    # The printed next step is a command that works as printed (shortened by a few flags).
    [hint] = [line for line in out.splitlines() if line.startswith("Distil a student from it: ")]
    command = shlex.split(hint.removeprefix("Distil a student from it: "))
    assert command[:2] == ["keras-anc", "distill"]
    assert command == shlex.split(results["next_command"])
    assert f"`{results['next_command']}`" in summary
    status, _, err = _run(
        capsys, *command[1:], "--epochs", "1", "--quiet", *small, "--out", "student_run"
    )
    assert status == 0, err
    distilled = json.loads((tmp_path / "student_run" / "results.json").read_text())
    assert distilled["teacher_path"] == "teacher_run/teacher.keras"
    assert distilled["teacher"]["accuracy"] == pytest.approx(results["teacher"]["accuracy"])

    # `evaluate` takes the run folder (its teacher.keras) and the run's data set.
    status, out, err = _run(capsys, "evaluate", "--model", "teacher_run", "--test-examples", "256")
    assert status == 0, err
    evaluated = json.loads(out)
    assert evaluated["model"] == "teacher_run/teacher.keras"
    assert evaluated["accuracy"] == pytest.approx(results["teacher"]["accuracy"], abs=1e-6)
