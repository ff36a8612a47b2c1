"""Atomic writes of the command line's files."""

import pytest

from keras_anc.cli import _files


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary(tmp_path):
    target = tmp_path / "results.json"
    with pytest.raises(RuntimeError, match="interrupted"), _files.replacing(target) as tmp:
        with open(tmp, "w") as f:
            f.write('{"half": ')
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rewrite_keeps_the_old_file(tmp_path):
    target = _files.write_text(tmp_path / "summary.md", "old")
    with pytest.raises(RuntimeError), _files.replacing(target) as tmp:
        assert tmp.endswith(".md") and tmp != str(target)
        raise RuntimeError
    assert target.read_text() == "old"
    assert _files.write_text(target, "new").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.md"]
