"""AdversarialDistiller with several discriminators (`discriminator_taps=[...]`)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_anc


def _models(student_factory):
    # teacher: flatten -> dense(32) -> features(16) -> logits; student: 8 -> 16 wide.
    teacher = student_factory([32, 16], "teacher", seed=0)
    student = student_factory([8, 16], "student", seed=1)
    return teacher, student


def _block_tap(teacher, student, **kwargs):
    # The first hidden layers: 32 wide in the teacher, 8 in the student.
    return keras_anc.DiscriminatorTap(
        teacher.layers[2].name, student.layers[2].name, name="block", **kwargs
    )


def _distiller(teacher, student, taps=None, discriminator=None, **kwargs):
    distiller = keras_anc.AdversarialDistiller(
        teacher, student, discriminator=discriminator, discriminator_taps=taps, seed=2, **kwargs
    )
    distiller.compile(
        student_optimizer=keras.optimizers.Adam(1e-3),
        discriminator_optimizer=keras.optimizers.Adam(1e-3),
    )
    return distiller


def _values(variables):
    return [keras.ops.convert_to_numpy(v).copy() for v in variables]


def test_one_step_updates_every_discriminator_and_not_the_teacher(mnist, student_factory):
    teacher, student = _models(student_factory)
    taps = [_block_tap(teacher, student), keras_anc.DiscriminatorTap("features", "features")]
    distiller = _distiller(teacher, student, taps)
    watched = {
        "main": distiller.discriminator.trainable_variables,
        "block": taps[0].discriminator.trainable_variables,
        "features": taps[1].discriminator.trainable_variables,
        "projection": taps[0].projection.trainable_variables,
        "student": student.trainable_variables,
    }
    before = {name: _values(v) for name, v in watched.items()}
    teacher_before = _values(teacher.weights)
    distiller.fit(mnist[0][:32], batch_size=32, epochs=1, verbose=0)
    for name, variables in watched.items():
        for old, new in zip(before[name], _values(variables)):
            assert not np.allclose(old, new), name
    for old, new in zip(teacher_before, _values(teacher.weights)):
        np.testing.assert_array_equal(old, new)
    # One optimizer over the union of the discriminators' variables; the projection is
    # the student's.
    assert int(distiller.discriminator_optimizer.iterations.numpy()) == 1
    d_ids = {id(v) for v in distiller.discriminator_trainable_variables}
    s_ids = {id(v) for v in distiller.student_trainable_variables}
    assert {id(v) for v in watched["block"] + watched["features"]} <= d_ids
    assert {id(v) for v in watched["projection"]} <= s_ids
    assert not d_ids & s_ids


def test_logged_names(mnist, student_factory):
    teacher, student = _models(student_factory)
    taps = [_block_tap(teacher, student), keras_anc.DiscriminatorTap("features", "features")]
    distiller = _distiller(teacher, student, taps)
    x_train, _, x_test, _ = mnist
    history = distiller.fit(
        x_train[:64], batch_size=32, epochs=1, validation_data=(x_test[:32],), verbose=0
    )
    names = {
        "loss",
        "adversarial_loss",
        "mimic_loss",
        "discriminator_loss",
        "discriminator_accuracy",
        "teacher_agreement",
    }
    for tap in ("block", "features"):
        names |= {
            f"adversarial_loss_{tap}",
            f"discriminator_loss_{tap}",
            f"discriminator_accuracy_{tap}",
        }
    assert set(history.history) == names | {f"val_{n}" for n in names}
    for values in history.history.values():
        assert np.all(np.isfinite(values))


def test_a_tap_adds_its_weighted_term_and_leaves_the_main_game(mnist, student_factory):
    x = mnist[0][:64]
    teacher, student = _models(student_factory)
    disc = keras_anc.MLPDiscriminator()
    plain = _distiller(teacher, student, discriminator=disc, adversarial_weight=0.5)
    tap = _block_tap(teacher, student, weight=0.3)
    tapped = _distiller(teacher, student, [tap], discriminator=disc, adversarial_weight=0.5)
    base = plain.evaluate(x, batch_size=64, verbose=0, return_dict=True)
    logs = tapped.evaluate(x, batch_size=64, verbose=0, return_dict=True)

    # The tap's terms, computed by hand from its layers.
    def layer(model, name):
        return keras.Model(model.inputs[0], model.get_layer(name).output)(x)

    t_features = layer(teacher, tap.teacher_layer)
    s_features = tap.projection(layer(student, tap.student_layer))
    t_logits = keras.ops.convert_to_numpy(tap.discriminator(t_features)).reshape(-1)
    s_logits = keras.ops.convert_to_numpy(tap.discriminator(s_features)).reshape(-1)
    softplus = lambda z: np.logaddexp(0.0, z)  # noqa: E731
    fooling = np.mean(softplus(-s_logits))  # BCE against "teacher"
    d_loss = (np.mean(softplus(-t_logits)) + np.mean(softplus(s_logits))) / 2
    accuracy = (np.sum(t_logits > 0) + np.sum(s_logits <= 0)) / (2 * len(x))

    assert logs["adversarial_loss_block"] == pytest.approx(fooling, rel=1e-4)
    assert logs["discriminator_loss_block"] == pytest.approx(d_loss, rel=1e-4)
    assert logs["discriminator_accuracy_block"] == pytest.approx(accuracy)
    assert logs["loss"] - base["loss"] == pytest.approx(0.5 * 0.3 * fooling, rel=1e-4)
    for name in ("adversarial_loss", "mimic_loss", "discriminator_loss"):
        assert logs[name] == pytest.approx(base[name], rel=1e-6)


def test_a_tap_discriminator_weight_decay_enters_its_loss_only(mnist, student_factory):
    teacher, student = _models(student_factory)
    tap = keras_anc.DiscriminatorTap(
        "features", "features", kernel_regularizer=keras.regularizers.L2(1.0)
    )
    distiller = _distiller(teacher, student, [tap], adversarial_sample_rate=0.0)
    t = np.zeros((4, 10), "float32")
    bundle = {"main": t, "layers": {}, "taps": [np.zeros((4, 16), "float32")]}
    total, main_loss, _, tap_loss, _ = distiller._discriminator_objective(
        bundle, bundle, training=True
    )
    decay = sum(float(np.sum(np.square(w))) for w in tap.discriminator.get_weights()[::2])
    assert float(main_loss) == pytest.approx(np.log(2), rel=1e-4)
    assert float(tap_loss) == pytest.approx(np.log(2) + decay, rel=1e-4)
    assert float(total) == pytest.approx(float(main_loss) + float(tap_loss), rel=1e-6)


def test_taps_compose_with_feature_taps_and_distillation_losses(mnist, student_factory):
    teacher, student = _models(student_factory)
    distiller = _distiller(
        teacher,
        student,
        [_block_tap(teacher, student)],
        teacher_layer="features",
        student_layer="features",
        distillation_losses=[
            keras.distillation.LogitsDistillation(loss=keras.losses.KLDivergence())
        ],
    )
    history = distiller.fit(mnist[0][:64], batch_size=32, epochs=1, verbose=0)
    for name in ("output_mimic_loss", "distillation_loss_0", "adversarial_loss_block"):
        assert np.isfinite(history.history[name][0]), name


def test_errors(mnist, student_factory):
    teacher, student = _models(student_factory)
    with pytest.raises(ValueError, match="The teacher has no layer named 'nope'"):
        keras_anc.AdversarialDistiller(
            teacher, student, discriminator_taps=[keras_anc.DiscriminatorTap("nope", "features")]
        )
    with pytest.raises(ValueError, match=r"`discriminator_taps\[0\]` must be"):
        keras_anc.AdversarialDistiller(
            teacher, student, discriminator_taps=[keras_anc.MLPDiscriminator()]
        )

    from keras_anc.teacher_outputs import with_teacher_outputs

    tapped = _distiller(teacher, student, [keras_anc.DiscriminatorTap("features", "features")])
    cached = with_teacher_outputs(mnist[0][:64], teacher, batch_size=32, shuffle=False)
    with pytest.raises(ValueError, match=r"Cached teacher outputs.*discriminator_taps"):
        tapped.fit(cached, epochs=1, verbose=0)


def test_keras_round_trip(tmp_path, mnist, student_factory):
    x = mnist[0][:128]
    teacher, student = _models(student_factory)
    taps = [
        _block_tap(teacher, student, weight=0.5),
        keras_anc.DiscriminatorTap(
            "features", "features", kernel_regularizer=keras.regularizers.L2(1e-3)
        ),
    ]
    distiller = _distiller(teacher, student, taps)
    distiller.fit(tf.data.Dataset.from_tensor_slices(x).batch(64), epochs=1, verbose=0)
    path = tmp_path / "distiller.keras"
    distiller.save(path)
    restored = keras.saving.load_model(path)

    assert [tap.name for tap in restored.discriminator_taps] == ["block", "features"]
    assert restored.discriminator_taps[0].weight == 0.5
    assert restored.discriminator_taps[0].projection.kernel.shape == (8, 32)
    regularizer = restored.discriminator_taps[1].discriminator.kernel_regularizer
    assert isinstance(regularizer, keras.regularizers.L2)
    for original, loaded in zip(distiller.discriminator_taps, restored.discriminator_taps):
        for a, b in zip(original.get_weights(), loaded.get_weights()):
            np.testing.assert_array_equal(a, b)
    # The discriminator optimizer's state covers every discriminator and comes back.
    d_opt, loaded_opt = distiller.discriminator_optimizer, restored.discriminator_optimizer
    assert len(loaded_opt.variables) == len(d_opt.variables)
    assert len(d_opt.variables) == 2 + 2 * len(distiller.discriminator_trainable_variables)
    for a, b in zip(d_opt.variables, loaded_opt.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    original = distiller.evaluate(x, batch_size=128, verbose=0, return_dict=True)
    reloaded = restored.evaluate(x, batch_size=128, verbose=0, return_dict=True)
    for name, value in original.items():
        assert reloaded[name] == pytest.approx(value, rel=1e-6), name


def test_a_plain_config_has_no_taps(student_factory):
    teacher, student = _models(student_factory)
    plain = keras_anc.AdversarialDistiller(teacher, student)
    assert "discriminator_taps" not in plain.get_config()
    tapped = keras_anc.AdversarialDistiller(
        teacher, student, discriminator_taps=[_block_tap(teacher, student)]
    )
    config = tapped.get_config()
    assert keras_anc.AdversarialDistiller.from_config(config).get_config() == config
