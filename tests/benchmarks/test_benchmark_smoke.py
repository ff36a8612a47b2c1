"""Smoke runs of the benchmark scripts (`--smoke`): they must keep working end to end.

Each runs its real command in a subprocess, on real TFDS data (skipped, with the reason, when
the data set is not prepared), and checks the files it writes and their keys. Accuracy numbers
are not asserted: a smoke run trains for seconds.
"""

import json
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.tfds("mnist")  # the smoke preset's one dataset
def test_accuracy_smoke_writes_results_table_and_plots(tmp_path, run_smoke):
    out = tmp_path / "acc"
    run_smoke("benchmarks.accuracy", "--out", str(out), "--cache-dir", str(tmp_path / "cache"))
    for name in ("results.json", "results.md", "accuracy.png", "curves.png"):
        assert (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    assert {"preset", "environment", "methods", "datasets", "wall_seconds"} <= set(results)
    assert results["preset"] == "smoke"
    mnist = results["datasets"]["mnist"]
    assert {"teacher_accuracy", "teacher_params", "student_params", "compression_ratio"} <= set(
        mnist
    )
    assert set(mnist["methods"]) == set(results["methods"])
    assert len(results["methods"]) == 8
    for record in mnist["methods"].values():
        assert {"accuracy", "mean", "std", "gap_to_teacher", "curves"} <= set(record)
        assert 0.0 <= record["mean"] <= 1.0
    table = (out / "results.md").read_text()
    assert "| anc |" in table and "| hinton_kd |" in table
    # The teacher is cached on disk, keyed by its configuration, for later runs.
    assert list((tmp_path / "cache" / "teachers").glob("mnist-*.keras"))


@pytest.mark.slow
@pytest.mark.tfds("mnist")
def test_recipe_sweep_smoke_writes_arms_and_best_recipe_per_method(tmp_path, run_smoke):
    out = tmp_path / "sweep"
    run_smoke("benchmarks.recipe_sweep", "--out", str(out), "--cache-dir", str(tmp_path / "cache"))
    results = json.loads((out / "results.json").read_text())
    assert set(results["arms"]) == {"labels/adam_cosine_3e-3", "anc/adam_cosine_3e-3"}
    for arm, record in results["arms"].items():
        assert record["method"] == arm.split("/")[0]
        assert len(record["accuracy"]) == len(results["seeds"]) == 1
        assert 0.0 <= record["mean"] <= 1.0
    # One best arm per method, with a recipe keras_anc.recipe.Recipe accepts.
    from keras_anc.recipe import Recipe

    assert set(results["best"]) == {"labels", "anc"}
    for best in results["best"].values():
        Recipe(**best["recipe"])
    assert "| **" in (out / "results.md").read_text()


@pytest.mark.slow
@pytest.mark.tfds("cifar10")
def test_speed_smoke_writes_throughputs_and_ratios(tmp_path, run_smoke):
    out = tmp_path / "speed"
    run_smoke("benchmarks.speed", "--out", str(out))
    results = json.loads((out / "results.json").read_text())
    assert {"environment", "settings", "configs", "ratios", "rss"} <= set(results)
    assert set(results["configs"]) == {
        "student_labels",
        "teacher_inference",
        "floor",
        "keras_distiller",
        "anc",
    }
    for stats in results["configs"].values():
        assert stats["images_per_second_median"] > 0
        assert stats["first_epoch_seconds"] > 0
    assert {"anc_step_time_over_floor", "anc_throughput_over_keras_distiller"} <= set(
        results["ratios"]
    )
    assert [r["config"] for r in results["rss"]] == ["student_labels", "anc"]
    assert all(r["peak_rss_mib"] > 0 for r in results["rss"])
    assert "| anc |" in (out / "results.md").read_text()


def test_cached_teacher_outputs_train_the_real_student(mnist, mnist_teacher, student_factory):
    import keras
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from benchmarks.speed import with_cached_teacher
    from keras_anc.distillers import MimicDistiller

    x, y, _, _ = mnist
    x, y = x[:512], y[:512]
    student = student_factory([32], "student", seed=3)
    stub, view, logits = with_cached_teacher(mnist_teacher, student, x)
    np.testing.assert_allclose(logits, mnist_teacher.predict(x, verbose=0), atol=1e-5)
    np.testing.assert_allclose(stub.predict([x[:16], logits[:16]], verbose=0), logits[:16])
    before = [w.copy() for w in student.get_weights()]
    model = MimicDistiller(stub, view)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit((x, logits), y, batch_size=128, epochs=2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert any(not np.allclose(a, b) for a, b in zip(before, student.get_weights()))
    np.testing.assert_allclose(
        view.predict([x[:16], logits[:16]], verbose=0), student.predict(x[:16], verbose=0)
    )
