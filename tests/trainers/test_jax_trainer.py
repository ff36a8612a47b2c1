"""The JAX training step: one traced function, both optimizers' state in the JAX state.

Runs under `KERAS_BACKEND=jax` (CI runs tests/trainers under every backend). The first
tests pin the undocumented members of Keras' JAX trainer that `jax_trainer.py` overrides:
if Keras renames or reshapes one, they fail here rather than as silently lost state.
"""

import inspect

import keras
import numpy as np
import pytest

import keras_anc

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason=f"tests the JAX trainer; this run uses KERAS_BACKEND={keras.backend.backend()!r}",
)

BATCH = 16


@pytest.fixture
def distiller():
    def mlp(hidden, name, seed):
        keras.utils.set_random_seed(seed)
        x = keras.Input((6,))
        h = keras.layers.Dense(hidden, activation="relu", name="features")(x)
        return keras.Model(x, keras.layers.Dense(3, name="logits")(h), name=name)

    model = keras_anc.AdversarialDistiller(
        mlp(16, "teacher", 0), mlp(4, "student", 1), discriminator_steps=2, seed=0
    )
    model.compile(
        student_optimizer=keras.optimizers.Adam(1e-2),
        discriminator_optimizer=keras.optimizers.Adam(1e-3),
    )
    return model


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(4 * BATCH, 6)).astype("float32")


def _iterations(model):
    return [
        int(keras.ops.convert_to_numpy(o.iterations))
        for o in (model.optimizer, model.discriminator_optimizer)
    ]


# ---------------------------------------------------------------------- Keras pins


def test_the_keras_jax_trainer_members_we_override_still_exist():
    from keras.src.backend.jax.trainer import JAXTrainer

    from keras_anc.trainers import jax_trainer

    source = inspect.getsource(JAXTrainer)
    for name in jax_trainer.KERAS_PRIVATE_API:
        assert hasattr(JAXTrainer, name) or f"self.{name} =" in source, name
    assert list(inspect.signature(JAXTrainer._get_jax_state).parameters) == [
        "self",
        "trainable_variables",
        "non_trainable_variables",
        "optimizer_variables",
        "metrics_variables",
        "purge_model_variables",
    ]
    assert list(inspect.signature(JAXTrainer._purge_model_variables).parameters) == [
        "self",
        "trainable_variables",
        "non_trainable_variables",
        "optimizer_variables",
        "metrics_variables",
    ]
    # The state written back at the end of an epoch is a dict with these keys.
    for key in ("trainable_variables", "optimizer_variables", "metrics_variables"):
        assert f'"{key}": {key}' in source, key


def test_the_distiller_uses_the_jax_trainer_before_keras():
    from keras.src.backend.jax.trainer import JAXTrainer

    from keras_anc.trainers.jax_trainer import JAXDistillerTrainer

    mro = keras_anc.AdversarialDistiller.__mro__
    assert mro.index(JAXDistillerTrainer) < mro.index(JAXTrainer)


def test_the_jax_state_holds_both_optimizers(distiller):
    student, discriminator = distiller.optimizer, distiller.discriminator_optimizer
    trainable, non_trainable, optimizer, metrics = distiller._get_jax_state(
        trainable_variables=True,
        non_trainable_variables=True,
        optimizer_variables=True,
        metrics_variables=True,
    )
    assert len(optimizer) == len(student.variables) + len(discriminator.variables)
    assert len(trainable) == len(distiller.trainable_variables)
    assert len(metrics) == len(distiller.metrics_variables)
    (_, _, optimizer_shardings, _) = distiller._get_state_sharding_spec()
    assert len(optimizer_shardings) == len(optimizer)


# ---------------------------------------------------------------------- behaviour


def test_the_step_is_traced_once_and_both_updates_run_in_it(distiller, x):
    traces = []
    step = distiller.train_step

    def counting_step(state, data):
        traces.append(1)
        return step(state, data)

    distiller.train_step = counting_step  # Keras jits `self.train_step`
    distiller.fit(x, batch_size=BATCH, epochs=2, verbose=0)
    assert len(traces) == 1  # 8 steps, no Python per step
    assert _iterations(distiller) == [8, 16]


def test_callbacks_see_both_optimizers_mid_epoch(distiller, x):
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            # `self.model` syncs the JAX state back to the variables (Keras' contract).
            seen.append(_iterations(self.model))

    distiller.fit(x, batch_size=BATCH, epochs=1, callbacks=[Spy()], verbose=0)
    assert seen == [[1, 2], [2, 4], [3, 6], [4, 8]]


def test_a_learning_rate_schedule_acts_on_the_student_optimizer(distiller, x):
    scheduler = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.5 ** (epoch + 2))
    distiller.fit(x, batch_size=BATCH, epochs=2, callbacks=[scheduler], verbose=0)
    assert float(keras.ops.convert_to_numpy(distiller.optimizer.learning_rate)) == 0.125
    d_rate = distiller.discriminator_optimizer.learning_rate
    assert float(keras.ops.convert_to_numpy(d_rate)) == pytest.approx(1e-3)


def test_a_failed_step_puts_the_values_back(distiller, x):
    distiller.fit(x, batch_size=BATCH, epochs=1, verbose=0)
    expected = [keras.ops.convert_to_numpy(v) for v in distiller.variables]
    with pytest.raises(Exception):  # noqa: B017 - JAX's shape error
        distiller.fit(np.zeros((BATCH, 5), "float32"), batch_size=BATCH, verbose=0)
    for variable, value in zip(distiller.variables, expected):
        assert variable._value is not None, variable.path  # not left purged by Keras
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)
