"""Backend handling for the trainer tests.

The Keras backend is fixed per process (`KERAS_BACKEND`, `tensorflow` unless set; see
tests/conftest.py). So:

- tests of one backend's trainer run in-process and skip under the other backends
  (a module-level `pytestmark = pytest.mark.skipif(...)`); the backend-neutral ones run
  under whichever backend the process has; CI runs this folder under each backend;
- the cross-backend tests start `backend_worker.py` in subprocesses, one backend each
  (`backend_runs`), and compare what the runs wrote. They are `slow` and run once, in the
  default (TensorFlow) run.
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
# Each backend loads the distiller another backend saved: every pair of backends
# exchanges a file in one direction.
RESUME_FROM = {"jax": "tensorflow", "torch": "jax", "tensorflow": "torch"}
# The worker processes, one after the other: (backend, tasks). TensorFlow trains first (it
# writes the teacher and the student every backend distils); each later process resumes
# the file the process before it saved. One process per backend where it can: each start
# of Python with a Keras backend costs seconds.
JOBS = (
    ("tensorflow", ["train"]),
    ("jax", ["imports", "train", "resume=tensorflow"]),
    ("torch", ["imports", "train", "resume=jax"]),
    ("tensorflow", ["resume=torch"]),
)


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
    """What `backend_worker.py` wrote, by backend."""

    facts: dict
    arrays: dict
    resumed: dict  # target backend -> facts of resuming the source backend's file
    imports: dict  # backend -> facts of importing keras-anc in a fresh process


@pytest.fixture(scope="session")
def backend_runs(tmp_path_factory):
    """The same training runs on TensorFlow, JAX and PyTorch (TensorFlow first: it
    trains the shared teacher), then each backend resuming another's `.keras` file."""
    for backend in BACKENDS:
        _require_installed(backend)
    directory = tmp_path_factory.mktemp("backend_runs")
    for backend, tasks in JOBS:
        run_worker(backend, str(directory), *tasks)
    facts, arrays, resumed, imports = {}, {}, {}, {}
    for backend in BACKENDS:
        facts[backend] = json.loads((directory / f"{backend}.json").read_text())
        with np.load(directory / f"{backend}.npz") as data:
            arrays[backend] = dict(data)
    for target, source in RESUME_FROM.items():
        path = directory / f"resume_{source}_on_{target}.json"
        resumed[target] = json.loads(path.read_text())
    for backend in ("jax", "torch"):
        imports[backend] = json.loads((directory / f"imports_{backend}.json").read_text())
    return BackendRuns(facts, arrays, resumed, imports)
