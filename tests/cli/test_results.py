"""The files of a run: results JSON, Markdown summary and the training-curve plot."""

import json

import numpy as np

from keras_anc.cli import results
from keras_anc.cli import results as results_lib


def test_json_is_safe_for_numpy_and_nan(tmp_path):
    path = results.write_json(
        {"a": np.float32(0.5), "b": [np.int64(3), float("nan")]}, tmp_path / "r.json"
    )
    assert json.loads(path.read_text()) == {"a": 0.5, "b": [3, None]}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # written via a temporary name


def test_plot_writes_a_png_with_every_logged_curve(tmp_path):
    history = {
        "loss": [3.0, 2.0],
        "val_loss": [3.1, 2.2],
        "discriminator_accuracy": [0.6, 0.7],
        "teacher_agreement": [0.5, 0.8],
        "mimic_weight": [1.0, 0.5],
    }
    path = results.plot_history(history, tmp_path / "curves.png", title="t")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # Four panels (objective, discriminator, quality, other) make a wide figure.
    width = int.from_bytes(data[16:20], "big")
    assert width > 1500
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]


def test_summary_mentions_the_comparison():
    text = results.summary_markdown(
        {
            "method": "anc",
            "dataset": "mnist_sample",
            "compression_ratio": 14.36,
            "accuracy_gap": 0.01,
            "labels_used": False,
            "wall_time_s": 30,
            "teacher": {"architecture": "lenet5", "params": 61706, "accuracy": 0.97},
            "student": {
                "architecture": "lenet_tiny",
                "params": 4298,
                "accuracy": 0.96,
                "accuracy_before": 0.1,
                "teacher_agreement": 0.97,
            },
        }
    )
    assert "| teacher | lenet5 | 61,706 |" in text
    assert "96.00%" in text and "10.00%" in text
    assert "14.36x" in text


def _distill_results(**overrides):
    results = {
        "command": "distill",
        "method": "anc",
        "dataset": "mnist_sample",
        "compression_ratio": 14.36,
        "accuracy_gap": 0.008,
        "labels_used": False,
        "wall_time_s": 30,
        "teacher": {"architecture": "lenet5", "params": 61706, "accuracy": 0.966},
        "student": {
            "architecture": "lenet_tiny",
            "params": 4298,
            "accuracy": 0.958,
            "accuracy_before": 0.106,
            "teacher_agreement": 0.964,
        },
    }
    results.update(overrides)
    return results


def test_the_table_fits_long_method_and_model_names():
    results = _distill_results(method="logit_regression")
    results["student"]["architecture"] = "keras_cv_efficientnetv2_b0"
    lines = results_lib.comparison_table(results).splitlines()
    assert lines[0].split() == ["model", "architecture", "parameters", "test", "accuracy"]
    assert lines[3].split() == [
        "student,",
        "logit_regression",
        "keras_cv_efficientnetv2_b0",
        "4,298",
        "95.80%",
    ]
    # Every column starts at the same place on every line.
    start = lines[0].index("architecture")
    assert all(line[start - 2 : start] == "  " and line[start] != " " for line in lines)
    assert len({len(line) for line in lines}) == 1


def test_the_verdict_says_larger_and_points():
    assert results_lib.verdict(_distill_results()) == (
        "The student is 14.36x smaller than the teacher, was trained without labels, agrees "
        "with it on 96.4% of test images, and is 0.80 points below it."
    )
    larger = _distill_results(accuracy_gap=-0.003)
    larger["student"]["params"] = 75000
    text = results_lib.verdict(larger)
    assert "1.22x larger than the teacher" in text and "0.30 points above it" in text
    assert "smaller" not in text


def test_the_distill_summary_speaks_of_points_and_the_run_folder(tmp_path):
    text = results_lib.summary_markdown(_distill_results(), tmp_path)
    assert "0.80 points below the teacher" in text and "0.80%" not in text
    assert f"`keras-anc distill --config {tmp_path / 'config.yaml'}`" in text


def test_the_teacher_summary_describes_a_teacher(tmp_path):
    results = {
        "command": "train-teacher",
        "dataset": "mnist",
        "teacher": {
            "architecture": "lenet5",
            "params": 61706,
            "macs": 416520,
            "accuracy": 0.9712,
            "loss": 0.0912,
        },
        "history": {"loss": [0.5, 0.2, 0.1]},
        "wall_time_s": 12.5,
        "next_command": "keras-anc distill --dataset mnist --teacher runs/t/teacher.keras",
    }
    text = results_lib.summary_markdown(results, tmp_path)
    assert text.startswith("# keras-anc train-teacher: lenet5 on mnist\n")
    assert "| teacher | lenet5 | 61,706 | 416,520 | 97.12% | 0.0912 |" in text
    assert "3 epochs" in text
    assert "`keras-anc distill --dataset mnist --teacher runs/t/teacher.keras`" in text
    assert f"keras-anc train-teacher --config {tmp_path / 'config.yaml'}" in text
    for wrong in ("?", "n/a", "| student", "Student", "distill --config"):
        assert wrong not in text, wrong


def test_teacher_curves_are_titled_teacher(tmp_path, monkeypatch):
    import matplotlib.axes

    titles = []
    original = matplotlib.axes.Axes.set_title
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "set_title",
        lambda self, label, *a, **k: titles.append(label) or original(self, label, *a, **k),
    )
    history = {"loss": [1.0, 0.5], "accuracy": [0.5, 0.8], "val_accuracy": [0.6, 0.7]}
    results_lib.plot_history(history, tmp_path / "curves.png", model="teacher")
    assert titles == ["Teacher objective", "Teacher quality"]
