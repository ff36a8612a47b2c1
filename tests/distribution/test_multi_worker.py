"""`MultiWorkerMirroredStrategy` with 2 worker processes on 127.0.0.1 ports.

The runs are in `scenarios.py run_multi_worker`: each worker trains the same models on its
share of every global batch (`with_shard_policy(..., "data")`); worker 0 then trains the
one-device twins outside the strategy.
"""

import numpy as np
import pytest

from keras_anc import distribution

pytestmark = pytest.mark.slow


def test_cluster_of_two_replicas_with_one_chief(multi_worker_results):
    worker_0, worker_1 = multi_worker_results
    assert worker_0.facts["replicas"] == worker_1.facts["replicas"] == 2
    assert worker_0.facts["chief"] is True
    assert worker_1.facts["chief"] is False
    assert worker_0.facts["fix_installed"] is distribution.multi_worker_fix_applies()


def test_keras_fit_fails_without_the_fix(multi_worker_results):
    if not distribution.multi_worker_fix_applies():
        pytest.skip("this Keras release is outside MULTI_WORKER_FIX_KERAS_VERSIONS")
    for worker in multi_worker_results:
        worker.check("unpatched")
        outcome = worker.facts["unpatched/outcome"]
        assert "PerReplica" in outcome, outcome


def test_plain_keras_model_matches_one_device(multi_worker_results, assert_same_run):
    worker_0, _ = multi_worker_results
    worker_0.check("labels")
    assert_same_run(worker_0, "labels/one", "labels/multi_worker")


def test_distiller_matches_one_device(multi_worker_results, assert_same_run):
    worker_0, _ = multi_worker_results
    worker_0.check("anc")
    assert_same_run(worker_0, "anc/one", "anc/multi_worker")
    assert "val_mimic_loss" in worker_0.history("anc/multi_worker")


def test_workers_end_with_the_same_model(multi_worker_results, assert_same_run):
    worker_0, worker_1 = multi_worker_results
    worker_1.check("anc")
    assert_same_run(worker_0, "anc/multi_worker", "anc/multi_worker", other=worker_1, atol=0)


def test_workers_draw_different_numbers(multi_worker_results):
    worker_0, worker_1 = multi_worker_results
    for worker in multi_worker_results:
        worker.check("draws")
    (loss_0,), (loss_1,) = worker_0.arrays("draws/loss"), worker_1.arrays("draws/loss")
    assert loss_0 != loss_1
    (noise_0,), (noise_1,) = worker_0.arrays("draws/noise"), worker_1.arrays("draws/noise")
    assert not np.allclose(noise_0, noise_1)
