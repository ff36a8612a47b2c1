"""Smoke run of `benchmarks.compression` (`--smoke`): it must keep working end to end.

Runs the real command in a subprocess, on real TFDS data (skipped, with the reason, when
MNIST is not prepared), and checks the six rows of its table. Accuracy and speed values are
not asserted beyond their range: a smoke run trains for seconds and times a few calls.
"""

import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROWS = [
    "teacher_float32",
    "teacher_keras_int8",
    "teacher_tflite_int8",
    "student_float32",
    "student_keras_int8",
    "student_tflite_int8",
]


@pytest.mark.slow
@pytest.mark.tfds("mnist")  # the smoke preset's data set
def test_compression_smoke_writes_six_rows_with_smaller_int8_files(tmp_path, run_smoke):
    out = tmp_path / "compression"
    run_smoke("benchmarks.compression", "--out", str(out), "--cache-dir", str(tmp_path / "cache"))
    results = json.loads((out / "results.json").read_text())
    assert {"preset", "environment", "settings", "models", "rows", "wall_seconds"} <= set(results)
    assert results["preset"] == "smoke"
    rows = results["rows"]
    assert list(rows) == ROWS
    for name, row in rows.items():
        assert 0.0 <= row["accuracy"] <= 1.0, name
        assert row["file_bytes"] > 0, name
        assert row["latency_ms_b1"] > 0 and row["throughput_b256"] > 0, name
        assert row["params"] == results["models"][row["model"]]["params"], name
    for model in ("teacher", "student"):
        float_bytes = rows[f"{model}_float32"]["file_bytes"]
        assert rows[f"{model}_keras_int8"]["file_bytes"] < float_bytes
        assert rows[f"{model}_tflite_int8"]["file_bytes"] < float_bytes
        # Keras 3.15.1 quantizes the Dense layers only; the LeNets' convolutions stay float.
        assert results["models"][model]["keras_int8_quantized_layers"] == ["features", "logits"]
    # The reference row is measured against itself.
    assert rows["teacher_float32"]["speedup_b1"] == 1.0
    table = (out / "results.md").read_text()
    for name in ROWS:
        assert f"| {name} |" in table
    # The models are written to a temporary folder, not next to the results.
    assert sorted(p.name for p in out.iterdir()) == ["results.json", "results.md"]
