"""Composed objectives on this process's backend: Keras distillation losses and taps.

`distillation_losses=[...]` and `discriminator_taps=[...]` change what the backend steps
carry (nested features, every discriminator's variables and optimizer state), so they
are trained here under whichever backend the process has; CI runs this folder under
TensorFlow, JAX and PyTorch.
"""

import keras
import numpy as np
import pytest

import keras_anc

BATCH = 16


def _mlp(hidden, name, seed):
    keras.utils.set_random_seed(seed)
    x = keras.Input((6,))
    h = x
    for i, units in enumerate(hidden):
        last = i == len(hidden) - 1
        h = keras.layers.Dense(units, activation="relu", name="features" if last else f"h{i}")(h)
    return keras.Model(x, keras.layers.Dense(3, name="logits")(h), name=name)


def _distiller(**kwargs):
    teacher = _mlp([12, 8], "teacher", 0)
    student = _mlp([4, 8], "student", 1)
    distiller = keras_anc.AdversarialDistiller(teacher, student, seed=0, **kwargs)
    distiller.compile(
        student_optimizer=keras.optimizers.Adam(1e-2),
        discriminator_optimizer=keras.optimizers.Adam(1e-2),
    )
    return distiller


def _composed():
    return _distiller(
        distillation_losses=[
            keras.distillation.LogitsDistillation(loss=keras.losses.KLDivergence()),
            keras.distillation.FeatureDistillation(
                teacher_layer_name="features", student_layer_name="features"
            ),
        ],
        distillation_loss_weights=[0.5, 1.0],
        discriminator_taps=[
            keras_anc.DiscriminatorTap("h0", "h0", weight=0.5),  # 12 vs 4 wide: projected
            keras_anc.DiscriminatorTap("features", "features"),
        ],
    )


def _numpy(variables):
    return [keras.ops.convert_to_numpy(v).copy() for v in variables]


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(2 * BATCH, 6)).astype("float32")


def test_both_features_train_on_this_backend(x):
    distiller = _composed()
    block, features = distiller.discriminator_taps
    watched = {
        "block discriminator": block.discriminator.trainable_variables,
        "features discriminator": features.discriminator.trainable_variables,
        "main discriminator": distiller.discriminator.trainable_variables,
        "block projection": block.projection.trainable_variables,
        "student": distiller.student.trainable_variables,
    }
    before = {name: _numpy(v) for name, v in watched.items()}
    teacher_before = _numpy(distiller.teacher.weights)
    history = distiller.fit(x, batch_size=BATCH, epochs=2, verbose=0)

    expected = {
        "distillation_loss_0",
        "distillation_loss_1",
        "adversarial_loss_h0",
        "discriminator_loss_h0",
        "discriminator_accuracy_h0",
        "adversarial_loss_features",
        "discriminator_loss_features",
        "discriminator_accuracy_features",
        "discriminator_loss",
        "discriminator_accuracy",
    }
    assert expected <= set(history.history)
    for name, values in history.history.items():
        assert np.all(np.isfinite(values)), name
    for name, variables in watched.items():
        for old, new in zip(before[name], _numpy(variables)):
            assert not np.allclose(old, new), name
    for old, new in zip(teacher_before, _numpy(distiller.teacher.weights)):
        np.testing.assert_array_equal(old, new)
    iterations = [
        int(keras.ops.convert_to_numpy(o.iterations))
        for o in (distiller.optimizer, distiller.discriminator_optimizer)
    ]
    assert iterations == [4, 4]
    # The discriminator optimizer holds moments for every discriminator's weights.
    d_variables = distiller.discriminator_trainable_variables
    assert len(distiller.discriminator_optimizer.variables) == 2 + 2 * len(d_variables)


def test_a_feature_term_reaches_only_its_layer_on_this_backend(x):
    distiller = _distiller(
        adversarial_weight=0.0,
        mimic_weight=0.0,
        distillation_losses=[
            keras.distillation.FeatureDistillation(
                teacher_layer_name="features", student_layer_name="features"
            )
        ],
    )
    student = distiller.student
    before = _numpy([student.get_layer("features").kernel, student.get_layer("logits").kernel])
    distiller.fit(x, batch_size=BATCH, epochs=1, verbose=0)
    after = _numpy([student.get_layer("features").kernel, student.get_layer("logits").kernel])
    assert not np.allclose(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])


def test_keras_round_trip_on_this_backend(tmp_path, x):
    distiller = _composed()
    distiller.fit(x, batch_size=BATCH, epochs=1, verbose=0)
    path = tmp_path / "composed.keras"
    distiller.save(path)
    restored = keras.saving.load_model(path)
    original = distiller.evaluate(x, batch_size=2 * BATCH, verbose=0, return_dict=True)
    reloaded = restored.evaluate(x, batch_size=2 * BATCH, verbose=0, return_dict=True)
    assert original.keys() == reloaded.keys()
    for name, value in original.items():
        assert reloaded[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    for a, b in zip(
        _numpy(distiller.discriminator_optimizer.variables),
        _numpy(restored.discriminator_optimizer.variables),
    ):
        np.testing.assert_array_equal(a, b)
