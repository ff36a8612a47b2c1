"""`keras-anc distill`: every method is built through `keras_anc.methods`, with every option
the command line offers for it; the teacher comes from the teacher store."""

import keras
import numpy as np
import pytest

from keras_anc import methods
from keras_anc.cli import config as config_lib
from keras_anc.cli import main
from keras_anc.cli.commands import distill

# A valid value per method option, as a flag string, in order of preference: the first that
# differs from the method's default is used. The test models (conftest's `make_mlp`) have
# layers named "features" and "logits".
FLAG_VALUES = {
    "temperature": ["2.5"],
    "alpha": ["0.3"],
    "teacher_layer": ["logits", "features"],
    "student_layer": ["logits", "features"],
    "mimic_loss": ["l1", "l2"],
    "mimic_weight": ["0.5"],
    "adversarial_weight": ["0.5"],
    "adversarial_sample_rate": ["0.2"],
    "input_noise_stddev": ["0.05"],
    "input_dropout_rate": ["0.05"],
    "weight_decay": ["0.001"],
    "discriminator_steps": ["2"],
    "discriminator_units": ["16,8"],
    "discriminator_learning_rate": ["0.0003"],
    "kd_weight": ["0.5"],
    "kd_temperature": ["3.0"],
}
CLI_METHOD_OPTIONS = [o.name for o in config_lib.METHOD_OPTIONS]


def test_every_method_option_has_a_test_value():
    assert sorted(FLAG_VALUES) == sorted(CLI_METHOD_OPTIONS)


def _configuration(argv):
    return main.configuration(main.build_parser().parse_args(["distill", *argv]))


def _non_default_flags(name):
    defaults = methods.method_options(name)
    flags, expected = [], {}
    for option in CLI_METHOD_OPTIONS:
        if option not in defaults:
            continue
        parsed = [config_lib.validate("distill", {option: v})[option] for v in FLAG_VALUES[option]]
        value = next(v for v in parsed if v != defaults[option])
        flags += ["--" + option.replace("_", "-"), config_lib.format_value(value)]
        expected[option] = value
    return flags, expected


@pytest.mark.parametrize("name", methods.available_methods())
def test_every_method_takes_every_option_the_cli_offers_for_it(name, student_factory, monkeypatch):
    flags, expected = _non_default_flags(name)
    config = _configuration(["--method", name, "--seed", "3", *flags])
    received = {}
    original = methods.make_method

    def spy(method, teacher, student, **kwargs):
        received.update(kwargs)
        return original(method, teacher, student, **kwargs)

    monkeypatch.setattr(methods, "make_method", spy)
    teacher = student_factory([32], "teacher", seed=0)
    student = student_factory([16], "student", seed=1)
    model, labels_needed = distill.build_method(config, teacher, student, steps_per_epoch=10)

    options = {k: v for k, v in received.items() if k in methods.OPTIONS}
    seed = {"seed": 3} if "seed" in methods.method_options(name) else {}
    assert options == {**expected, **seed}
    assert labels_needed == methods.uses_labels(name)
    assert methods.student_of(model) is student
    # The options are valid together: one training step runs.
    rng = np.random.default_rng(0)
    x = rng.random((32, 28, 28, 1), dtype="float32")
    y = rng.integers(0, 10, 32)
    before = [w.copy() for w in student.get_weights()]
    history = model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    assert any(not np.allclose(a, b) for a, b in zip(before, student.get_weights()))


def test_options_reach_the_distiller(student_factory):
    config = _configuration(
        ["--method", "anc_l2", "--weight-decay", "0.01", "--adversarial-sample-rate", "0.3"]
    )
    teacher = student_factory([32], "teacher", seed=0)
    model, _ = distill.build_method(
        config, teacher, student_factory([16], "student"), steps_per_epoch=10
    )
    assert float(model.adversarial_sample_rate.numpy()) == pytest.approx(0.3)
    assert model.discriminator.kernel_regularizer.l2 == pytest.approx(0.01)
    assert int(model.seed) == 0  # the run's seed


@pytest.mark.parametrize(
    "name, option",
    [
        (name, option)
        for name in methods.available_methods()
        for option in CLI_METHOD_OPTIONS
        if option not in methods.method_options(name)
    ],
)
def test_an_option_the_method_does_not_take_is_a_one_line_error(name, option):
    flag = "--" + option.replace("_", "-")
    with pytest.raises(config_lib.ConfigError) as error:
        _configuration(["--method", name, flag, FLAG_VALUES[option][0]])
    message = str(error.value)
    assert f"Method '{name}' does not take {option};" in message
    assert "\n" not in message


def test_the_teacher_is_trained_once_then_taken_from_the_store(tmp_path, monkeypatch):
    config = config_lib.resolve(
        "distill",
        {},
        {
            "cache_dir": str(tmp_path),
            "teacher_model": "mlp",
            "teacher_epochs": 1,
            "train_examples": 256,
            "quiet": True,
        },
    )
    teacher, path = distill.obtain_teacher(dict(config))
    assert path and path.startswith(str(tmp_path / "teachers"))

    def no_training(*args, **kwargs):
        raise AssertionError("the stored teacher should be used")

    monkeypatch.setattr(distill._common, "fit_teacher", no_training)
    again, again_path = distill.obtain_teacher(dict(config))
    assert again_path == path
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype="float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), teacher.predict(x, verbose=0))
    assert isinstance(again, keras.Model)


@pytest.mark.slow
def test_distribute_mirrored_runs_the_default_demo(tmp_path):
    config = config_lib.resolve(
        "distill",
        {},
        {
            "cache_dir": str(tmp_path / "cache"),
            "teacher_model": "mlp",
            "teacher_epochs": 1,
            "epochs": 1,
            "train_examples": 512,
            "test_examples": 256,
            "distribute": "mirrored",
            "out": str(tmp_path / "run"),
            "quiet": True,
        },
    )
    results = distill.run(dict(config))
    assert 0.0 <= results["student"]["accuracy"] <= 1.0
    assert (tmp_path / "run" / "student.keras").is_file()


def test_distribute_takes_only_known_engines():
    with pytest.raises(config_lib.ConfigError, match="distribute"):
        config_lib.resolve("distill", {}, {"distribute": "pipeline"})


def test_recipe_flags_build_the_students_optimizer(student_factory):
    from keras_anc.recipe import DEFAULT_RECIPE

    default = distill.student_recipe(_configuration([]))
    assert default == DEFAULT_RECIPE
    config = _configuration(
        [
            "--optimizer", "adamw", "--learning-rate", "0.01", "--schedule", "constant",
            "--student-weight-decay", "0.001", "--global-clipnorm", "0",
        ]
    )  # fmt: skip
    recipe = distill.student_recipe(config)
    assert (recipe.optimizer, recipe.learning_rate, recipe.schedule) == ("adamw", 0.01, "constant")
    assert recipe.weight_decay == 0.001 and recipe.global_clipnorm is None  # 0: no clipping
    teacher = student_factory([32], "teacher", seed=0)
    model, _ = distill.build_method(
        config, teacher, student_factory([16], "student"), steps_per_epoch=10
    )
    assert type(model.optimizer).__name__ == "AdamW"
    assert model.optimizer.get_config()["global_clipnorm"] is None
    # The default recipe: SGD scheduled over the run (warm-up, then cosine).
    model, _ = distill.build_method(
        _configuration([]), teacher, student_factory([16], "student"), steps_per_epoch=10
    )
    assert type(model.optimizer).__name__ == "SGD"
    assert model.optimizer.get_config()["global_clipnorm"] == DEFAULT_RECIPE.global_clipnorm
