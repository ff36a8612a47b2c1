"""What the commands share: progress output, checks before work."""

import io

import pytest

from keras_anc.cli import config as config_lib
from keras_anc.cli.commands import _common


class _Stdout(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self._tty = tty

    def isatty(self):
        return self._tty


@pytest.mark.parametrize("tty, expected", [(True, 1), (False, 2)])
def test_progress_bars_on_a_terminal_one_line_per_epoch_in_a_log(tty, expected, monkeypatch):
    monkeypatch.setattr("sys.stdout", _Stdout(tty))
    assert _common.fit_verbosity({"quiet": False}) == expected
    assert _common.fit_verbosity({"quiet": True}) == 0


def test_a_data_set_tfds_does_not_know_is_named_in_cli_terms():
    with pytest.raises(config_lib.ConfigError) as error:
        _common.require_data("cifar1O")
    message = str(error.value)
    assert message.startswith("Unknown dataset name 'cifar1O' (did you mean 'cifar10'?).")
    assert message.endswith("Received: `--dataset cifar1O`.")
    assert "data_dir=" not in message


def test_check_run_checks_every_name_before_any_work(tmp_path):
    config = config_lib.resolve("distill", {}, {"out": str(tmp_path / "o")})
    _common.check_run(config, "distill")
    assert not (tmp_path / "o").exists()
    with pytest.raises(config_lib.ConfigError, match="--teacher-model: Unknown model name"):
        _common.check_run({**config, "teacher_model": "lenet55"}, "distill")
    # With a teacher file the teacher's zoo name is not used.
    teacher = tmp_path / "teacher.keras"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _common.check_run({**config, "teacher": str(teacher)}, "distill")
