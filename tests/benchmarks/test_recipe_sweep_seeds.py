"""Tests of benchmarks/recipe_sweep_seeds.py: the grid, the function-matching views, a run."""

import collections
import json
import os
import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))  # the benchmarks package
# The module defaults KERAS_BACKEND to jax for its own runs; keep this test process's (and the
# subprocesses other tests start) on the backend Keras would pick anyway.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from benchmarks import recipe_sweep_seeds as sweep  # noqa: E402


def test_every_method_gets_eighteen_valid_arms():
    from keras_anc import methods
    from keras_anc.recipe import Recipe

    counts = collections.Counter(spec[0] for spec in sweep.ARMS.values())
    assert counts == {"labels": 18, "hinton_kd": 18, "anc": 18}
    for arm, (method, recipe, options) in {**sweep.ARMS, **sweep.PROBES}.items():
        assert arm.startswith(f"{method}/")
        Recipe(**recipe)  # raises on a bad field
        assert set(options) <= set(methods.method_options(method)), arm
    assert not set(sweep.ARMS) & set(sweep.PROBES)


def test_function_matching_views_are_seeded_shifted_mixed_and_reshuffled():
    x = np.random.default_rng(0).random((300, 28, 28, 1), dtype=np.float32)
    views = sweep.function_matching_views(x, 128, seed=3)
    assert len(views) == 3
    views.on_epoch_begin()
    (first,) = views[0]
    (again,) = views[0]
    np.testing.assert_array_equal(first, again)  # a batch is a function of (seed, epoch, index)
    assert first.shape == (128, 28, 28, 1) and first.dtype == np.float32
    assert first.min() >= 0.0 and first.max() <= 1.0
    # Not the images themselves: shifted, flipped and mixed with another of the batch.
    assert np.abs(first - x[views.order[:128]]).mean() > 0.05
    assert views[2][0].shape == (300 - 256, 28, 28, 1)
    views.on_epoch_begin()
    assert not np.array_equal(views[0][0], first)
    other_seed = sweep.function_matching_views(x, 128, seed=4)
    other_seed.on_epoch_begin()
    assert not np.array_equal(other_seed[0][0], first)


def _prepare_small_folder(folder):
    """What `--prepare-data` writes, from a slice of Fashion-MNIST and an untrained teacher."""
    import keras

    from benchmarks.common import load_arrays
    from keras_anc.models import get_model

    x, y = load_arrays("fashion_mnist", "train[:1536]")
    folder.mkdir()
    np.savez_compressed(
        folder / "fashion_mnist.npz",
        x=np.round(x * 255).astype(np.uint8),
        y=y.astype(np.uint8),
    )
    keras.utils.set_random_seed(0)
    teacher = get_model("lenet_tiny", input_shape=(28, 28, 1), num_classes=10, name="teacher")
    teacher.save(folder / "teacher.keras")


@pytest.mark.slow
@pytest.mark.tfds("fashion_mnist")
def test_a_smoke_run_records_every_arm_and_seed_and_the_best_arm_per_method(tmp_path):
    _prepare_small_folder(tmp_path / "data")
    arms = ["labels/lr0.1_wd0.0005", "anc/lr0.05_T2_mimic0.1"]
    results = sweep.run(
        tmp_path / "data",
        tmp_path / "out",
        arms=arms,
        seeds=[0],
        workers=0,  # in this process (the spawned workers run the same two functions)
        smoke=True,
        function_matching=True,
    )
    written = json.loads((tmp_path / "out/results.json").read_text())
    assert written["arms"].keys() == set(arms)
    for arm in arms:
        record = written["arms"][arm]
        assert record["seeds"] == [0]
        assert all(0.0 <= a <= 1.0 for a in record["accuracy"])
        assert record["options"] == sweep.ARMS[arm][2]
    assert written["function_matching"] is True and written["epochs"] == 1
    for method, arm in (("labels", arms[0]), ("anc", arms[1])):
        assert written["best"][method]["arm"] == arm
        assert written["best"][method]["recipe"] == sweep.ARMS[arm][1]
    assert results["best"] == written["best"]
    assert "| anc/lr0.05_T2_mimic0.1 |" in (tmp_path / "out/results.md").read_text()
