"""Behaviour of AdversarialDistiller on real MNIST with a trained teacher."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_anc
from keras_anc.errors import UnsupportedBackendError


def _compile(distiller, **kwargs):
    distiller.compile(
        student_optimizer=keras.optimizers.Adam(1e-3),
        discriminator_optimizer=keras.optimizers.Adam(1e-4),
        metrics=["accuracy"],
        **kwargs,
    )
    return distiller


def _images_only(x, batch_size=128):
    return tf.data.Dataset.from_tensor_slices(x).batch(batch_size)


@pytest.mark.slow
def test_label_free_distillation_learns(mnist, mnist_teacher, student_factory):
    x_train, _, x_test, y_test = mnist
    teacher_acc = mnist_teacher.evaluate(x_test, y_test, verbose=0)[1]
    student = student_factory([16], "student", seed=1)
    distiller = _compile(keras_anc.AdversarialDistiller(mnist_teacher, student, seed=1))
    before = distiller.evaluate(x_test, y_test, verbose=0, return_dict=True)

    history = distiller.fit(
        _images_only(x_train), epochs=6, validation_data=(x_test, y_test), verbose=0
    )
    after = distiller.evaluate(x_test, y_test, verbose=0, return_dict=True)

    # The student never saw a label, yet it learns to classify.
    assert before["accuracy"] < 0.3
    assert after["accuracy"] > 0.8
    assert after["accuracy"] > before["accuracy"] + 0.5
    assert after["accuracy"] <= teacher_acc + 0.05
    assert after["teacher_agreement"] > 0.85
    assert history.history["mimic_loss"][-1] < history.history["mimic_loss"][0]
    # The student is an ordinary model; its own predictions match the distiller's.
    np.testing.assert_allclose(
        distiller.predict(x_test[:32], verbose=0), student.predict(x_test[:32], verbose=0)
    )


def test_logged_metric_names(mnist, mnist_teacher, student_factory):
    x_train, y_train, x_test, y_test = mnist
    distiller = _compile(
        keras_anc.AdversarialDistiller(mnist_teacher, student_factory([8], "s"), seed=0)
    )
    history = distiller.fit(
        x_train[:512],
        y_train[:512],
        batch_size=128,
        epochs=1,
        validation_data=(x_test[:256], y_test[:256]),
        verbose=0,
    )
    names = {
        "loss",
        "adversarial_loss",
        "mimic_loss",
        "discriminator_loss",
        "discriminator_accuracy",
        "teacher_agreement",
        "accuracy",
    }
    assert set(history.history) == names | {f"val_{n}" for n in names}
    for values in history.history.values():
        assert np.all(np.isfinite(values))


def test_label_free_logs_leave_out_label_metrics(mnist, mnist_teacher, student_factory):
    x_train, *_ = mnist
    distiller = _compile(keras_anc.AdversarialDistiller(mnist_teacher, student_factory([8], "s")))
    history = distiller.fit(_images_only(x_train[:256]), epochs=1, verbose=0)
    assert "accuracy" not in history.history
    assert "teacher_agreement" in history.history


@pytest.mark.parametrize(
    "make_element",
    [
        lambda x, y, w: x,
        lambda x, y, w: (x,),
        lambda x, y, w: (x, y),
        lambda x, y, w: (x, y, w),
    ],
    ids=["x", "(x,)", "(x,y)", "(x,y,w)"],
)
def test_accepted_dataset_structures(make_element, mnist, mnist_teacher, student_factory):
    x_train, y_train, *_ = mnist
    x, y = x_train[:256], y_train[:256]
    w = np.ones((256,), "float32")
    ds = tf.data.Dataset.from_tensor_slices(make_element(x, y, w)).batch(64)
    distiller = _compile(keras_anc.AdversarialDistiller(mnist_teacher, student_factory([8], "s")))
    history = distiller.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert int(distiller.optimizer.iterations.numpy()) == 4


def test_sample_weights_scale_the_objective(mnist, mnist_teacher, student_factory):
    x_train, y_train, *_ = mnist
    x, y = x_train[:128], y_train[:128]
    distiller = _compile(keras_anc.AdversarialDistiller(mnist_teacher, student_factory([8], "s")))
    ones = distiller.evaluate(x, y, sample_weight=np.ones(128), verbose=0, return_dict=True)
    halves = distiller.evaluate(x, y, sample_weight=np.full(128, 0.5), verbose=0, return_dict=True)
    assert halves["mimic_loss"] == pytest.approx(ones["mimic_loss"] / 2, rel=1e-4)


def test_bad_dataset_structures_raise(mnist, mnist_teacher, student_factory):
    x_train, y_train, *_ = mnist
    distiller = _compile(keras_anc.AdversarialDistiller(mnist_teacher, student_factory([8], "s")))
    as_dict = tf.data.Dataset.from_tensor_slices(
        {"image": x_train[:64], "label": y_train[:64]}
    ).batch(32)
    with pytest.raises(ValueError, match="dict with keys \\['image', 'label'\\]"):
        distiller.fit(as_dict, epochs=1, verbose=0)
    four = tf.data.Dataset.from_tensor_slices(
        (x_train[:64], y_train[:64], y_train[:64], y_train[:64])
    ).batch(32)
    with pytest.raises(ValueError, match="4 parts"):
        distiller.fit(four, epochs=1, verbose=0)


def test_teacher_is_frozen_and_in_inference_mode(mnist, student_factory):
    x_train, *_ = mnist
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Flatten()(inputs)
    h = keras.layers.Dense(32)(h)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.Dropout(0.5)(h)
    teacher = keras.Model(inputs, keras.layers.Dense(10)(h))
    before = [w.copy() for w in teacher.get_weights()]
    distiller = _compile(keras_anc.AdversarialDistiller(teacher, student_factory([8], "s")))
    distiller.fit(_images_only(x_train[:256]), epochs=1, verbose=0)
    # Weights *and* BatchNorm moving statistics are untouched.
    for a, b in zip(before, teacher.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_discriminator_steps(mnist, mnist_teacher, student_factory):
    x_train, *_ = mnist
    distiller = _compile(
        keras_anc.AdversarialDistiller(
            mnist_teacher, student_factory([8], "s"), discriminator_steps=3
        )
    )
    distiller.fit(_images_only(x_train[:256], 64), epochs=1, verbose=0)
    assert int(distiller.optimizer.iterations.numpy()) == 4
    assert int(distiller.discriminator_optimizer.iterations.numpy()) == 12


@pytest.mark.parametrize(
    "compile_kwargs",
    [{"jit_compile": True}, {"steps_per_execution": 4}, {"run_eagerly": True}],
    ids=["jit", "steps_per_execution", "eager"],
)
def test_execution_modes(compile_kwargs, mnist, mnist_teacher, student_factory):
    x_train, y_train, x_test, y_test = mnist
    distiller = _compile(
        keras_anc.AdversarialDistiller(mnist_teacher, student_factory([16], "s"), seed=3),
        **compile_kwargs,
    )
    if keras.backend.backend() == "torch" and compile_kwargs.get("steps_per_execution", 1) > 1:
        # Keras' torch trainer runs one batch per call and says so (see keras_anc.trainers).
        with pytest.raises(ValueError, match="`steps_per_execution` must be 1 with the PyTorch"):
            distiller.fit(_images_only(x_train[:256]), epochs=1, verbose=0)
        return
    before = distiller.evaluate(x_test[:500], y_test[:500], verbose=0, return_dict=True)
    distiller.fit(_images_only(x_train[:4096]), epochs=2, verbose=0)
    after = distiller.evaluate(x_test[:500], y_test[:500], verbose=0, return_dict=True)
    assert int(distiller.optimizer.iterations.numpy()) == 64
    assert after["teacher_agreement"] > before["teacher_agreement"] + 0.25


def test_feature_layers_with_a_projection(mnist, mnist_teacher, student_factory):
    x_train, _, x_test, y_test = mnist
    student = student_factory([32, 16], "student")
    distiller = _compile(
        keras_anc.AdversarialDistiller(
            mnist_teacher, student, teacher_layer="features", student_layer="features"
        )
    )
    # teacher "features" has 128 units, the student's 16: a projection bridges them.
    assert distiller.student_projection.kernel.shape == (16, 128)
    assert distiller.discriminator.hidden_layers[0].kernel.shape == (128, 128)
    kernel_before = distiller.student_projection.kernel.numpy().copy()
    before = distiller.evaluate(x_test, y_test, verbose=0, return_dict=True)
    distiller.fit(_images_only(x_train[:4096]), epochs=2, verbose=0)
    after = distiller.evaluate(x_test, y_test, verbose=0, return_dict=True)
    assert not np.allclose(kernel_before, distiller.student_projection.kernel.numpy())
    assert after["mimic_loss"] < before["mimic_loss"]
    # The projection belongs to training only: the student keeps its own variables.
    assert len(student.weights) == 6


@pytest.mark.slow
def test_feature_level_distillation_trains_the_classifier(mnist, mnist_teacher, student_factory):
    x_train, _, x_test, y_test = mnist
    student = student_factory([32, 16], "student", seed=2)
    logits_before = student.get_layer("logits").kernel.numpy().copy()
    distiller = _compile(
        keras_anc.AdversarialDistiller(
            mnist_teacher, student, teacher_layer="features", student_layer="features", seed=2
        )
    )
    distiller.fit(_images_only(x_train), epochs=6, verbose=0)
    after = distiller.evaluate(x_test, y_test, verbose=0, return_dict=True)
    # Without labels, the output-level term trains the student's own classifier.
    assert not np.allclose(logits_before, student.get_layer("logits").kernel.numpy())
    assert after["accuracy"] > 0.8
    assert after["teacher_agreement"] > 0.8


def test_conv_feature_maps_are_pooled(mnist):
    x_train, *_ = mnist

    def cnn(filters, name):
        inputs = keras.Input((28, 28, 1))
        h = keras.layers.Conv2D(filters, 3, activation="relu", name="conv")(inputs)
        h = keras.layers.GlobalAveragePooling2D()(h)
        return keras.Model(inputs, keras.layers.Dense(10)(h), name=name)

    distiller = _compile(
        keras_anc.AdversarialDistiller(
            cnn(8, "t"), cnn(4, "s"), teacher_layer="conv", student_layer="conv"
        )
    )
    distiller.fit(_images_only(x_train[:128], 64), epochs=1, verbose=0)
    assert distiller.student_projection.kernel.shape == (4, 8)


def test_hyperparameter_change_reaches_the_compiled_step(mnist, mnist_teacher, student_factory):
    """Zeroing both weights from a callback must stop the student from changing."""
    x_train, *_ = mnist
    student = student_factory([8], "s")
    distiller = keras_anc.AdversarialDistiller(mnist_teacher, student, adversarial_sample_rate=0)
    distiller.compile(
        student_optimizer=keras.optimizers.SGD(0.1),
        discriminator_optimizer=keras.optimizers.SGD(0.1),
        jit_compile=True,
    )
    snapshots = [student.get_weights()]
    zero = keras_anc.callbacks.HyperparameterScheduler(
        "mimic_weight", lambda epoch, value: 1.0 if epoch == 0 else 0.0
    )
    zero_adv = keras_anc.callbacks.HyperparameterScheduler(
        "adversarial_weight", lambda epoch, value: 1.0 if epoch == 0 else 0.0
    )
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: snapshots.append(student.get_weights())
    )
    history = distiller.fit(
        _images_only(x_train[:256], 64),
        epochs=3,
        verbose=0,
        callbacks=[zero, zero_adv, record],
    )
    assert history.history["mimic_weight"] == [1.0, 0.0, 0.0]
    # Epoch 0 trained the student; epochs 1 and 2 ran with both weights at 0.
    assert any(not np.array_equal(a, b) for a, b in zip(snapshots[0], snapshots[1]))
    for later in snapshots[2:]:
        for a, b in zip(snapshots[1], later):
            np.testing.assert_array_equal(a, b)


def test_adversarial_samples_relabel_student_outputs(mnist_teacher, student_factory):
    distiller = keras_anc.AdversarialDistiller(
        mnist_teacher, student_factory([8], "s"), adversarial_sample_rate=1.0
    )
    rng = np.random.default_rng(0)
    t = rng.normal(size=(16, 10)).astype("float32")
    s = rng.normal(size=(16, 10)).astype("float32")
    logits = keras.ops.convert_to_numpy(distiller.discriminator(np.concatenate([t, s])))
    logits = logits.reshape(-1)

    def bce(label, z):
        return np.mean(np.maximum(z, 0) - z * label + np.log1p(np.exp(-np.abs(z))))

    # rate 1: every student sample is labelled "teacher" in training ...
    loss, accuracy = distiller._discriminator_objective(t, s, training=True)
    assert float(loss) == pytest.approx(bce(1.0, logits), rel=1e-5)
    # ... while the accuracy is still measured against the true labels.
    true = np.concatenate([np.ones(16), np.zeros(16)])
    assert float(accuracy) == pytest.approx(np.mean((logits > 0) == true))
    # rate 0: plain GAN labels.
    distiller.adversarial_sample_rate.assign(0.0)
    loss, _ = distiller._discriminator_objective(t, s, training=True)
    expected = (bce(1.0, logits[:16]) * 16 + bce(0.0, logits[16:]) * 16) / 32
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_discriminator_weight_decay_enters_its_loss(mnist_teacher, student_factory):
    disc = keras_anc.MLPDiscriminator(kernel_regularizer=keras.regularizers.L2(1.0))
    distiller = keras_anc.AdversarialDistiller(
        mnist_teacher, student_factory([8], "s"), discriminator=disc, adversarial_sample_rate=0
    )
    t = np.zeros((4, 10), "float32")
    loss, _ = distiller._discriminator_objective(t, t, training=True)
    decay = sum(float(np.sum(np.square(w))) for w in disc.get_weights()[::2])
    assert float(loss) == pytest.approx(np.log(2) + decay, rel=1e-4)


def test_l1_mimic_loss(mnist_teacher, student_factory, mnist):
    _, _, x_test, _ = mnist
    student = student_factory([8], "s")
    distiller = _compile(keras_anc.AdversarialDistiller(mnist_teacher, student, mimic_loss="l1"))
    result = distiller.evaluate(x_test[:64], verbose=0, return_dict=True)
    expected = np.mean(
        np.abs(
            mnist_teacher.predict(x_test[:64], verbose=0) - student.predict(x_test[:64], verbose=0)
        )
    )
    assert result["mimic_loss"] == pytest.approx(expected, rel=1e-4)


# ---------------------------------------------------------------- bad input


def test_rejects_non_models(mnist_teacher):
    with pytest.raises(ValueError, match="`student` must be a keras.Model"):
        keras_anc.AdversarialDistiller(mnist_teacher, lambda x: x)
    with pytest.raises(ValueError, match="`teacher` must be a keras.Model"):
        keras_anc.AdversarialDistiller("teacher.keras", mnist_teacher)


def test_output_shape_mismatch_names_both_shapes(mnist_teacher, student_factory):
    student = student_factory([8], "s", num_classes=5)
    with pytest.raises(ValueError, match=r"teacher output shape \(None, 10\).*\(None, 5\)"):
        keras_anc.AdversarialDistiller(mnist_teacher, student)


def test_input_shape_mismatch(mnist_teacher, student_factory):
    student = student_factory([8], "s", input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="same inputs"):
        keras_anc.AdversarialDistiller(mnist_teacher, student)


def test_unknown_layer_lists_available(mnist_teacher, student_factory):
    with pytest.raises(ValueError, match="no layer named 'nope'.*'features'"):
        keras_anc.AdversarialDistiller(
            mnist_teacher,
            student_factory([8], "s"),
            teacher_layer="nope",
            student_layer="features",
        )
    with pytest.raises(ValueError, match="both `teacher_layer` and `student_layer`"):
        keras_anc.AdversarialDistiller(
            mnist_teacher, student_factory([8], "s"), teacher_layer="features"
        )


def test_softmax_output_warns(mnist_teacher):
    inputs = keras.Input((28, 28, 1))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs))
    with pytest.warns(UserWarning, match="ends in a softmax"):
        keras_anc.AdversarialDistiller(mnist_teacher, keras.Model(inputs, outputs))


def test_compile_and_fit_errors(mnist, mnist_teacher, student_factory):
    x_train, *_ = mnist
    distiller = keras_anc.AdversarialDistiller(mnist_teacher, student_factory([8], "s"))
    with pytest.raises(ValueError, match="before compile"):
        distiller.fit(x_train[:64], epochs=1, verbose=0)
    with pytest.raises(ValueError, match="needs discriminator_optimizer"):
        distiller.compile(student_optimizer="adam")
    with pytest.raises(ValueError, match="needs student_optimizer and discriminator_optimizer"):
        distiller.compile()
    with pytest.raises(ValueError, match="takes no `loss`"):
        distiller.compile(student_optimizer="adam", discriminator_optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="mimic_loss"):
        keras_anc.AdversarialDistiller(mnist_teacher, student_factory([8], "s"), mimic_loss="kl")


def test_optimizers_are_built_on_their_own_variables(mnist_teacher, student_factory):
    distiller = _compile(keras_anc.AdversarialDistiller(mnist_teacher, student_factory([8], "s")))
    student_vars = len(distiller.student.trainable_variables)
    d_vars = len(distiller.discriminator.trainable_variables)
    # Adam keeps two slots per variable.
    assert len(distiller.optimizer._trainable_variables) == student_vars
    assert len(distiller.discriminator_optimizer._trainable_variables) == d_vars


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="keras_anc.export needs the TensorFlow backend (SavedModel is a TensorFlow format)",
)
def test_export_student_writes_only_the_student(tmp_path, mnist, mnist_teacher, student_factory):
    _, _, x_test, _ = mnist
    student = student_factory([8], "s")
    distiller = _compile(keras_anc.AdversarialDistiller(mnist_teacher, student))
    version_dir = distiller.export_student(tmp_path / "student", warmup=False)
    assert version_dir == tmp_path / "student" / "1"
    served = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    logits = served(images=tf.constant(x_test[:16]))["logits"].numpy()
    np.testing.assert_allclose(logits, student.predict(x_test[:16], verbose=0), atol=1e-5)
    # Only the student's variables travel: no teacher, discriminator or projection.
    reader = tf.train.load_checkpoint(str(version_dir / "variables" / "variables"))
    saved = [k for k in reader.get_variable_to_shape_map() if "VARIABLE_VALUE" in k]
    assert len(saved) == len(student.variables)


@pytest.mark.skipif(
    keras.backend.backend() == "tensorflow", reason="checks the error under JAX and torch"
)
def test_export_student_needs_the_tensorflow_backend(tmp_path, mnist_teacher, student_factory):
    distiller = _compile(keras_anc.AdversarialDistiller(mnist_teacher, student_factory([8], "s")))
    backend = keras.backend.backend()
    with pytest.raises(UnsupportedBackendError, match=f"active Keras backend is '{backend}'"):
        distiller.export_student(tmp_path / "student", warmup=False)
    assert not (tmp_path / "student").exists()


def test_optional_label_term_enters_the_loss(mnist, mnist_teacher, student_factory):
    _, _, x_test, y_test = mnist
    student = student_factory([8], "s")
    distiller = _compile(
        keras_anc.AdversarialDistiller(mnist_teacher, student, label_loss_weight=0.5)
    )
    result = distiller.evaluate(x_test[:128], y_test[:128], verbose=0, return_dict=True)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        y_test[:128], student.predict(x_test[:128], verbose=0)
    )
    expected = result["adversarial_loss"] + result["mimic_loss"] + 0.5 * float(ce)
    assert result["loss"] == pytest.approx(expected, rel=1e-4)
    # Without labels the term is simply absent.
    label_free = distiller.evaluate(x_test[:128], verbose=0, return_dict=True)
    assert label_free["loss"] == pytest.approx(
        label_free["adversarial_loss"] + label_free["mimic_loss"], rel=1e-4
    )
