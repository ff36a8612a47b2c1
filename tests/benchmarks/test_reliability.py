"""The figures of docs/reliability.md: every case counted once, by its outcome."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("reliability", ROOT / "benchmarks/reliability.py")
reliability = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reliability)

CHAIN = (
    "tests/reliability/test_kills.py::"
    "test_a_run_killed_at_every_kind_of_write_resumes_to_the_same_student"
)


def test_table_counts_cases_by_area_and_outcome():
    text, total = reliability.table(
        {
            CHAIN: "passed",  # a chain of 5 kills
            "tests/reliability/test_bad_input.py::test_api_bad_input[nan]": "failed",
            "tests/reliability/test_bad_input.py::test_cli_bad_input_is_one[x]": "skipped",
            "tests/test_callbacks.py::test_guard_raises_the_regularizer": "passed",  # no area
        }
    )
    assert total == [7, 5, 1, 1]
    assert "then `--resume` (same student) | 5 | 5 | 0 | 0 |" in text
    assert "| Bad numbers, shapes and files: API | 1 | 0 | 1 | 0 |" in text
    assert text.splitlines()[-1] == "| **all** | **7** | **5** | **1** | **1** |"


def test_every_area_selects_existing_test_files():
    for _, selectors in reliability.AREAS:
        for selector in selectors:
            assert (ROOT / selector.split("::")[0]).is_file(), selector
