"""Every example runs end to end in its reduced-size mode, on real data."""

import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = sorted((pathlib.Path(__file__).parents[2] / "examples").glob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script, tmp_path):
    env = dict(os.environ, KERAS_ANC_EXAMPLE_SMOKE="1", KERAS_ANC_EXAMPLE_OUT=str(tmp_path))
    result = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "accuracy" in result.stdout


def test_there_are_three_examples():
    assert {p.stem for p in EXAMPLES} >= {"mnist_label_free", "cifar10_resnet", "kerascv_teacher"}
