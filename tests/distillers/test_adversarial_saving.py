"""`.keras` round trips, checkpoints and resuming of AdversarialDistiller."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_anc


def _make(teacher, student_factory, **kwargs):
    distiller = keras_anc.AdversarialDistiller(
        teacher, student_factory([16], "student", seed=5), seed=7, **kwargs
    )
    distiller.compile(
        student_optimizer=keras.optimizers.Adam(1e-3),
        discriminator_optimizer=keras.optimizers.Adam(1e-4),
        metrics=["accuracy"],
    )
    return distiller


def _data(x):
    return tf.data.Dataset.from_tensor_slices(x).batch(64)


def test_keras_round_trip_continues_training_identically(
    tmp_path, mnist, mnist_teacher, student_factory
):
    x_train, *_ = mnist
    data = _data(x_train[:512])
    distiller = _make(mnist_teacher, student_factory, input_noise_stddev=0.1)
    distiller.fit(data, epochs=1, verbose=0)
    distiller.adversarial_sample_rate.assign(0.25)
    path = tmp_path / "distiller.keras"
    distiller.save(path)

    restored = keras.saving.load_model(path)
    assert isinstance(restored, keras_anc.AdversarialDistiller)
    assert float(restored.adversarial_sample_rate.numpy()) == pytest.approx(0.25)
    assert float(restored.feature_noise.stddev.numpy()) == pytest.approx(0.1)
    for name in ("teacher", "student", "discriminator"):
        for a, b in zip(
            getattr(distiller, name).get_weights(), getattr(restored, name).get_weights()
        ):
            np.testing.assert_array_equal(a, b)
    # Both optimizers' states come back.
    for opt in ("optimizer", "discriminator_optimizer"):
        original, loaded = getattr(distiller, opt), getattr(restored, opt)
        assert int(loaded.iterations.numpy()) == int(original.iterations.numpy()) == 8
        assert len(loaded.variables) == len(original.variables) > 2
        for a, b in zip(original.variables, loaded.variables):
            np.testing.assert_array_equal(a.numpy(), b.numpy())

    distiller.fit(data, epochs=1, verbose=0)
    restored.fit(data, epochs=1, verbose=0)
    for name in ("student", "discriminator"):
        for a, b in zip(
            getattr(distiller, name).get_weights(), getattr(restored, name).get_weights()
        ):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_config_round_trip(mnist_teacher, student_factory):
    disc = keras_anc.MLPDiscriminator(hidden_units=(32, 16), dropout_rate=0.1)
    distiller = keras_anc.AdversarialDistiller(
        mnist_teacher,
        student_factory([8], "s"),
        discriminator=disc,
        teacher_layer="features",
        student_layer="features",
        mimic_loss="l1",
        adversarial_weight=0.5,
        discriminator_steps=2,
    )
    config = distiller.get_config()
    clone = keras_anc.AdversarialDistiller.from_config(config)
    assert clone.get_config() == config
    assert clone.discriminator.hidden_units == (32, 16)
    assert clone.student_projection.kernel.shape == (8, 128)


def test_backup_and_restore_resumes_after_a_crash(tmp_path, mnist, mnist_teacher, student_factory):
    x_train, *_ = mnist
    data = _data(x_train[:256])
    backup = tmp_path / "backup"

    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("simulated kill")

    first = _make(mnist_teacher, student_factory)
    with pytest.raises(RuntimeError, match="simulated kill"):
        first.fit(
            data,
            epochs=4,
            verbose=0,
            callbacks=[keras.callbacks.BackupAndRestore(str(backup)), Crash()],
        )
    # A fresh process would build a fresh distiller: it resumes from the backup.
    second = _make(mnist_teacher, student_factory)
    history = second.fit(
        data, epochs=4, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(str(backup))]
    )
    assert len(history.epoch) == 2  # epochs 3 and 4 only
    assert history.epoch == [2, 3]
    assert int(second.optimizer.iterations.numpy()) == 16
    assert int(second.discriminator_optimizer.iterations.numpy()) == 16


def test_standard_callbacks(tmp_path, mnist, mnist_teacher, student_factory):
    x_train, y_train, x_test, y_test = mnist
    distiller = _make(mnist_teacher, student_factory)
    checkpoint = tmp_path / "best.keras"
    logs = tmp_path / "tb"
    history = distiller.fit(
        _data(x_train[:512]),
        epochs=3,
        validation_data=(x_test[:256], y_test[:256]),
        verbose=0,
        callbacks=[
            keras.callbacks.ModelCheckpoint(
                str(checkpoint), monitor="val_teacher_agreement", mode="max", save_best_only=True
            ),
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=5),
            keras.callbacks.TensorBoard(str(logs)),
            keras.callbacks.TerminateOnNaN(),
        ],
    )
    assert len(history.epoch) == 3
    best = keras.saving.load_model(checkpoint)
    assert isinstance(best, keras_anc.AdversarialDistiller)
    assert any(logs.rglob("*.tfevents.*"))


def test_terminate_on_nan_stops_a_diverging_run(mnist, mnist_teacher, student_factory):
    x_train, *_ = mnist
    distiller = _make(mnist_teacher, student_factory)
    distiller.mimic_weight.assign(np.nan)
    history = distiller.fit(
        _data(x_train[:512]), epochs=3, verbose=0, callbacks=[keras.callbacks.TerminateOnNaN()]
    )
    assert len(history.epoch) == 1
    assert int(distiller.optimizer.iterations.numpy()) == 1
