import keras
import numpy as np
import pytest

from keras_anc.recipe import DEFAULT_RECIPE, Recipe


def _rates(schedule, steps):
    return np.array([float(keras.ops.convert_to_numpy(schedule(s))) for s in steps])


def test_cosine_schedule_warms_up_then_decays_to_zero():
    recipe = Recipe(optimizer="adam", learning_rate=0.01, schedule="cosine", warmup_epochs=1)
    schedule = recipe.learning_rate_schedule(steps_per_epoch=100, epochs=5)
    rates = _rates(schedule, [0, 50, 100, 300, 499])
    assert rates[0] == pytest.approx(0.0001)  # 1/100 of the peak: the first step moves
    assert rates[1] == pytest.approx(0.00505, rel=1e-3)  # half-way up the warm-up
    assert rates[2] == pytest.approx(0.01, rel=1e-3)  # the peak
    assert rates[3] == pytest.approx(0.005, rel=1e-2)  # half-way down the cosine
    assert rates[4] < 1e-5


def test_cosine_without_warmup_starts_at_the_peak():
    recipe = Recipe(learning_rate=0.1, warmup_epochs=0)
    schedule = recipe.learning_rate_schedule(steps_per_epoch=10, epochs=2)
    assert _rates(schedule, [0])[0] == pytest.approx(0.1)


def test_constant_schedule_is_the_learning_rate():
    recipe = Recipe(learning_rate=2e-3, schedule="constant")
    assert recipe.learning_rate_schedule(steps_per_epoch=10, epochs=3) == pytest.approx(2e-3)


@pytest.mark.parametrize("name, cls", [("adam", "Adam"), ("adamw", "AdamW"), ("sgd", "SGD")])
def test_student_optimizer_kind_decay_and_clipping(name, cls):
    recipe = Recipe(optimizer=name, weight_decay=5e-4, global_clipnorm=10.0)
    optimizer = recipe.student_optimizer(steps_per_epoch=10, epochs=2)
    assert type(optimizer).__name__ == cls
    config = optimizer.get_config()
    assert config["global_clipnorm"] == 10.0
    if name != "adam":
        assert config["weight_decay"] == pytest.approx(5e-4)
    if name == "sgd":
        assert config["nesterov"] and config["momentum"] == pytest.approx(0.9)


def test_student_optimizer_follows_the_schedule_while_training():
    recipe = Recipe(optimizer="sgd", learning_rate=0.1, warmup_epochs=1)
    optimizer = recipe.student_optimizer(steps_per_epoch=4, epochs=2)
    variable = keras.Variable(np.ones(3, "float32"))
    optimizer.build([variable])
    for _ in range(2):
        optimizer.apply([keras.ops.ones(3)], [variable])
    # After 2 of 4 warm-up steps the rate is half-way from 1/4 of the peak to the peak.
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(0.0625)


def test_discriminator_optimizer_is_a_fresh_adam():
    recipe = Recipe(discriminator_learning_rate=3e-4)
    first, second = recipe.discriminator_optimizer(), recipe.discriminator_optimizer()
    assert first is not second
    assert float(keras.ops.convert_to_numpy(first.learning_rate)) == pytest.approx(3e-4)


def test_replace_and_to_dict_round_trip():
    changed = DEFAULT_RECIPE.replace(learning_rate=0.5)
    assert changed.learning_rate == 0.5 and DEFAULT_RECIPE.learning_rate != 0.5
    assert Recipe(**changed.to_dict()) == changed


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"optimizer": "rmsprop"}, "Received: `optimizer='rmsprop'`"),
        ({"schedule": "step"}, "Received: `schedule='step'`"),
        ({"learning_rate": 0.0}, "`learning_rate` must be a positive number"),
        ({"discriminator_learning_rate": -1.0}, "`discriminator_learning_rate` must be"),
        ({"warmup_epochs": -1}, "`warmup_epochs` must be a number >= 0"),
        ({"weight_decay": -0.1}, "`weight_decay` must be a number >= 0"),
        ({"global_clipnorm": 0.0}, "`global_clipnorm` must be positive"),
    ],
)
def test_bad_values_are_refused_with_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        Recipe(**kwargs)


def test_bad_schedule_lengths_are_refused():
    with pytest.raises(ValueError, match="`steps_per_epoch` must be a whole number >= 1"):
        DEFAULT_RECIPE.student_optimizer(steps_per_epoch=0, epochs=2)
    with pytest.raises(ValueError, match="`epochs` must be a positive number"):
        DEFAULT_RECIPE.student_optimizer(steps_per_epoch=10, epochs=0)
