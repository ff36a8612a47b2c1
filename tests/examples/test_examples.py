"""Every example runs end to end in its reduced-size mode, on real data.

An example that reads TFDS data sets is skipped, with the reason, when they are not prepared
in the TFDS data directory (the `tfds` marker of `tests/conftest.py`).
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest

EXAMPLES = sorted((pathlib.Path(__file__).parents[2] / "examples").glob("*.py"))
# `keras_anc.data.load("cifar10", ...)`, `data.raw('mnist', ...)`, ...
_DATA_CALL = re.compile(r"""data\.(?:load|raw|info|prepare)\(\s*["'](\w+)["']""")


def tfds_names(script):
    """The TFDS data sets an example script reads through `keras_anc.data`."""
    return sorted(set(_DATA_CALL.findall(script.read_text())) - {"mnist_sample"})


@pytest.mark.slow
@pytest.mark.parametrize(
    "script",
    [pytest.param(p, id=p.stem, marks=pytest.mark.tfds(*tfds_names(p))) for p in EXAMPLES],
)
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


def test_the_tfds_data_each_example_needs_is_found():
    names = {p.stem: tfds_names(p) for p in EXAMPLES}
    assert names["mnist_label_free"] == ["mnist"]
    assert names["cifar10_resnet"] == ["cifar10"]
    assert names["kerascv_teacher"] == ["cifar10"]
