"""Kills at the write points of `keras-anc distill`: nothing lost, the same student.

The tests run real `keras-anc` processes (`faults.py`), SIGKILL them at chosen writes (the
hook is in the test's wrapper, never in the library), restart them, and compare the end
result with an uninterrupted run. See docs/reliability.md.
"""

import json

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.slow

RUN = [
    "distill",
    "--train-examples",
    "384",
    "--test-examples",
    "128",
    "--epochs",
    "3",
    "--teacher-epochs",
    "1",
    "--batch-size",
    "64",
    "--quiet",
]
# What the run computes (not where it wrote or how long it took).
COMPARED = ("teacher", "student", "history", "compression_ratio", "accuracy_gap", "labels_used")
RUN_FILES = ["config.yaml", "curves.png", "results.json", "student.keras", "summary.md"]


@pytest.fixture(scope="module")
def uninterrupted(harness, tmp_path_factory):
    """The reference: the same run, never killed."""
    root = tmp_path_factory.mktemp("uninterrupted")
    result = harness.run("cli", *RUN, "--out", root / "run", "--cache-dir", root / "cache")
    harness.expect(result, 0)
    return root / "run"


def _weights(path):
    return keras.saving.load_model(path, compile=False).get_weights()


def _assert_same_run(run, reference):
    for a, b in zip(_weights(run / "student.keras"), _weights(reference / "student.keras")):
        np.testing.assert_array_equal(a, b)
    ours = json.loads((run / "results.json").read_text())
    theirs = json.loads((reference / "results.json").read_text())
    assert {k: ours[k] for k in COMPARED} == {k: theirs[k] for k in COMPARED}


def _state(run):
    return json.loads((run / "checkpoint" / "state.json").read_text())


def test_a_run_killed_at_every_kind_of_write_resumes_to_the_same_student(
    harness, tmp_path, uninterrupted
):
    run, cache = tmp_path / "run", tmp_path / "cache"
    args = [*RUN, "--out", run, "--cache-dir", cache]

    def killed_at(match, when, count=1, resume=True):
        fault = {"op": "replace", "match": match, "when": when, "count": count}
        result = harness.run("cli", *args, *(["--resume"] if resume else []), fault=fault)
        harness.expect(result, harness.KILLED)

    # 1. While the teacher is written to the store: no teacher under its final name.
    killed_at("*/teachers/*.keras", "during", resume=False)
    assert harness.visible_files(cache / "teachers") == []
    assert harness.visible_files(run) == ["checkpoint"]

    # 2. While the checkpoint of epoch 2 is written: epoch 1 stays the resumable state.
    killed_at("*/checkpoint/epoch-2.weights.h5", "during")
    assert len(harness.visible_files(cache / "teachers")) == 1  # stored, complete
    assert _state(run)["epoch"] == 1
    assert (run / "checkpoint" / "epoch-1.weights.h5").is_file()

    # 3. Just after epoch 2 is committed (its state renamed into place), before the
    # weights of epoch 1 are deleted.
    killed_at("*/checkpoint/state.json", "after")
    assert _state(run)["epoch"] == 2
    assert (run / "checkpoint" / _state(run)["weights"]).name == "epoch-2.weights.h5"

    # 4. While the student is written, after the last epoch.
    killed_at("*/student.keras", "during")
    assert _state(run)["epoch"] == 3 and harness.visible_files(run) == ["checkpoint"]

    # 5. While results.json (written last) is written: the student and the other run
    # files are complete, the run is not finished.
    killed_at("*/results.json", "during")
    assert harness.visible_files(run) == [
        "checkpoint",
        "config.yaml",
        "curves.png",
        "student.keras",
        "summary.md",
    ]

    # 6. Resumed to the end: the same student and results as the uninterrupted run.
    harness.expect(harness.run("cli", *args, "--resume"), 0)
    assert harness.visible_files(run) == RUN_FILES  # and the checkpoint is gone
    _assert_same_run(run, uninterrupted)


def test_resume_refuses_another_configuration(harness, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoint").mkdir(parents=True)
    (run / "checkpoint" / "config.yaml").write_text("epochs: 2\n")
    result = harness.run("cli", "distill", "--out", run, "--epochs", "3", "--resume")
    harness.expect(result, 2)
    assert "configuration differs from the interrupted run's" in result.stderr
    assert "(epochs: 2 there, 3 here)" in result.stderr  # the only difference
