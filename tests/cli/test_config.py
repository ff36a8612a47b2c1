"""Run configurations: defaults, files, validation, and the method options from the registry."""

import pytest

from keras_anc import methods
from keras_anc.cli import config


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
    original = config.resolve(
        "distill", {}, {"seed": 3, "method": "anc_l2", "discriminator_units": "64,32"}
    )
    path = config.save(original, tmp_path / "config.yaml")
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]  # no temporary left
    assert config.resolve("distill", config.read_file(path, "distill")) == original
    assert original["discriminator_units"] == (64, 32)


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(config.ConfigError, match="'epoch' \\(did you mean 'epochs'\\?\\)"):
        config.validate("distill", {"epoch": 3})
    with pytest.raises(config.ConfigError, match="'batch_size' expects int.*batch_size=1.5"):
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


def test_method_and_its_options_come_from_the_registry():
    opts = config.options("distill")
    assert opts["method"].choices == tuple(methods.available_methods())
    for name, option in methods.OPTIONS.items():
        assert name in opts, name
        if name != "seed":  # `seed` is the run's seed, passed on to the methods
            assert opts[name].type is option.type
            assert opts[name].default is None  # unset: the method's default
            assert opts[name].help_text.startswith(option.help)


def test_choices_and_tuples_are_checked_like_flags_and_files():
    assert config.validate("distill", {"discriminator_units": "16, 8"}) == {
        "discriminator_units": (16, 8)
    }
    assert config.validate("distill", {"discriminator_units": [16, 8]}) == {
        "discriminator_units": (16, 8)
    }
    with pytest.raises(config.ConfigError, match="list of integers.*discriminator_units='a,b'"):
        config.validate("distill", {"discriminator_units": "a,b"})
    with pytest.raises(config.ConfigError, match="must be one of l2, l1.*mimic_loss='huber'"):
        config.validate("distill", {"mimic_loss": "huber"})
    with pytest.raises(config.ConfigError, match="must be one of labels, .*method='magic'"):
        config.validate("distill", {"method": "magic"})
    with pytest.raises(config.ConfigError, match="expects float"):
        config.validate("distill", {"temperature": True})


def test_method_options_keep_what_is_set_and_pass_the_seed():
    run = config.resolve("distill", {}, {"method": "anc_noise", "mimic_weight": "0.5"})
    assert config.method_options(run) == {"mimic_weight": 0.5, "seed": 0}
    run = config.resolve("distill", {}, {"method": "hinton_kd", "temperature": "2"})
    assert config.method_options(run) == {"temperature": 2.0}


def test_help_states_each_default_once_from_the_owner():
    for command in config.COMMANDS:
        for option in config.COMMANDS[command]:
            assert option.help_text.count("default") <= 1, (command, option.name)
            assert "None" not in option.help_text, (command, option.name)
    temperature = config.options("distill")["temperature"].help_text
    assert temperature.endswith(
        f"(default: {methods.method_options('hinton_kd')['temperature']} for hinton_kd)"
    )


@pytest.mark.parametrize(
    "command, key, value, match",
    [
        ("distill", "epochs", "-1", "'epochs' must be an integer >= 1"),
        ("distill", "epochs", "0", "'epochs' must be an integer >= 1"),
        ("distill", "epochs", None, "'epochs' needs a value \\(int\\)"),
        ("distill", "teacher_epochs", 0, "'teacher_epochs' must be an integer >= 1"),
        ("distill", "learning_rate", "nan", "'learning_rate' must be a finite number > 0"),
        ("distill", "learning_rate", "inf", "'learning_rate' must be a finite number > 0"),
        ("distill", "learning_rate", 0.0, "'learning_rate' must be a finite number > 0"),
        ("distill", "learning_rate", None, "'learning_rate' needs a value"),
        ("distill", "mimic_weight", "-1", "'mimic_weight' must be >= 0 and finite"),
        ("distill", "adversarial_weight", "nan", "'adversarial_weight' must be >= 0"),
        ("distill", "adversarial_sample_rate", "1.5", "'adversarial_sample_rate' must be in"),
        ("distill", "input_dropout_rate", "1", "'input_dropout_rate' must be in \\[0, 1\\)"),
        ("distill", "input_noise_stddev", "-0.1", "'input_noise_stddev' must be >= 0"),
        ("distill", "steps_per_execution", "0", "'steps_per_execution' must be an integer >= 1"),
        ("distill", "batch_size", 0, "'batch_size' must be an integer >= 1"),
        ("distill", "train_examples", -5, "'train_examples' must be an integer >= 1"),
        ("distill", "seed", -1, "'seed' must be an integer >= 0"),
        ("distill", "temperature", "0", "'temperature' must be a finite number > 0"),
        ("distill", "alpha", "1.5", "'alpha' must be a finite number >= 0 and <= 1"),
        ("distill", "weight_decay", "-1e-4", "'weight_decay' must be a finite number >= 0"),
        ("distill", "discriminator_steps", "0", "'discriminator_steps' must be an integer >= 1"),
        ("distill", "discriminator_steps", "2.7", "'discriminator_steps' expects int"),
        ("distill", "discriminator_units", "64,0", "a list of integers, each >= 1"),
        ("distill", "discriminator_learning_rate", "-1", "must be a finite number > 0"),
        ("train-teacher", "epochs", "-2", "'epochs' must be an integer >= 1"),
        ("train-teacher", "learning_rate", "nan", "'learning_rate' must be a finite number > 0"),
        ("evaluate", "batch_size", "0", "'batch_size' must be an integer >= 1"),
        ("export", "version", "0", "'version' must be an integer >= 1"),
    ],
)
def test_nonsense_numbers_get_one_line_naming_the_key_and_value(command, key, value, match):
    with pytest.raises(config.ConfigError, match=match) as info:
        config.validate(command, {key: value})
    assert f"Received: `{key}={value!r}`" in str(info.value)
    assert "\n" not in str(info.value)


def test_valid_edge_values_are_accepted():
    assert config.validate(
        "distill",
        {
            "epochs": 1,
            "adversarial_sample_rate": 1.0,
            "mimic_weight": 0,
            "alpha": 0,
            "seed": 0,
            "data_dir": None,  # unset: keys whose default is "decided elsewhere" may be null
            "discriminator_units": "1,1",
        },
    ) == {
        "epochs": 1,
        "adversarial_sample_rate": 1.0,
        "mimic_weight": 0.0,
        "alpha": 0.0,
        "seed": 0,
        "data_dir": None,
        "discriminator_units": (1, 1),
    }


def test_null_in_a_file_is_refused_with_the_default_named(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("epochs: null\n")
    with pytest.raises(config.ConfigError, match="'epochs' needs a value .*default, 15"):
        config.read_file(path, "distill")


def test_resume_is_not_saved_with_the_configuration(tmp_path):
    run = config.resolve("distill", {}, {"resume": "true", "epochs": "2"})
    assert run["resume"] is True
    saved = config.read_file(config.save(run, tmp_path / "config.yaml"), "distill")
    assert "resume" not in saved and saved["epochs"] == 2
