"""Runs `scenarios.py` in subprocesses (once per session each) and reads back the results.

Each distributed set-up needs a fresh process: 2 logical CPUs for `MirroredStrategy`, 2
worker processes on 127.0.0.1 for `MultiWorkerMirroredStrategy`, 2 XLA host devices for
JAX. The processes the selected tests need start together on first use; all are bounded
by one deadline and killed (by their own pids) when they run over; the workers of a
cluster stop by themselves when their script ends.
"""

import contextlib
import importlib.util
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

SCENARIOS = pathlib.Path(__file__).with_name("scenarios.py")
REPO = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT_S = 480  # all scenarios together; they take ~2 min


class ScenarioResults:
    """The arrays (`.npz`) and facts (`.json`) one scenario process wrote."""

    def __init__(self, folder, name):
        with np.load(folder / f"{name}.npz") as arrays:
            self._arrays = dict(arrays)
        self.facts = json.loads((folder / f"{name}.json").read_text())

    def arrays(self, key):
        """The list of arrays stored under `key` (e.g. one model's weights)."""
        prefix = f"{key}/"
        found = [k for k in self._arrays if k.startswith(prefix) and k[len(prefix) :].isdigit()]
        if not found:
            raise KeyError(f"No arrays under {key!r}; stored: {sorted(self._arrays)[:20]}")
        return [self._arrays[k] for k in sorted(found, key=lambda k: int(k[len(prefix) :]))]

    def history(self, key):
        return self.facts[f"{key}/history"]

    def check(self, part):
        """Fails the test with the subprocess traceback if `part` raised there."""
        error = self.facts.get(f"{part}/error")
        if error:
            pytest.fail(f"Part {part!r} failed in the subprocess:\n{error}", pytrace=False)


def _env():
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_CONFIG", "KERAS_BACKEND", "XLA_FLAGS", "JAX_PLATFORMS")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


class _Launcher:
    """Starts the scenario processes the selected tests need, all at once, and waits for them.

    The scenarios overlap well (compiling, collective waits), so running them side by side
    takes less wall time than one after the other. Every process shares one deadline and is
    killed (by its own pid) if it is still running then.
    """

    def __init__(self, root, needed):
        self.root = root
        self.deadline = time.monotonic() + TIMEOUT_S
        self.processes, self.logs = {}, {}
        for scenario in needed:
            for name, args in self._runs(scenario):
                self.logs[name] = open(root / f"{name}.log", "w")  # noqa: SIM115
                self.processes[name] = subprocess.Popen(
                    [sys.executable, str(SCENARIOS), *args],
                    env=_env(),
                    cwd=str(REPO),
                    stdout=self.logs[name],
                    stderr=subprocess.STDOUT,
                )

    def _runs(self, scenario):
        folder = str(self.root)
        if scenario == "multi_worker":
            ports = ",".join(str(p) for p in _free_ports(2))
            return [(f"worker{i}", ["multi_worker", folder, str(i), ports]) for i in (0, 1)]
        return [(scenario, [scenario, folder])]

    def wait(self, names):
        """Waits for the processes `names`; fails the test with their output if one failed."""
        failures = []
        for name in names:
            process = self.processes[name]
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(1.0, self.deadline - time.monotonic()))
            if process.poll() is None:
                process.kill()
                process.wait()
            self.logs[name].close()
            if process.returncode != 0:
                tail = (self.root / f"{name}.log").read_text(errors="replace")[-4000:]
                failures.append(f"{name} exited with {process.returncode}:\n{tail}")
        if failures:
            pytest.fail("\n\n".join(failures), pytrace=False)
        return [ScenarioResults(self.root, name) for name in names]

    def stop(self):
        for name, process in self.processes.items():
            if process.poll() is None:
                process.kill()
                process.wait()
            self.logs[name].close()


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


_FIXTURES = {
    "mirrored_results": "mirrored",
    "multi_worker_results": "multi_worker",
    "jax_results": "jax",
}


@pytest.fixture(scope="session")
def _launcher(request, tmp_path_factory):
    needed = []
    for item in request.session.items:
        for fixture, scenario in _FIXTURES.items():
            if fixture in getattr(item, "fixturenames", ()) and scenario not in needed:
                needed.append(scenario)
    if "jax" in needed and importlib.util.find_spec("jax") is None:
        needed.remove("jax")
    launcher = _Launcher(tmp_path_factory.mktemp("scenarios"), needed)
    yield launcher
    launcher.stop()


@pytest.fixture(scope="session")
def mirrored_results(_launcher):
    """One process, 2 logical CPUs: every method, the cache, draws, saving."""
    (results,) = _launcher.wait(["mirrored"])
    return results


@pytest.fixture(scope="session")
def multi_worker_results(_launcher):
    """Two worker processes of one cluster on 127.0.0.1; worker 0 also runs the twins."""
    return _launcher.wait(["worker0", "worker1"])


@pytest.fixture(scope="session")
def jax_results(_launcher):
    """One JAX process with 2 XLA host devices: one device vs `DataParallel`."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed (pip install jax) for the keras.distribution tests")
    (results,) = _launcher.wait(["jax"])
    return results


def _assert_same_run(results, key_a, key_b, other=None, atol=1e-5, skip_logs=()):
    other = other or results
    for a, b in zip(results.arrays(key_a), other.arrays(key_b), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)
    logs_a, logs_b = results.history(key_a), other.history(key_b)
    assert set(logs_a) == set(logs_b)
    for name in logs_a:
        if name not in skip_logs:
            np.testing.assert_allclose(logs_a[name], logs_b[name], rtol=1e-5, err_msg=name)


@pytest.fixture
def assert_same_run():
    """`(results, key_a, key_b, other=None, atol=1e-5, skip_logs=())`: two runs' student
    weights agree within `atol` and their logs to float32 rounding (`rtol=1e-5`)."""
    return _assert_same_run
