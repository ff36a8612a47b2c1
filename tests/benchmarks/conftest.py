"""Shared helpers of the benchmark tests."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _run_smoke(module, *args):
    """Runs `python -m module --smoke *args` from the repository root on TensorFlow."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    done = subprocess.run(
        [sys.executable, "-m", module, "--smoke", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture
def run_smoke():
    """`run_smoke(module, *args)`: a benchmark's `--smoke` run, checked to exit 0."""
    return _run_smoke
