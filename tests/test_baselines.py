"""Tests of `keras_anc.baselines` on real MNIST."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_anc import baselines
from keras_anc.baselines import HintDistiller, MimicDistiller


def _student(factory, hidden=(32,), seed=1):
    return factory(list(hidden), "student", seed=seed)


def _agreement(teacher, student, x):
    t = np.argmax(teacher.predict(x, verbose=0), -1)
    s = np.argmax(student.predict(x, verbose=0), -1)
    return float(np.mean(t == s))


def test_available_methods_lists_the_paper_comparison():
    names = baselines.available_methods()
    assert names == [
        "labels",
        "hinton_kd",
        "fitnets",
        "logit_regression",
        "anc_noreg",
        "anc",
        "anc_l2",
        "anc_noise",
    ]
    assert [n for n in names if not baselines.uses_labels(n)] == list(baselines.LABEL_FREE_METHODS)


@pytest.mark.parametrize("name", baselines.available_methods())
def test_every_method_trains_its_student_on_mnist(name, mnist, mnist_teacher, student_factory):
    x, y, _, _ = mnist
    student = _student(student_factory)
    before = [w.copy() for w in student.get_weights()]
    options = {"seed": 0} if name.startswith("anc") else {}
    model = baselines.make_method(name, mnist_teacher, student, **options)
    history = model.fit(x[:512], y[:512], batch_size=128, epochs=1, verbose=0)
    assert baselines.student_of(model) is student
    assert np.isfinite(history.history["loss"][-1])
    assert "accuracy" in history.history
    after = student.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after))


@pytest.mark.parametrize("name", baselines.LABEL_FREE_METHODS)
def test_label_free_methods_train_on_images_alone(name, mnist, mnist_teacher, student_factory):
    x, _, _, _ = mnist
    student = _student(student_factory)
    before = [w.copy() for w in student.get_weights()]
    options = {"seed": 0} if name.startswith("anc") else {}
    model = baselines.make_method(name, mnist_teacher, student, **options)
    images = tf.data.Dataset.from_tensor_slices(x[:512]).batch(128)
    history = model.fit(images, epochs=1, verbose=0)
    assert "teacher_agreement" in history.history
    assert "accuracy" not in history.history  # no labels, no label metric
    assert any(not np.allclose(a, b) for a, b in zip(before, student.get_weights()))


def test_anc_variants_configure_the_regularizers(mnist_teacher, student_factory):
    def build(name, **options):
        return baselines.make_method(name, mnist_teacher, _student(student_factory), **options)

    noreg = build("anc_noreg")
    assert float(noreg.adversarial_sample_rate.numpy()) == 0.0
    assert float(noreg.feature_noise.stddev.numpy()) == 0.0
    assert noreg.discriminator.kernel_regularizer is None
    assert float(build("anc").adversarial_sample_rate.numpy()) == pytest.approx(0.1)
    l2 = build("anc_l2", weight_decay=1e-3)
    assert isinstance(l2.discriminator.kernel_regularizer, keras.regularizers.L2)
    assert float(l2.adversarial_sample_rate.numpy()) == 0.0
    noise = build("anc_noise", input_noise_stddev=0.2, input_dropout_rate=0.3)
    assert float(noise.feature_noise.stddev.numpy()) == pytest.approx(0.2)
    assert float(noise.feature_noise.dropout_rate.numpy()) == pytest.approx(0.3)


def test_hinton_kd_uses_a_real_tempered_kl(mnist_teacher, student_factory):
    model = baselines.make_method(
        "hinton_kd", mnist_teacher, _student(student_factory), temperature=3.0, alpha=0.2
    )
    assert isinstance(model, keras.distillation.Distiller)
    assert model.student_loss_weight == pytest.approx(0.2)
    rng = np.random.default_rng(0)
    t, s = rng.normal(size=(8, 10)) * 4, rng.normal(size=(8, 10)) * 4

    def softmax(z):
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    p, q = softmax(t / 3.0), softmax(s / 3.0)
    expected = 9.0 * np.mean(np.sum(p * np.log(p / q), axis=-1))
    got = model.distillation_losses[0].compute_loss(
        keras.ops.convert_to_tensor(t, "float32"), keras.ops.convert_to_tensor(s, "float32")
    )
    np.testing.assert_allclose(float(got), expected, rtol=1e-4)


def test_fitnets_bridges_widths_with_a_trained_regressor(mnist, mnist_teacher, student_factory):
    x, y, _, _ = mnist
    narrow = HintDistiller(mnist_teacher, _student(student_factory, (32,)))
    assert narrow.hint_regressor is not None
    assert narrow.hint_regressor.units == 128  # the teacher's "features" width
    narrow.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    kernel = narrow.hint_regressor.kernel.numpy().copy()
    narrow.fit(x[:256], y[:256], batch_size=128, epochs=1, verbose=0)
    assert not np.allclose(kernel, narrow.hint_regressor.kernel.numpy())
    same = HintDistiller(mnist_teacher, _student(student_factory, (128,)))
    assert same.hint_regressor is None


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


def test_unknown_method_lists_the_valid_ones(mnist_teacher, student_factory):
    with pytest.raises(ValueError, match="Unknown method 'anc_dropout'.*labels.*anc_noise"):
        baselines.make_method("anc_dropout", mnist_teacher, _student(student_factory))
    with pytest.raises(ValueError, match="Unknown method"):
        baselines.uses_labels("nope")


def test_unknown_option_names_the_methods_options(mnist_teacher, student_factory):
    with pytest.raises(ValueError, match=r"does not take option\(s\) \['temperature'\]"):
        baselines.make_method("anc", mnist_teacher, _student(student_factory), temperature=3)
    assert baselines.method_options("hinton_kd") == {"temperature": 4.0, "alpha": 0.1}


def test_mimic_distiller_rejects_unknown_loss(mnist_teacher, student_factory):
    with pytest.raises(ValueError, match="mimic_loss"):
        MimicDistiller(mnist_teacher, _student(student_factory), mimic_loss="huber")
