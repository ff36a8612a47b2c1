"""`MimicDistiller`: label-free logit regression (Ba & Caruana)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_anc.distillers import MimicDistiller


def _student(factory, hidden=(32,), seed=1):
    return factory(list(hidden), "student", seed=seed)


def _agreement(teacher, student, x):
    t = np.argmax(teacher.predict(x, verbose=0), -1)
    s = np.argmax(student.predict(x, verbose=0), -1)
    return float(np.mean(t == s))


def test_mimic_distiller_learns_the_teacher_without_labels(mnist, mnist_teacher, student_factory):
    x, _, x_test, _ = mnist
    student = _student(student_factory, (64,))
    initial = _agreement(mnist_teacher, student, x_test)
    mimic = MimicDistiller(mnist_teacher, student)
    mimic.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = mimic.fit(
        tf.data.Dataset.from_tensor_slices(x[:4000]).batch(128), epochs=3, verbose=0
    )
    final = _agreement(mnist_teacher, student, x_test)
    assert sorted(history.history) == ["loss", "teacher_agreement"]
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert initial < 0.5
    assert final > 0.85
    logs = mimic.evaluate(x_test, np.zeros(len(x_test), "int64"), verbose=0, return_dict=True)
    assert logs["teacher_agreement"] == pytest.approx(final, abs=0.01)


def test_mimic_distiller_is_the_ancs_mimic_term(mnist, mnist_teacher, student_factory):
    x, _, _, _ = mnist
    student = _student(student_factory)
    mimic = MimicDistiller(mnist_teacher, student)
    mimic.compile(optimizer="adam")
    logs = mimic.evaluate(x[:256], np.zeros(256, "int64"), verbose=0, return_dict=True)
    t = mnist_teacher.predict(x[:256], verbose=0)
    s = student.predict(x[:256], verbose=0)
    assert logs["loss"] == pytest.approx(float(np.mean((t - s) ** 2)), rel=1e-4)


def test_mimic_distiller_rejects_unknown_loss(student_factory):
    teacher = student_factory([64], "teacher", seed=0)
    with pytest.raises(ValueError, match="mimic_loss.*huber"):
        MimicDistiller(teacher, _student(student_factory), mimic_loss="huber")
