"""`MirroredStrategy` on 2 logical CPUs: every method trains as on one device.

The runs are in `scenarios.py run_mirrored` (one subprocess); each distributed run has a
one-device twin on the same data, seeds and global batch (64, so 32 per replica), with
SGD, whose update shows any gradient scaling error in full (Adam mostly hides it).
"""

import numpy as np
import pytest

from keras_anc import methods

pytestmark = pytest.mark.slow

# Keras' own Distiller logs these trackers scaled by 1/replicas (its weights are right).
KERAS_DISTILLER_TRACKERS = ("student_loss", "distillation_loss", "total_loss")


def test_two_replicas(mirrored_results):
    assert mirrored_results.facts["replicas"] == 2


@pytest.mark.parametrize("name", methods.available_methods())
def test_method_matches_one_device(mirrored_results, assert_same_run, name):
    mirrored_results.check(f"method/{name}")
    skip = KERAS_DISTILLER_TRACKERS if name == "hinton_kd" else ()
    assert_same_run(
        mirrored_results, f"method/{name}/one", f"method/{name}/mirrored", skip_logs=skip
    )


def test_adversarial_distiller_validation_logs_match(mirrored_results):
    mirrored_results.check("method/anc")
    logs = mirrored_results.history("method/anc/mirrored")
    assert {"val_loss", "val_mimic_loss", "val_discriminator_accuracy"} <= set(logs)


def test_keras_distiller_logs_its_loss_trackers_scaled(mirrored_results):
    """Documents Keras' behaviour (docs/distributed.md); fails once Keras changes it."""
    mirrored_results.check("method/hinton_kd")
    one = mirrored_results.history("method/hinton_kd/one")
    mirrored = mirrored_results.history("method/hinton_kd/mirrored")
    for name in KERAS_DISTILLER_TRACKERS:
        np.testing.assert_allclose(mirrored[name], np.divide(one[name], 2), rtol=1e-5)
    np.testing.assert_allclose(mirrored["loss"], one["loss"], rtol=1e-5)


def test_hint_distiller_logs_global_batch_trackers(mirrored_results):
    mirrored_results.check("method/fitnets")
    one = mirrored_results.history("method/fitnets/one")
    mirrored = mirrored_results.history("method/fitnets/mirrored")
    for name in KERAS_DISTILLER_TRACKERS:
        np.testing.assert_allclose(mirrored[name], one[name], rtol=1e-5)


def test_teacher_output_cache_matches_one_device(mirrored_results, assert_same_run):
    mirrored_results.check("cache")
    assert_same_run(mirrored_results, "cache/one", "cache/mirrored")


def test_replicas_draw_different_numbers(mirrored_results):
    mirrored_results.check("draws")
    # Adversarial samples: the same inputs on both replicas, different flips.
    loss_0, loss_1 = mirrored_results.arrays("draws/first/loss")
    assert loss_0 != loss_1
    # FeatureNoise: different noise on each replica.
    noise_0, noise_1 = mirrored_results.arrays("draws/first/noise")
    assert noise_0.std() > 0.5 and noise_1.std() > 0.5
    assert not np.allclose(noise_0, noise_1)


def test_replica_draws_are_reproducible(mirrored_results):
    mirrored_results.check("draws")
    for kind in ("loss", "noise"):
        first = mirrored_results.arrays(f"draws/first/{kind}")
        again = mirrored_results.arrays(f"draws/again/{kind}")
        for a, b in zip(first, again, strict=True):
            np.testing.assert_array_equal(a, b)


def test_keras_file_round_trip_resumes_identically(mirrored_results):
    """Randomness on, Adam for both: weights, both optimizers' states and seeds survive."""
    mirrored_results.check("saving")
    expected = mirrored_results.arrays("saving/uninterrupted")
    for a, b in zip(expected, mirrored_results.arrays("saving/keras_file"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_backup_and_restore_resumes_both_optimizers(mirrored_results):
    mirrored_results.check("saving")
    facts = mirrored_results.facts
    assert facts["saving/crash"] == "simulated kill"
    assert facts["saving/resumed_epochs"] == [1]  # epoch 0 came from the backup
    assert facts["saving/iterations"] == [8, 8]  # 2 epochs x 4 steps, student and D
    expected = mirrored_results.arrays("saving/uninterrupted")
    for a, b in zip(expected, mirrored_results.arrays("saving/backup"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_student_exported_from_a_distributed_run_serves(mirrored_results):
    mirrored_results.check("saving")
    (served,) = mirrored_results.arrays("saving/served")
    (predicted,) = mirrored_results.arrays("saving/predicted")
    assert served.shape == (16, 4)
    np.testing.assert_allclose(served, predicted, rtol=1e-5, atol=1e-6)
