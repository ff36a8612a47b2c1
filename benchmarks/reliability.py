"""Runs the reliability tests and writes their figures into docs/reliability.md.

    python -m benchmarks.reliability             # every case, slow ones included
    python -m benchmarks.reliability --check     # run, print the table, write nothing

The table between the `reliability-table` markers of docs/reliability.md is replaced by
the outcome of this run: per area, the cases tried, those behaving correctly (their test
passed), those failing, and those skipped (with the reason). A test that checks several
cases (a chain of kills) counts each of them, as listed in `CASES_PER_TEST`; all of a
test's cases count as failing when it fails.
"""

import argparse
import datetime
import os
import pathlib
import platform
import re
import sys
import time

import pytest

from keras_anc import atomic

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
START, END = "<!-- reliability-table:start -->", "<!-- reliability-table:end -->"

# (area, pytest node-id selectors): the first area whose selector starts a test's id wins.
AREAS = [
    (
        "Kills during `distill` writes, then `--resume` (same student)",
        ["tests/reliability/test_kills.py"],
    ),
    (
        "Kills and concurrency during exports",
        [
            "tests/reliability/test_export_kills.py",
            "tests/export/test_saved_model.py::test_concurrent",
            "tests/export/test_saved_model.py::test_a_claimed",
            "tests/export/test_saved_model.py::test_overwrite",
            "tests/export/test_saved_model.py::test_four_processes",
        ],
    ),
    (
        "Resume recipes (`BackupAndRestore` settings, `TrainingCheckpoint`)",
        [
            "tests/reliability/test_backup_and_restore.py",
            "tests/test_callbacks.py::test_checkpoint",
        ],
    ),
    (
        "NaN/Inf data (`NonFiniteGuard`, non-finite saves refused)",
        [
            "tests/test_callbacks.py::test_nan",
            "tests/test_callbacks.py::test_guard_finds",
            "tests/test_callbacks.py::test_guard_reads",
            "tests/test_callbacks.py::test_guard_argument",
            "tests/reliability/test_bad_input.py::test_cli_distill_with_nan",
            "tests/test_model_files.py::test_save_refuses",
            "tests/test_model_files.py::test_non_finite",
        ],
    ),
    (
        "Atomic writes and corrupt files (helpers, model files, teacher store)",
        ["tests/test_atomic.py", "tests/test_model_files.py", "tests/test_teacher_store.py"],
    ),
    (
        "Bad numbers, shapes and files: API",
        [
            "tests/reliability/test_bad_input.py::test_api",
            "tests/reliability/test_bad_input.py::test_label_free",
            "tests/test_hyperparameters.py",
        ],
    ),
    (
        "Bad numbers and files: command line (exit 2, one line, nothing written)",
        [
            "tests/reliability/test_bad_input.py::test_cli",
            "tests/cli/test_config.py::test_nonsense",
            "tests/cli/test_config.py::test_null",
            "tests/cli/test_config.py::test_valid_edge",
        ],
    ),
]
# Tests that check more than one case: each kill point of a chain of kills counts.
CASES_PER_TEST = {
    "test_a_run_killed_at_every_kind_of_write_resumes_to_the_same_student": 5,
    "test_kills_during_export_never_leave_a_broken_or_missing_version": 3,
}


class _Recorder:
    """A pytest plugin that keeps every test's outcome."""

    def __init__(self):
        self.outcomes = {}
        self.reasons = {}

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self.outcomes[report.nodeid] = report.outcome
            if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
                self.reasons[report.nodeid] = report.longrepr[2]
        elif report.when == "teardown" and report.outcome == "failed":
            self.outcomes[report.nodeid] = "failed"


def _area(nodeid):
    for area, selectors in AREAS:
        if any(nodeid.startswith(s) for s in selectors):
            return area
    return None


def _cases(nodeid):
    name = re.sub(r"\[.*\]$", "", nodeid.split("::")[-1])
    return CASES_PER_TEST.get(name, 1)


def table(outcomes):
    """The Markdown table of `outcomes` (node id -> "passed" / "failed" / "skipped")."""
    rows = {area: [0, 0, 0, 0] for area, _ in AREAS}
    for nodeid, outcome in outcomes.items():
        area = _area(nodeid)
        if area is None:
            continue
        n = _cases(nodeid)
        rows[area][0] += n
        rows[area][{"passed": 1, "failed": 2, "skipped": 3}[outcome]] += n
    lines = [
        "| area | cases tried | behaving correctly | failing | skipped |",
        "|---|---:|---:|---:|---:|",
    ]
    total = [0, 0, 0, 0]
    for area, counts in rows.items():
        lines.append(f"| {area} | " + " | ".join(map(str, counts)) + " |")
        total = [a + b for a, b in zip(total, counts)]
    lines.append("| **all** | " + " | ".join(f"**{n}**" for n in total) + " |")
    return "\n".join(lines), total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Print the table; write nothing.")
    args = parser.parse_args(argv)
    files = sorted({s.split("::")[0] for _, selectors in AREAS for s in selectors})
    recorder = _Recorder()
    start = time.perf_counter()
    status = pytest.main(["-q", "-p", "no:cacheprovider", *files], plugins=[recorder])
    minutes = (time.perf_counter() - start) / 60
    text, total = table(recorder.outcomes)
    counted = sum(1 for nodeid in recorder.outcomes if _area(nodeid) is not None)
    import keras
    import tensorflow as tf

    skipped = sorted(set(recorder.reasons.values()))
    block = "\n".join(
        [
            START,
            text,
            "",
            f"Written by `python -m benchmarks.reliability` on {datetime.date.today()}: "
            f"{total[0]} cases in {counted} tests ({len(recorder.outcomes)} tests run in "
            f"all, {minutes:.1f} min on {os.cpu_count()} CPU cores; "
            f"Keras {keras.__version__}, TensorFlow {tf.__version__}, Python "
            f"{platform.python_version()}, {platform.machine()}).",
            *(f"Skipped: {reason}" for reason in skipped),
            END,
        ]
    )
    print(block)
    if not args.check:
        doc = DOC.read_text()
        if START not in doc or END not in doc:
            raise SystemExit(f"{DOC} lacks the {START} ... {END} markers.")
        head, rest = doc.split(START, 1)
        atomic.atomic_write_text(DOC, head + block + rest.split(END, 1)[1])
        print(f"Updated {DOC.relative_to(ROOT)}.")
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
