"""Hyper-parameters stay in range wherever they can change."""

import math

import keras
import numpy as np
import pytest

import keras_anc
from keras_anc import hyperparameters as hp


@pytest.mark.parametrize(
    "name,value",
    [
        ("mimic_weight", -1.0),
        ("mimic_weight", math.nan),
        ("adversarial_weight", math.inf),
        ("adversarial_sample_rate", 1.5),
        ("input_dropout_rate", 1.0),
        ("input_noise_stddev", -0.1),
        ("label_loss_weight", "a lot"),
    ],
)
def test_check_value_refuses_values_out_of_range(name, value):
    with pytest.raises(ValueError, match=f"`{name}` must be"):
        hp.check_value(name, value)


def test_check_value_accepts_the_edges():
    assert hp.check_value("adversarial_sample_rate", 1) == 1.0
    assert hp.check_value("input_dropout_rate", 0.0) == 0.0


def test_clamp_moves_into_range_and_refuses_nan():
    assert hp.clamp("adversarial_sample_rate", 1.9) == 1.0
    assert hp.clamp("input_dropout_rate", 2.0) < 1.0
    assert hp.clamp("mimic_weight", -3.0) == 0.0
    with pytest.raises(ValueError, match="NaN"):
        hp.clamp("mimic_weight", math.nan)


def _pair(student_factory):
    return student_factory([16], "t"), student_factory([8], "s")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"mimic_weight": -1.0}, "mimic_weight"),
        ({"adversarial_weight": math.nan}, "adversarial_weight"),
        ({"label_loss_weight": math.inf}, "label_loss_weight"),
        ({"input_noise_stddev": math.nan}, "input_noise_stddev"),
        ({"input_dropout_rate": math.nan}, "input_dropout_rate"),
        ({"discriminator_steps": 2.7}, "discriminator_steps"),
        ({"discriminator_steps": 0}, "discriminator_steps"),
    ],
)
def test_the_constructor_refuses_nonsense_numbers(student_factory, kwargs, match):
    teacher, student = _pair(student_factory)
    with pytest.raises(ValueError, match=match):
        keras_anc.AdversarialDistiller(teacher, student, **kwargs)


def test_the_same_model_as_teacher_and_student_is_refused(student_factory):
    model = student_factory([8], "m")
    with pytest.raises(ValueError, match="same model object"):
        keras_anc.AdversarialDistiller(model, model)


def test_feature_taps_without_an_output_term_warn(student_factory):
    teacher, student = _pair(student_factory)
    with pytest.warns(UserWarning, match="classifier is not trained"):
        keras_anc.AdversarialDistiller(
            teacher,
            student,
            teacher_layer="features",
            student_layer="features",
            output_mimic_weight=0.0,
        )


def _compiled(teacher, student, **kwargs):
    distiller = keras_anc.AdversarialDistiller(teacher, student, seed=0, **kwargs)
    distiller.compile(
        student_optimizer=keras.optimizers.Adam(1e-3),
        discriminator_optimizer=keras.optimizers.Adam(1e-4),
    )
    return distiller


def test_guard_clamps_into_range_and_the_model_still_saves_and_loads(tmp_path, student_factory):
    teacher, student = _pair(student_factory)
    distiller = _compiled(teacher, student)
    x = np.random.default_rng(0).random((64, 28, 28, 1)).astype("float32")
    # A careless guard: max_value above the valid range is refused up front...
    with pytest.raises(ValueError, match="max_value"):
        keras_anc.callbacks.DiscriminatorGuard(max_value=3.0)
    # ...and the scheduler refuses a schedule that leaves the range, naming the epoch.
    bad = keras_anc.callbacks.HyperparameterScheduler(
        "adversarial_sample_rate", lambda epoch, rate: 1.9
    )
    with pytest.raises(ValueError, match="epoch 0"):
        distiller.fit(x, batch_size=32, epochs=1, callbacks=[bad], verbose=0)
    distiller.save(tmp_path / "d.keras")
    keras.saving.load_model(tmp_path / "d.keras")


def test_an_out_of_range_value_is_never_written_to_a_file(tmp_path, student_factory):
    teacher, student = _pair(student_factory)
    distiller = _compiled(teacher, student)
    distiller.adversarial_sample_rate.assign(1.9)  # bypassing every check
    with pytest.raises(ValueError, match="Cannot serialize"):
        distiller.save(tmp_path / "d.keras")
    with pytest.raises(ValueError, match="adversarial_sample_rate"):
        distiller.set_hyperparameter("adversarial_sample_rate", 1.9)
    distiller.set_hyperparameter("adversarial_sample_rate", 0.2)
    distiller.save(tmp_path / "d.keras")
    loaded = keras.saving.load_model(tmp_path / "d.keras")
    assert float(keras.ops.convert_to_numpy(loaded.adversarial_sample_rate)) == pytest.approx(0.2)
