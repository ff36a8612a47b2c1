"""Helpers of the reliability suite: commands run in a subprocess, killed at a chosen write."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

FAULTS = pathlib.Path(__file__).with_name("faults.py")
KILLED = -9  # the return code of a process ended by SIGKILL


def run(kind, *args, fault=None, cwd=None, timeout=600):
    """Runs `faults.py kind args...` (kind: "cli" or "script") with an optional fault.

    Returns:
        The `subprocess.CompletedProcess` (text output captured).
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_ANC_FAULT": ""}
    if fault is not None:
        env["KERAS_ANC_FAULT"] = json.dumps(fault)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(pathlib.Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")]
    )
    return subprocess.run(
        [sys.executable, str(FAULTS), kind, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


def expect(result, returncode):
    """Asserts a subprocess's return code, showing its output tail when it differs."""
    assert result.returncode == returncode, (
        f"return code {result.returncode}, expected {returncode}\n"
        f"stdout: {result.stdout[-1500:]}\nstderr: {result.stderr[-3000:]}"
    )


def visible_files(folder):
    """Names of the files and folders in `folder` that are not hidden (no leading dot)."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


@pytest.fixture(scope="session")
def harness():
    """`run`, `expect`, `visible_files` and `KILLED`, for the tests of this folder."""
    import types

    return types.SimpleNamespace(run=run, expect=expect, visible_files=visible_files, KILLED=KILLED)
