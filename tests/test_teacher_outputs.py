"""Cached teacher outputs: the teacher runs once, and distillation still learns."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_anc
from keras_anc.teacher_outputs import with_teacher_outputs


def test_cached_outputs_equal_the_teacher_and_carry_labels(mnist, mnist_teacher):
    x_train, y_train, *_ = mnist
    ds = with_teacher_outputs((x_train[:300], y_train[:300]), mnist_teacher, shuffle=False)
    x, targets = next(iter(ds))
    np.testing.assert_allclose(
        targets["teacher_logits"], mnist_teacher.predict(x, verbose=0), atol=1e-5
    )
    np.testing.assert_array_equal(targets["labels"], y_train[:128])
    assert "teacher_features" not in targets


def test_distiller_skips_the_teacher_and_learns(mnist, mnist_teacher, student_factory):
    x_train, _, x_test, y_test = mnist
    cached = with_teacher_outputs(x_train, mnist_teacher, seed=1)
    # From here on the teacher must not run during training: poison its weights.
    original = mnist_teacher.get_weights()
    distiller = keras_anc.AdversarialDistiller(mnist_teacher, student_factory([16], "s"))
    distiller.compile(student_optimizer="adam", discriminator_optimizer="adam")
    before = distiller.evaluate(x_test[:500], y_test[:500], verbose=0, return_dict=True)
    try:
        mnist_teacher.set_weights([np.full_like(w, np.nan) for w in original])
        history = distiller.fit(cached, epochs=2, verbose=0)
    finally:
        mnist_teacher.set_weights(original)
    after = distiller.evaluate(x_test[:500], y_test[:500], verbose=0, return_dict=True)
    assert np.all(np.isfinite(history.history["loss"]))
    assert after["teacher_agreement"] > before["teacher_agreement"] + 0.25


def test_feature_taps_need_cached_features(mnist, mnist_teacher, student_factory):
    x_train, *_ = mnist
    distiller = keras_anc.AdversarialDistiller(
        mnist_teacher,
        student_factory([16], "s"),
        teacher_layer="features",
        student_layer="features",
    )
    distiller.compile(student_optimizer="adam", discriminator_optimizer="adam")
    with pytest.raises(ValueError, match="need 'teacher_features'"):
        distiller.fit(with_teacher_outputs(x_train[:64], mnist_teacher), epochs=1, verbose=0)
    cached = with_teacher_outputs(x_train[:256], mnist_teacher, teacher_layer="features")
    assert next(iter(cached))[1]["teacher_features"].shape == (128, 128)
    distiller.fit(cached, epochs=1, verbose=0)


def test_bad_inputs():
    teacher = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="empty"):
        with_teacher_outputs(tf.data.Dataset.from_tensor_slices(np.zeros((0, 2))).batch(4), teacher)
    with pytest.raises(ValueError, match="tuple of 3 items"):
        with_teacher_outputs((np.zeros((4, 2)),) * 3, teacher)


def test_augmented_streams_are_refused(student_factory):
    teacher = student_factory([8], "t")
    x = np.random.default_rng(0).random((64, 28, 28, 1)).astype("float32")
    augmented = keras_anc.data.from_arrays(x, batch_size=16, training=True, augment="aggressive")
    with pytest.raises(ValueError, match="freeze one random view"):
        with_teacher_outputs(augmented, teacher)
    plain = keras_anc.data.from_arrays(x, batch_size=16, training=False)
    assert next(iter(with_teacher_outputs(plain, teacher)))[0].shape[1:] == (28, 28, 1)
