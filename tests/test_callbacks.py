"""Callbacks that schedule and adapt the distiller's regularizers."""

import keras
import pytest
import tensorflow as tf

import keras_anc
from keras_anc.callbacks import DiscriminatorGuard, HyperparameterScheduler


def _fit(teacher, student, x, callbacks, epochs=3, **kwargs):
    distiller = keras_anc.AdversarialDistiller(teacher, student, **kwargs)
    distiller.compile(student_optimizer="adam", discriminator_optimizer="adam")
    data = tf.data.Dataset.from_tensor_slices(x).batch(64)
    history = distiller.fit(data, epochs=epochs, verbose=0, callbacks=callbacks)
    return distiller, history


def test_guard_raises_the_regularizer_while_the_discriminator_wins(
    mnist, mnist_teacher, student_factory
):
    x_train, *_ = mnist
    # Any accuracy is "too high" with upper=0.01: the rate must climb by `step` per epoch.
    guard = DiscriminatorGuard(upper=0.01, lower=0.0, step=0.1, max_value=0.25)
    distiller, history = _fit(
        mnist_teacher,
        student_factory([8], "s"),
        x_train[:256],
        [guard],
        adversarial_sample_rate=0.0,
    )
    assert history.history["adversarial_sample_rate"] == pytest.approx([0.1, 0.2, 0.25])
    assert float(distiller.adversarial_sample_rate.numpy()) == pytest.approx(0.25)


def test_guard_lowers_the_regularizer_when_the_student_wins(mnist, mnist_teacher, student_factory):
    x_train, *_ = mnist
    guard = DiscriminatorGuard(
        hyperparameter="input_noise_stddev", upper=1.0, lower=0.999, step=0.2, every_n_batches=2
    )
    distiller, _ = _fit(
        mnist_teacher,
        student_factory([8], "s"),
        x_train[:256],
        [guard],
        epochs=1,
        input_noise_stddev=0.5,
    )
    # 4 batches, checked every 2: two decreases of 0.2, floored at 0.
    assert float(distiller.feature_noise.stddev.numpy()) == pytest.approx(0.1)
    assert [where for where, _, _ in guard.history] == ["Batch 2", "Batch 4"]


def test_scheduler_rejects_unknown_hyperparameter(mnist, mnist_teacher, student_factory):
    x_train, *_ = mnist
    bad = HyperparameterScheduler("temperature", lambda epoch, value: value)
    with pytest.raises(ValueError, match="Unknown hyper-parameter 'temperature'"):
        _fit(mnist_teacher, student_factory([8], "s"), x_train[:64], [bad], epochs=1)


def test_callbacks_need_a_distiller():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="work with keras_anc.AdversarialDistiller"):
        model.fit(
            tf.zeros((4, 2)),
            tf.zeros((4, 1)),
            verbose=0,
            callbacks=[HyperparameterScheduler("mimic_weight", lambda e, v: v)],
        )


def test_argument_checks():
    with pytest.raises(ValueError, match="lower < upper"):
        DiscriminatorGuard(upper=0.5, lower=0.6)
    with pytest.raises(ValueError, match="`schedule` must be a function"):
        HyperparameterScheduler("mimic_weight", 0.5)
