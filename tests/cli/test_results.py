"""The files of a run: results JSON, Markdown summary and the training-curve plot."""

import json

import numpy as np

from keras_anc.cli import results


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
