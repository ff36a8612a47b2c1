"""Keras' `DistillationLoss` objects composed into AdversarialDistiller's objective.

Tests `AdversarialDistiller(distillation_losses=..., distillation_loss_weights=...)` and
the helpers of keras_anc/distillers/_distillation_losses.py.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_anc
from keras_anc.distillers._distillation_losses import check_distillation_losses

LogitsDistillation = keras.distillation.LogitsDistillation
FeatureDistillation = keras.distillation.FeatureDistillation


@keras.saving.register_keras_serializable(package="keras_anc_tests")
class MaxLogitGap(keras.distillation.DistillationLoss):
    """A user's own term: mean absolute gap between the largest logits, scaled."""

    def __init__(self, scale=1.0):
        self.scale = scale

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        gap = keras.ops.max(teacher_outputs, axis=-1) - keras.ops.max(student_outputs, axis=-1)
        return self.scale * keras.ops.mean(keras.ops.abs(gap))

    def get_config(self):
        return {"scale": self.scale}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class NoFromConfig(MaxLogitGap.__base__):
    """`get_config` but no `from_config`: a file could be written but never loaded."""

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        return keras.ops.mean(keras.ops.square(teacher_outputs - student_outputs))

    def get_config(self):
        return {}


class NoConfig(keras.distillation.DistillationLoss):
    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        return keras.ops.mean(keras.ops.square(teacher_outputs - student_outputs))


def _kl(temperature=4.0):
    return LogitsDistillation(temperature=temperature, loss=keras.losses.KLDivergence())


def _features():
    return FeatureDistillation(teacher_layer_name="features", student_layer_name="features")


def _distiller(teacher, student, discriminator=None, **kwargs):
    distiller = keras_anc.AdversarialDistiller(
        teacher, student, discriminator=discriminator, seed=3, **kwargs
    )
    distiller.compile(
        student_optimizer=keras.optimizers.Adam(1e-3),
        discriminator_optimizer=keras.optimizers.Adam(1e-4),
    )
    return distiller


# ---------------------------------------------------------------------- the objective


def test_a_logits_term_adds_exactly_weight_times_term(mnist, mnist_teacher, student_factory):
    x = mnist[0][:64]
    student = student_factory([16], "student", seed=1)
    disc = keras_anc.MLPDiscriminator()
    plain = _distiller(mnist_teacher, student, disc)
    composed = _distiller(
        mnist_teacher, student, disc, distillation_losses=[_kl()], distillation_loss_weights=[0.7]
    )
    base = plain.evaluate(x, batch_size=64, verbose=0, return_dict=True)
    logs = composed.evaluate(x, batch_size=64, verbose=0, return_dict=True)

    # Computed by Keras' own object, outside the distiller.
    term = float(_kl().compute_loss(mnist_teacher(x), student(x)))
    assert term > 1e-3
    assert logs["distillation_loss_0"] == pytest.approx(term, rel=1e-5)
    assert logs["loss"] - base["loss"] == pytest.approx(0.7 * term, rel=1e-4)
    for name in ("adversarial_loss", "mimic_loss", "discriminator_loss"):
        assert logs[name] == pytest.approx(base[name], rel=1e-6)


def test_terms_are_summed_with_their_weights(mnist, mnist_teacher, student_factory):
    x = mnist[0][:32]
    student = student_factory([128], "student", seed=2)  # `features` as wide as the teacher's
    disc = keras_anc.MLPDiscriminator()
    plain = _distiller(mnist_teacher, student, disc)
    composed = _distiller(
        mnist_teacher,
        student,
        disc,
        distillation_losses=[_kl(), _features(), MaxLogitGap(2.0)],
        distillation_loss_weights=[0.5, 0.0, 3.0],
    )
    base = plain.evaluate(x, batch_size=32, verbose=0, return_dict=True)
    logs = composed.evaluate(x, batch_size=32, verbose=0, return_dict=True)
    terms = [logs[f"distillation_loss_{i}"] for i in range(3)]
    assert all(t > 1e-4 for t in terms)  # a zero weight still logs its term
    assert logs["loss"] - base["loss"] == pytest.approx(0.5 * terms[0] + 3.0 * terms[2], rel=1e-4)


def test_a_feature_term_trains_the_tapped_layer_only(mnist, mnist_teacher, student_factory):
    x = mnist[0][:32]
    student = student_factory([128], "student", seed=1)
    distiller = keras_anc.AdversarialDistiller(
        mnist_teacher,
        student,
        adversarial_weight=0.0,
        mimic_weight=0.0,
        distillation_losses=[_features()],
    )
    distiller.compile(
        student_optimizer=keras.optimizers.SGD(0.1),
        discriminator_optimizer=keras.optimizers.SGD(0.1),
    )
    features = student.get_layer("features").kernel
    logits = student.get_layer("logits").kernel
    before = [features.numpy().copy(), logits.numpy().copy()]
    distiller.fit(x, batch_size=32, epochs=1, verbose=0)
    # The only non-zero term reads `features`: its layer learns, the layer after it not.
    assert not np.allclose(features.numpy(), before[0])
    np.testing.assert_array_equal(logits.numpy(), before[1])


def test_training_on_mnist_lowers_the_composed_terms(mnist, mnist_teacher, student_factory):
    x_train, _, x_test, _ = mnist
    distiller = _distiller(
        mnist_teacher,
        student_factory([128], "student", seed=4),
        distillation_losses=[_kl(), _features()],
        distillation_loss_weights=[1.0, 0.5],
    )
    before = distiller.evaluate(x_test[:256], verbose=0, return_dict=True)
    history = distiller.fit(x_train[:1024], batch_size=64, epochs=2, verbose=0)
    after = distiller.evaluate(x_test[:256], verbose=0, return_dict=True)

    assert {"distillation_loss_0", "distillation_loss_1"} <= set(history.history)
    for name in ("distillation_loss_0", "distillation_loss_1"):
        assert after[name] < 0.85 * before[name], name
    assert after["loss"] < before["loss"]
    assert after["teacher_agreement"] > before["teacher_agreement"]


def test_validation_logs_the_terms(mnist, mnist_teacher, student_factory):
    x_train, _, x_test, _ = mnist
    distiller = _distiller(
        mnist_teacher, student_factory([8], "s"), distillation_losses=[_kl(), MaxLogitGap()]
    )
    history = distiller.fit(
        x_train[:128], batch_size=64, epochs=1, validation_data=(x_test[:64],), verbose=0
    )
    for name in ("distillation_loss_0", "distillation_loss_1"):
        assert name in history.history and f"val_{name}" in history.history
    # Without distillation losses nothing new is logged.
    plain = _distiller(mnist_teacher, student_factory([8], "s"))
    logs = plain.evaluate(x_test[:64], verbose=0, return_dict=True)
    assert not any(name.startswith("distillation_loss") for name in logs)


def test_one_forward_pass_gives_every_tapped_layer(mnist_teacher, student_factory):
    distiller = keras_anc.AdversarialDistiller(
        mnist_teacher,
        student_factory([128], "s"),
        distillation_losses=[_features(), _features(), _kl()],
    )
    # (features, logits) and the `features` layer once, whatever the number of terms.
    assert len(distiller._teacher_taps.outputs) == 3
    assert len(distiller._student_taps.outputs) == 3


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "losses, weights, match",
    [
        (["kl"], None, r"distillation_losses\[0\]` must be a keras.distillation"),
        ((_kl(), keras.losses.MeanSquaredError()), None, r"distillation_losses\[1\]"),
        (_kl, None, "must be a list of keras.distillation.DistillationLoss"),
        ([_kl()], [1.0, 2.0], "has 2 weights for 1"),
        (None, [1.0], "has 1 weights for 0"),
        ([_kl()], 0.5, "must be a list with one weight per"),
        ([_kl()], [-0.1], r"distillation_loss_weights\[0\]` must be a finite number >= 0"),
        ([_kl()], [float("nan")], "finite number"),
        ([_kl()], [float("inf")], "finite number"),
        ([_kl()], [True], "finite number"),
        ([_kl()], ["1"], "finite number"),
    ],
)
def test_bad_losses_and_weights_are_refused(mnist_teacher, student_factory, losses, weights, match):
    with pytest.raises(ValueError, match=match):
        keras_anc.AdversarialDistiller(
            mnist_teacher,
            student_factory([8], "s"),
            distillation_losses=losses,
            distillation_loss_weights=weights,
        )


def test_weights_are_checked_and_converted(mnist_teacher, student_factory):
    losses, weights = check_distillation_losses(
        _kl(), None, mnist_teacher, student_factory([8], "s")
    )
    assert len(losses) == 1 and weights == [1.0]
    _, weights = check_distillation_losses(
        [_kl(), _kl()], (np.float32(0.5), 2), mnist_teacher, student_factory([8], "s")
    )
    assert weights == [0.5, 2.0] and all(type(w) is float for w in weights)


def test_feature_terms_need_existing_layers_of_the_same_shape(mnist_teacher, student_factory):
    student = student_factory([8], "s")
    missing = FeatureDistillation(teacher_layer_name="features", student_layer_name="nope")
    with pytest.raises(ValueError, match=r"distillation_losses\[0\]` does not fit.*nope"):
        keras_anc.AdversarialDistiller(mnist_teacher, student, distillation_losses=[missing])
    with pytest.raises(ValueError, match=r"shape \(None, 128\).*shape \(None, 8\).*Discrimi"):
        keras_anc.AdversarialDistiller(mnist_teacher, student, distillation_losses=[_features()])


def test_the_string_kl_divergence_warns(mnist_teacher, student_factory):
    with pytest.warns(UserWarning, match="KLDivergence"):
        keras_anc.AdversarialDistiller(
            mnist_teacher, student_factory([8], "s"), distillation_losses=[LogitsDistillation()]
        )


def test_a_non_scalar_term_is_refused(mnist, mnist_teacher, student_factory):
    class PerSample(keras.distillation.DistillationLoss):
        def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
            return keras.ops.mean(keras.ops.abs(teacher_outputs - student_outputs), axis=-1)

    distiller = _distiller(
        mnist_teacher, student_factory([8], "s"), distillation_losses=[PerSample()]
    )
    with pytest.raises(ValueError, match=r"returned a loss of shape .*must return a scalar"):
        distiller.evaluate(mnist[0][:32], verbose=0)


def test_layer_terms_with_cached_teacher_outputs_are_refused(mnist, mnist_teacher, student_factory):
    from keras_anc.teacher_outputs import with_teacher_outputs

    x = mnist[0][:64]
    cached = with_teacher_outputs(x, mnist_teacher, batch_size=32, shuffle=False)
    layered = _distiller(
        mnist_teacher, student_factory([128], "s"), distillation_losses=[_features()]
    )
    with pytest.raises(ValueError, match=r"Cached teacher outputs.*\['features'\]"):
        layered.fit(cached, epochs=1, verbose=0)
    # Terms on the logits read the cache.
    logits_only = _distiller(mnist_teacher, student_factory([8], "s"), distillation_losses=[_kl()])
    history = logits_only.fit(cached, epochs=1, verbose=0)
    assert np.isfinite(history.history["distillation_loss_0"][0])


# ---------------------------------------------------------------------- saving


def test_keras_round_trip_reproduces_the_objective(tmp_path, mnist, mnist_teacher, student_factory):
    x = mnist[0][:128]
    distiller = _distiller(
        mnist_teacher,
        student_factory([128], "student", seed=6),
        distillation_losses=[_kl(3.0), _features(), MaxLogitGap(0.5)],
        distillation_loss_weights=[0.25, 2.0, 1.5],
    )
    distiller.fit(tf.data.Dataset.from_tensor_slices(x).batch(64), epochs=1, verbose=0)
    path = tmp_path / "distiller.keras"
    distiller.save(path)
    restored = keras.saving.load_model(path)

    assert restored.distillation_loss_weights == [0.25, 2.0, 1.5]
    kinds = [type(loss) for loss in restored.distillation_losses]
    assert kinds == [LogitsDistillation, FeatureDistillation, MaxLogitGap]
    assert restored.distillation_losses[0].temperature == 3.0
    assert restored.distillation_losses[2].scale == 0.5
    original = distiller.evaluate(x, batch_size=128, verbose=0, return_dict=True)
    reloaded = restored.evaluate(x, batch_size=128, verbose=0, return_dict=True)
    assert reloaded["distillation_loss_0"] > 0
    for name, value in original.items():
        assert reloaded[name] == pytest.approx(value, rel=1e-6), name


def test_config_round_trip_and_a_plain_config_is_unchanged(mnist_teacher, student_factory):
    plain = keras_anc.AdversarialDistiller(mnist_teacher, student_factory([8], "s"))
    assert not {"distillation_losses", "distillation_loss_weights"} & set(plain.get_config())
    distiller = keras_anc.AdversarialDistiller(
        mnist_teacher,
        student_factory([8], "s"),
        distillation_losses=[_kl(), MaxLogitGap(2.0)],
        distillation_loss_weights=[1.0, 0.5],
    )
    config = distiller.get_config()
    clone = keras_anc.AdversarialDistiller.from_config(config)
    assert clone.get_config() == config


def test_an_unserializable_term_says_what_to_do(tmp_path, mnist_teacher, student_factory):
    for loss in (NoConfig(), NoFromConfig()):
        student = student_factory([8], "s")
        distiller = _distiller(mnist_teacher, student, distillation_losses=[_kl(), loss])
        name = type(loss).__name__
        with pytest.raises(ValueError, match=rf"distillation_losses\[1\]` \({name}\).*from_config"):
            distiller.save(tmp_path / "d.keras")


def test_a_failed_save_leaves_no_file_and_keeps_the_previous_one(
    tmp_path, mnist_teacher, student_factory
):
    path = tmp_path / "d.keras"
    good = _distiller(mnist_teacher, student_factory([8], "s"), distillation_losses=[_kl()])
    good.save(path)
    before = path.read_bytes()
    bad = _distiller(mnist_teacher, student_factory([8], "s"), distillation_losses=[NoConfig()])
    with pytest.raises(ValueError, match="from_config"):
        bad.save(path)
    assert path.read_bytes() == before  # the earlier file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.keras"]  # no temporary left
    with pytest.raises(ValueError, match="from_config"):
        bad.save(tmp_path / "new.keras")
    assert not (tmp_path / "new.keras").exists()
    assert isinstance(keras.saving.load_model(path), keras_anc.AdversarialDistiller)
