"""Backend handling for the trainer tests.

The Keras backend is fixed per process (`KERAS_BACKEND`, `tensorflow` unless set; see
tests/conftest.py). So:

- tests of one backend's trainer run in-process and skip under the other backends
  (a module-level `pytestmark = pytest.mark.skipif(...)`); the backend-neutral ones run
  under whichever backend the process has; CI runs this folder under each backend;
- the cross-backend tests start `backend_worker.py` in one subprocess per backend
  (`backend_runs`, `worker_imports`) and compare what the runs wrote. They are `slow`
  and run once, in the default (TensorFlow) run.
"""

import dataclasses
import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

BACKENDS = ("tensorflow", "jax", "torch")
WORKER = pathlib.Path(__file__).with_name("backend_worker.py")
# Each run loads the distiller the previous backend saved: every pair of backends
# exchanges a file in one direction.
RESUME_FROM = {"jax": "tensorflow", "torch": "jax", "tensorflow": "torch"}


def _require_installed(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (pip install -e '.[dev]' installs it)")


def run_worker(backend, *args, timeout=900):
    """Runs `backend_worker.py args...` with `KERAS_BACKEND=backend`; fails with its log."""
    _require_installed(backend)
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, str(WORKER), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        log = "\n".join(line[:300] for line in proc.stderr.splitlines()[-40:])
        pytest.fail(f"backend_worker.py {' '.join(args)} failed under {backend}:\n{log}")


@dataclasses.dataclass
class BackendRuns:
    """What `backend_worker.py train` and `resume` wrote, by backend."""

    facts: dict
    arrays: dict
    resumed: dict  # target backend -> facts of resuming the source backend's file


@pytest.fixture(scope="session")
def backend_runs(tmp_path_factory):
    """The same training runs on TensorFlow, JAX and PyTorch (TensorFlow first: it
    trains the shared teacher), then each backend resuming another's `.keras` file."""
    for backend in BACKENDS:
        _require_installed(backend)
    directory = tmp_path_factory.mktemp("backend_runs")
    for backend in BACKENDS:
        run_worker(backend, "train", str(directory))
    for target, source in RESUME_FROM.items():
        run_worker(target, "resume", source, str(directory))
    facts, arrays, resumed = {}, {}, {}
    for backend in BACKENDS:
        facts[backend] = json.loads((directory / f"{backend}.json").read_text())
        with np.load(directory / f"{backend}.npz") as data:
            arrays[backend] = dict(data)
    for target, source in RESUME_FROM.items():
        path = directory / f"resume_{source}_on_{target}.json"
        resumed[target] = json.loads(path.read_text())
    return BackendRuns(facts, arrays, resumed)


@pytest.fixture(scope="session")
def worker_imports(tmp_path_factory):
    """`import keras_anc` and its public names in a fresh process, per backend."""
    directory = tmp_path_factory.mktemp("imports")

    def imports(backend):
        out = directory / f"{backend}.json"
        run_worker(backend, "imports", str(out), timeout=300)
        return json.loads(out.read_text())

    return imports
