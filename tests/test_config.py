"""Run configurations: defaults, files, validation."""

import pytest

from keras_anc import config


def test_resolve_layers_defaults_file_and_flags():
    resolved = config.resolve("distill", {"epochs": 7, "dataset": "mnist"}, {"epochs": "9"})
    assert resolved["epochs"] == 9
    assert resolved["dataset"] == "mnist"
    assert resolved["method"] == "anc"


@pytest.mark.parametrize(
    "suffix, text",
    [
        (".yaml", "distill:\n  epochs: 4\n  jit_compile: true\n"),
        (".toml", "[distill]\nepochs = 4\njit_compile = true\n"),
        (".yml", "epochs: 4\njit_compile: yes\n"),
    ],
)
def test_read_yaml_and_toml(tmp_path, suffix, text):
    path = tmp_path / f"run{suffix}"
    path.write_text(text)
    assert config.read_file(path, "distill") == {"epochs": 4, "jit_compile": True}


def test_saved_config_reads_back(tmp_path):
    original = config.resolve("distill", {}, {"seed": 3})
    path = config.save(original, tmp_path / "config.yaml")
    assert config.resolve("distill", config.read_file(path, "distill")) == original


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(config.ConfigError, match="'epoch' \\(did you mean 'epochs'\\?\\)"):
        config.validate("distill", {"epoch": 3})
    with pytest.raises(config.ConfigError, match="'batch_size' expects int, got 1.5"):
        config.validate("distill", {"batch_size": 1.5})
    with pytest.raises(config.ConfigError, match="not found"):
        config.read_file(tmp_path / "missing.yaml", "distill")
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = = 3")
    with pytest.raises(config.ConfigError, match="Cannot parse"):
        config.read_file(bad, "distill")
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(config.ConfigError, match="mapping"):
        config.read_file(listy, "distill")
