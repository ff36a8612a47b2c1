"""The registry of compression methods (`keras_anc.methods`): one construction path for all."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_anc import methods

LABEL_FREE_METHODS = ("logit_regression", "anc_noreg", "anc", "anc_l2", "anc_noise")


def _student(factory, hidden=(32,), seed=1):
    return factory(list(hidden), "student", seed=seed)


@pytest.fixture
def teacher(student_factory):
    """An untrained teacher, for tests of how methods are built (no data needed)."""
    return student_factory([64, 32], "teacher", seed=0)


def test_available_methods_lists_the_paper_comparison():
    names = methods.available_methods()
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
    assert [n for n in names if not methods.uses_labels(n)] == list(LABEL_FREE_METHODS)


@pytest.mark.parametrize("name", methods.available_methods())
def test_every_method_trains_its_student_on_mnist(name, mnist, mnist_teacher, student_factory):
    x, y, _, _ = mnist
    student = _student(student_factory)
    before = [w.copy() for w in student.get_weights()]
    options = {"seed": 0} if "seed" in methods.method_options(name) else {}
    model = methods.make_method(name, mnist_teacher, student, **options)
    history = model.fit(x[:512], y[:512], batch_size=128, epochs=1, verbose=0)
    assert methods.student_of(model) is student
    assert np.isfinite(history.history["loss"][-1])
    assert "accuracy" in history.history
    after = student.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after))


@pytest.mark.parametrize("name", LABEL_FREE_METHODS)
def test_label_free_methods_train_on_images_alone(name, mnist, mnist_teacher, student_factory):
    x, _, _, _ = mnist
    student = _student(student_factory)
    before = [w.copy() for w in student.get_weights()]
    options = {"seed": 0} if "seed" in methods.method_options(name) else {}
    model = methods.make_method(name, mnist_teacher, student, **options)
    images = tf.data.Dataset.from_tensor_slices(x[:512]).batch(128)
    history = model.fit(images, epochs=1, verbose=0)
    assert "teacher_agreement" in history.history
    assert "accuracy" not in history.history  # no labels, no label metric
    assert any(not np.allclose(a, b) for a, b in zip(before, student.get_weights()))


def test_anc_variants_configure_the_regularizers(teacher, student_factory):
    def build(name, **options):
        return methods.make_method(name, teacher, _student(student_factory), **options)

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


def test_hinton_kd_uses_a_real_tempered_kl(teacher, student_factory):
    model = methods.make_method(
        "hinton_kd", teacher, _student(student_factory), temperature=3.0, alpha=0.2
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


def test_unknown_method_lists_the_valid_ones(teacher, student_factory):
    with pytest.raises(ValueError, match="Unknown method.*labels.*anc_noise.*method='anc_dropout'"):
        methods.make_method("anc_dropout", teacher, _student(student_factory))
    with pytest.raises(ValueError, match="Unknown method"):
        methods.uses_labels("nope")


def test_unknown_option_names_the_methods_options(teacher, student_factory):
    with pytest.raises(ValueError, match=r"does not take option\(s\) \['temperature'\]"):
        methods.make_method("anc", teacher, _student(student_factory), temperature=3)
    assert methods.method_options("hinton_kd") == {"temperature": 4.0, "alpha": 0.1}


def test_every_default_is_described_once_in_options():
    for name in methods.available_methods():
        method = methods.get_method(name)
        assert set(method.defaults) <= set(methods.OPTIONS), name
        assert methods.method_options(name) == method.defaults
    for option in methods.OPTIONS.values():
        assert option.help and option.type in (int, float, str, bool, tuple)
        users = [n for n in methods.available_methods() if option.name in methods.method_options(n)]
        assert users, f"no method takes {option.name}"


def test_none_takes_the_methods_default(teacher, student_factory):
    model = methods.make_method(
        "anc", teacher, _student(student_factory), adversarial_sample_rate=None
    )
    assert float(model.adversarial_sample_rate.numpy()) == pytest.approx(0.1)


def test_discriminator_optimizer_and_learning_rate(teacher, student_factory):
    model = methods.make_method(
        "anc_noreg", teacher, _student(student_factory), discriminator_learning_rate=3e-4
    )
    assert float(model.discriminator_optimizer.learning_rate.numpy()) == pytest.approx(3e-4)
    sgd = keras.optimizers.SGD(0.01)
    model = methods.make_method(
        "anc", teacher, _student(student_factory), discriminator_optimizer=sgd
    )
    assert model.discriminator_optimizer is sgd
    with pytest.raises(ValueError, match="has no discriminator"):
        methods.make_method(
            "hinton_kd", teacher, _student(student_factory), discriminator_optimizer=sgd
        )
