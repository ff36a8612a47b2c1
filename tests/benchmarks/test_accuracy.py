"""Tests of benchmarks/accuracy.py's presets: the recipes they train with."""

import json
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))  # the benchmarks package

from benchmarks import accuracy  # noqa: E402


@pytest.mark.parametrize("preset", ["cpu", "cpu_scarce"])
def test_tuned_presets_train_each_method_with_its_best_sweep_arm(preset):
    from keras_anc.recipe import Recipe

    config = accuracy.PRESETS[preset]
    assert config["tuned"].is_file(), f"{config['tuned']} is missing"
    best = json.loads(config["tuned"].read_text())["best"]
    for method in config["methods"]:
        recipe, options = accuracy.method_setup(config, method)
        assert recipe == Recipe(**best[method]["recipe"])
        assert options == best[method]["options"]
