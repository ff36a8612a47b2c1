"""Callbacks: the distiller's regularizer schedules, the non-finite guard, the checkpoint."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_anc
from keras_anc import model_files
from keras_anc.callbacks import (
    DiscriminatorGuard,
    HyperparameterScheduler,
    NonFiniteGuard,
    TrainingCheckpoint,
)


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


# --- NonFiniteGuard -------------------------------------------------------------------


def _nan_pixels(x, share, seed=0):
    """`x` with NaN in one pixel of `share` of the images (the issue's hostile data)."""
    rng = np.random.default_rng(seed)
    bad = np.sort(rng.choice(len(x), size=int(share * len(x)), replace=False))
    x = x.copy()
    x[bad, 5, 5, 0] = np.nan
    return x, bad


def _anc(teacher):
    from keras_anc import methods, models

    keras.utils.set_random_seed(1)
    student = models.get_model("lenet_tiny", input_shape=(28, 28, 1), num_classes=10)
    return methods.make_method("anc", teacher, student)


def test_nan_in_one_pixel_of_2_percent_of_images_is_stopped_at_its_batch(mnist, mnist_teacher):
    x_train, *_ = mnist
    x, bad = _nan_pixels(x_train[:1024], 0.02)
    first_bad_batch = bad[0] // 64 + 1

    # Without a guard the student is silently corrupted and would be saved.
    model = _anc(mnist_teacher)
    model.fit(x, batch_size=64, epochs=1, shuffle=False, verbose=0)
    assert model_files.non_finite_weights(model.student.weights)

    model = _anc(mnist_teacher)
    with pytest.raises(FloatingPointError) as info:
        model.fit(
            x, batch_size=64, epochs=2, shuffle=False, verbose=0, callbacks=[NonFiniteGuard()]
        )
    message = str(info.value)
    assert f"stopped training at epoch 1, batch {first_bad_batch}:" in message
    assert "NaN or Inf in the input data" in message
    assert int(model.optimizer.iterations.numpy()) == first_bad_batch  # no step after it
    with pytest.raises(ValueError, match="hold NaN or infinite values"):
        model_files.save_model(model.student, "unused.keras")


class _Corrupt(keras.callbacks.Callback):
    """Puts a NaN into the kernel of layer `hidden` after batch `at` (1-based)."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 == self.at:
            kernel = self.model.get_layer("hidden").kernel
            value = np.array(kernel.numpy())
            value[0, 0] = np.nan
            kernel.assign(value)


def _small_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="hidden"), keras.layers.Dense(2)],
        name="small",
    )
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_guard_finds_non_finite_weights_while_the_logged_loss_is_finite():
    x, y = np.ones((64, 4), "float32"), np.zeros((64, 2), "float32")
    model = _small_model()
    with pytest.raises(FloatingPointError) as info:
        model.fit(x, y, batch_size=8, verbose=0, callbacks=[_Corrupt(3), NonFiniteGuard()])
    message = str(info.value)
    assert "epoch 1, batch 3: the weights small/hidden/kernel hold NaN" in message
    assert "logged" not in message  # the loss of batch 3 was still finite

    model = _small_model()
    with pytest.raises(FloatingPointError, match="epoch 1, batch 4:"):
        model.fit(
            x, y, batch_size=8, verbose=0, callbacks=[_Corrupt(3), NonFiniteGuard(check_every=2)]
        )


def test_guard_reads_the_logged_values():
    x, y = np.ones((16, 4), "float32"), np.full((16, 2), np.inf, "float32")
    model = _small_model()
    with pytest.raises(FloatingPointError, match="epoch 1, batch 1: the logged loss=inf"):
        model.fit(x, y, batch_size=8, verbose=0, callbacks=[NonFiniteGuard(check_weights=False)])


@pytest.mark.parametrize("check_every", [0, -1, 1.5, True, "2"])
def test_guard_argument_checks(check_every):
    with pytest.raises(ValueError, match="`check_every` must be a positive integer"):
        NonFiniteGuard(check_every=check_every)


# --- TrainingCheckpoint -----------------------------------------------------------------


class _Crash(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("simulated kill")


_STEPS = 6  # batches of 16 per epoch


def _stream(epochs):
    """`epochs` epochs of 96 examples in batches of 16, each epoch in a new order.

    The order is drawn once, so every iterator of the dataset yields the same batches. A
    `shuffle(reshuffle_each_iteration=True)` pipeline would not do here: each iterator made
    of it draws a new order, and on the JAX and torch backends the first `fit` of a freshly
    compiled model takes a batch from one iterator (to build the compiled loss and metrics)
    and then trains on a new one, so the resumed run, which skips its completed epochs in
    that first iterator, would train on other batches than the uninterrupted one.
    """
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("int64")
    order = np.concatenate([rng.permutation(96) for _ in range(epochs)])
    return tf.data.Dataset.from_tensor_slices((x[order], y[order])).batch(16)


def _classifier(dropout_seed=None):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8),
            keras.layers.Dropout(0.3, seed=dropout_seed),  # its seed state must be restored too
            keras.layers.Dense(2),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def _fit_resumable(model, checkpoint, epochs, callbacks=()):
    """The recipe of `TrainingCheckpoint`'s docstring."""
    initial_epoch = checkpoint.restore(model)
    model.fit(
        _stream(epochs).skip(initial_epoch * _STEPS),
        steps_per_epoch=_STEPS,
        epochs=epochs,
        initial_epoch=initial_epoch,
        verbose=0,
        callbacks=[NonFiniteGuard(), checkpoint, *callbacks],
    )


# On torch an unseeded `Dropout` draws from torch's global generator, not from its
# `SeedGenerator` state: the checkpoint keeps that generator's state too.
@pytest.mark.parametrize("dropout_seed", [1, None], ids=["seeded-dropout", "unseeded-dropout"])
def test_checkpoint_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path, dropout_seed):
    reference = _classifier(dropout_seed)
    _fit_resumable(reference, TrainingCheckpoint(tmp_path / "reference"), epochs=4)

    folder = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated kill"):
        crashed = _classifier(dropout_seed)
        _fit_resumable(crashed, TrainingCheckpoint(folder), epochs=4, callbacks=[_Crash(2)])
    assert sorted(p.name for p in folder.iterdir()) == ["epoch-2.weights.h5", "state.json"]

    resumed, checkpoint = _classifier(dropout_seed), TrainingCheckpoint(folder)
    _fit_resumable(resumed, checkpoint, epochs=4)
    for a, b in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert int(resumed.optimizer.iterations.numpy()) == 4 * 6
    assert len(checkpoint.history["loss"]) == 4  # the restored epochs' logs too
    checkpoint.delete()
    assert not folder.exists()


def test_checkpoint_restore_without_a_state_and_with_a_broken_one(tmp_path):
    checkpoint = TrainingCheckpoint(tmp_path / "none")
    assert checkpoint.restore(_classifier()) == 0 and checkpoint.history == {}
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "state.json").write_text("{not json")
    with pytest.raises(ValueError, match="state.json is unreadable.*Delete the folder"):
        TrainingCheckpoint(tmp_path / "bad").restore(_classifier())
