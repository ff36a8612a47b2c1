"""`AdversarialDistiller` on every Keras backend: TensorFlow, JAX and PyTorch.

The first group runs in this process, on whichever backend it has (CI runs this file
under all three). The `slow` group starts processes of each backend (`backend_worker.py`)
and compares them: same weights without randomness, same behaviour with it, the same
student accuracy, and `.keras` files that move between backends.
"""

import importlib.util

import keras
import numpy as np
import pytest

import keras_anc

BATCH = 16


def _mlp(hidden, name, inputs=6, classes=3, seed=0):
    keras.utils.set_random_seed(seed)
    x = keras.Input((inputs,))
    h = x
    for i, units in enumerate(hidden):
        name_i = "features" if i == len(hidden) - 1 else None
        h = keras.layers.Dense(units, activation="relu", name=name_i)(h)
    return keras.Model(x, keras.layers.Dense(classes, name="logits")(h), name=name)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6 * BATCH, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0)
    return x, y


@pytest.fixture
def distiller():
    teacher = _mlp([16], "teacher", seed=0)
    model = keras_anc.AdversarialDistiller(
        teacher, _mlp([4], "student", seed=1), discriminator_steps=2, seed=0
    )
    model.compile(
        student_optimizer=keras.optimizers.Adam(1e-2),
        discriminator_optimizer=keras.optimizers.Adam(1e-3),
        metrics=["accuracy"],
    )
    return model


def _values(variables):
    return [keras.ops.convert_to_numpy(v).copy() for v in variables]


def _iterations(model):
    return [
        int(keras.ops.convert_to_numpy(o.iterations))
        for o in (model.optimizer, model.discriminator_optimizer)
    ]


# ---------------------------------------------------------------------- this backend


def test_label_free_fit_with_validation_and_callbacks(distiller, data):
    x, y = data
    teacher_before = _values(distiller.teacher.weights)
    history = distiller.fit(
        x,
        batch_size=BATCH,
        epochs=2,
        validation_data=(x, y),
        callbacks=[
            keras_anc.callbacks.DiscriminatorGuard(upper=0.0, lower=-1.0, step=0.05),
            keras_anc.callbacks.HyperparameterScheduler(
                "mimic_weight", lambda epoch, value: 2.0 + epoch
            ),
        ],
        verbose=0,
    )
    logged = {
        "loss",
        "adversarial_loss",
        "mimic_loss",
        "discriminator_loss",
        "discriminator_accuracy",
        "teacher_agreement",
    }
    assert set(history.history) == (
        logged
        | {f"val_{k}" for k in logged}
        | {"val_accuracy", "adversarial_sample_rate", "mimic_weight"}
    )
    assert history.history["mimic_weight"] == [2.0, 3.0]
    # D's accuracy is above `upper=0`: the guard raised the rate after each epoch.
    assert history.history["adversarial_sample_rate"] == pytest.approx([0.15, 0.2])
    assert all(np.isfinite(v).all() for v in history.history.values())
    steps = 2 * len(x) // BATCH
    assert _iterations(distiller) == [steps, 2 * steps]  # discriminator_steps=2
    for before, after in zip(teacher_before, _values(distiller.teacher.weights)):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("frozen", ["student", "discriminator"])
def test_each_optimizer_updates_only_its_own_model(data, frozen):
    x, _ = data
    teacher = _mlp([16], "teacher", seed=0)
    model = keras_anc.AdversarialDistiller(teacher, _mlp([4], "student", seed=1), seed=0)
    rates = {"student": 1e-2, "discriminator": 1e-2, frozen: 0.0}
    model.compile(
        student_optimizer=keras.optimizers.SGD(rates["student"]),
        discriminator_optimizer=keras.optimizers.SGD(rates["discriminator"]),
    )
    parts = {"student": model.student, "discriminator": model.discriminator}
    before = {name: _values(part.weights) for name, part in parts.items()}
    model.fit(x, batch_size=BATCH, epochs=1, verbose=0)
    for name, part in parts.items():
        changed = any(not np.array_equal(b, a) for b, a in zip(before[name], _values(part.weights)))
        assert changed == (name != frozen), name


def test_keras_round_trip_keeps_the_state_and_training_continues(distiller, data, tmp_path):
    x, y = data
    distiller.fit(x, batch_size=BATCH, epochs=1, verbose=0)
    distiller.set_hyperparameter("adversarial_sample_rate", 0.25)
    path = str(tmp_path / "distiller.keras")
    distiller.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        reloaded.predict(x, batch_size=BATCH, verbose=0),
        distiller.predict(x, batch_size=BATCH, verbose=0),
        atol=1e-6,
    )
    assert _iterations(reloaded) == _iterations(distiller)
    for a, b in zip(
        _values(reloaded.discriminator_optimizer.variables),
        _values(distiller.discriminator_optimizer.variables),
    ):
        np.testing.assert_allclose(a, b, atol=1e-7)
    assert float(keras.ops.convert_to_numpy(reloaded.adversarial_sample_rate)) == 0.25
    reloaded.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    steps = len(x) // BATCH
    assert _iterations(reloaded) == [2 * steps, 4 * steps]
    logs = reloaded.evaluate(x, y, batch_size=BATCH, verbose=0, return_dict=True)
    assert 0.0 <= logs["accuracy"] <= 1.0


def test_batch_level_calls(distiller, data):
    x, y = data
    logs = distiller.train_on_batch(x[:BATCH], y[:BATCH], return_dict=True)
    assert {"loss", "discriminator_loss", "accuracy"} <= set(logs)
    assert _iterations(distiller) == [1, 2]
    logs = distiller.test_on_batch(x[:BATCH], y[:BATCH], return_dict=True)
    assert {"loss", "teacher_agreement", "accuracy"} <= set(logs)
    assert distiller.predict_on_batch(x[:BATCH]).shape == (BATCH, 3)


def test_a_bad_batch_raises_before_training_and_leaves_the_teacher_usable(distiller, data):
    x, _ = data
    teacher = distiller.teacher
    expected = teacher.predict(x, verbose=0)
    with pytest.raises(ValueError, match="yields a dict"):
        distiller.fit({"image": x}, batch_size=BATCH, epochs=1, verbose=0)
    np.testing.assert_allclose(teacher.predict(x, verbose=0), expected, atol=1e-6)
    distiller.fit(x, batch_size=BATCH, epochs=1, verbose=0)  # and it still trains


def test_an_error_inside_the_step_leaves_the_models_usable(distiller, data):
    x, _ = data
    distiller.fit(x, batch_size=BATCH, epochs=1, verbose=0)  # built: the error is in the step
    teacher = distiller.teacher
    expected = teacher.predict(x, verbose=0)
    student_before = _values(distiller.student.weights)
    wrong_width = np.zeros((len(x), 5), "float32")
    with pytest.raises(Exception):  # noqa: B017 - each backend words its own shape error
        distiller.fit(wrong_width, batch_size=BATCH, epochs=1, verbose=0)
    np.testing.assert_allclose(teacher.predict(x, verbose=0), expected, atol=1e-6)
    for before, after in zip(student_before, _values(distiller.student.weights)):
        np.testing.assert_array_equal(before, after)
    distiller.fit(x, batch_size=BATCH, epochs=1, verbose=0)


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None, reason="with_teacher_outputs needs tf.data"
)
def test_cached_teacher_outputs_train_on_this_backend(distiller, data):
    from keras_anc.teacher_outputs import with_teacher_outputs

    x, y = data
    cached = with_teacher_outputs((x, y), distiller.teacher, batch_size=BATCH, shuffle=False)
    history = distiller.fit(cached, epochs=1, verbose=0)
    assert "accuracy" in history.history
    assert _iterations(distiller)[0] == len(x) // BATCH


# ---------------------------------------------------------------------- across backends


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_core_imports_without_tensorflow(backend_runs, backend):
    facts = backend_runs.imports[backend]  # `import keras_anc` first thing in a fresh process
    assert facts["backend"] == backend
    assert facts["tensorflow_imported"] is False


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_weights_agree_with_tensorflow_when_randomness_is_off(backend_runs, backend):
    reference = backend_runs.arrays["tensorflow"]
    run = backend_runs.arrays[backend]
    keys = [k for k in reference if k.startswith("equivalence/")]
    assert len(keys) >= 12  # student, projection and discriminator kernels and biases
    worst = max(float(np.max(np.abs(run[k] - reference[k]))) for k in keys)
    assert worst <= 1e-5, worst
    facts = backend_runs.facts
    assert facts[backend]["equivalence/discriminator_iterations"] == 12  # 6 batches x 2
    for key, value in facts["tensorflow"]["equivalence/history"].items():
        assert facts[backend]["equivalence/history"][key] == pytest.approx(value, abs=1e-5)


@pytest.mark.slow
def test_the_share_of_relabelled_samples_is_the_same_on_every_backend(backend_runs):
    # 20,000 draws at rate 0.1: standard error 0.0021.
    shares = {b: f["relabelled_share"] for b, f in backend_runs.facts.items()}
    for backend, share in shares.items():
        assert share == pytest.approx(0.1, abs=0.012), (backend, shares)


@pytest.mark.slow
def test_every_method_fits_one_epoch_on_every_backend(backend_runs):
    import keras_anc.methods

    for backend, facts in backend_runs.facts.items():
        assert sorted(facts["methods"]) == sorted(keras_anc.methods.available_methods())
        failed = {name: why for name, why in facts["methods"].items() if why != "ok"}
        assert not failed, (backend, failed)


@pytest.mark.slow
def test_the_student_learns_the_same_on_every_backend(backend_runs):
    reference = backend_runs.facts["tensorflow"]
    assert reference["readme/student_accuracy"] > 0.85  # teacher about 0.93, chance 0.1
    for backend, facts in backend_runs.facts.items():
        assert facts["readme/student_accuracy"] == pytest.approx(
            reference["readme/student_accuracy"], abs=0.01
        ), backend
        assert facts["readme/teacher_unchanged"], backend
        assert facts["readme/reload_max_difference"] <= 1e-6, backend
        saved = facts["readme/iterations_saved"]
        steps = facts["readme/steps_per_epoch"]
        assert saved == [4 * steps, 4 * steps], backend
        assert facts["readme/iterations_continued"] == [s + steps for s in saved], backend
        history = facts["readme/history"]
        assert history["adversarial_weight"] == [1.0, 0.5, 0.5, 0.5], backend
        assert history["val_accuracy"][-1] > history["val_accuracy"][0], backend


@pytest.mark.slow
@pytest.mark.parametrize("target", ["jax", "torch", "tensorflow"])
def test_a_distiller_saved_on_one_backend_trains_on_another(backend_runs, target):
    resumed = backend_runs.resumed[target]
    source = backend_runs.facts[resumed["source"]]
    # Same weights, another backend's kernels: float32 rounding only.
    assert resumed["max_relative_difference"] <= 1e-5, resumed
    assert resumed["iterations_loaded"] == source["readme/iterations_saved"]
    steps = source["readme/steps_per_epoch"]
    assert resumed["iterations_after"] == [i + steps for i in resumed["iterations_loaded"]]
    assert np.isfinite(resumed["loss"])
    assert resumed["accuracy"] >= source["readme/student_accuracy"] - 0.02, resumed
