"""Unit tests of `keras_anc.distribution` in this process (one device, TensorFlow backend).

The distributed runs themselves are in test_mirrored.py, test_multi_worker.py and
test_jax_data_parallel.py (subprocesses, marked slow).
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.backend.tensorflow import trainer as keras_tf_trainer

from keras_anc import distribution
from keras_anc.layers import FeatureNoise


def test_make_strategy_names():
    assert distribution.make_strategy(None) is None
    strategy = distribution.make_strategy("mirrored", devices=["/cpu:0"])
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert distribution.num_replicas(strategy) == 1
    assert distribution.num_replicas(None) == 1


def test_make_strategy_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"Valid names: mirrored, multi_worker, data_parallel"):
        distribution.make_strategy("horovod")


def test_make_strategy_needs_the_matching_backend():
    with pytest.raises(ValueError, match=r"KERAS_BACKEND=jax.*Received: `name='data_parallel'`"):
        distribution.make_strategy("data_parallel")


def test_strategy_scope():
    with distribution.strategy_scope(None) as scope:
        assert scope is None
        assert not tf.distribute.has_strategy()
    strategy = distribution.make_strategy("mirrored", devices=["/cpu:0"])
    with distribution.strategy_scope(strategy) as scope:
        assert scope is strategy
        assert tf.distribute.get_strategy() is strategy
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert model.distribute_strategy is strategy
    with (
        pytest.raises(ValueError, match="Received: `strategy='mirrored'`"),
        distribution.strategy_scope("mirrored"),
    ):
        pass


WORKERS = {"worker": ["a:1", "b:2"]}
WITH_CHIEF = {"chief": ["c:0"], "worker": ["a:1"]}


@pytest.mark.parametrize(
    "cluster, task, chief",
    [
        (None, None, True),
        (WORKERS, {"type": "worker", "index": 0}, True),
        (WORKERS, {"type": "worker", "index": 1}, False),
        (WITH_CHIEF, {"type": "worker", "index": 0}, False),
        (WITH_CHIEF, {"type": "chief", "index": 0}, True),
    ],
)
def test_is_chief(monkeypatch, cluster, task, chief):
    if cluster is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    assert distribution.is_chief() is chief


def test_replicas_in_sync_is_one_on_one_device():
    assert distribution.replicas_in_sync() == 1
    with distribution.make_strategy("mirrored", devices=["/cpu:0"]).scope():
        assert distribution.replicas_in_sync() == 1


def test_replica_seed_is_the_generator_itself_on_one_device():
    generator = keras.random.SeedGenerator(3)
    assert distribution.replica_seed(generator) is generator
    strategy = distribution.make_strategy("mirrored", devices=["/cpu:0"])
    seen = strategy.run(lambda: tf.constant(distribution.replica_seed(generator) is generator))
    assert bool(seen)


def test_feature_noise_draws_unchanged_on_one_device():
    """Same draws as the two `keras.random` calls it makes on a plain seed generator."""
    noise = FeatureNoise(stddev=0.5, dropout_rate=0.25, seed=11)
    x = np.ones((4, 6), "float32")
    out = keras.ops.convert_to_numpy(noise(x, training=True))
    reference = keras.random.SeedGenerator(11)
    gaussian = keras.random.normal((4, 6), seed=reference)
    keep = keras.random.uniform((4, 6), seed=reference) >= 0.25
    expected = (
        (x + 0.5 * keras.ops.convert_to_numpy(gaussian)) * keras.ops.convert_to_numpy(keep) / 0.75
    )
    np.testing.assert_array_equal(out, expected.astype("float32"))


@pytest.mark.parametrize("policy", distribution.SHARD_POLICIES)
def test_with_shard_policy(policy):
    ds = distribution.with_shard_policy(tf.data.Dataset.range(8).batch(4), policy)
    expected = getattr(tf.data.experimental.AutoShardPolicy, policy.upper())
    assert ds.options().experimental_distribute.auto_shard_policy == expected
    assert [b.tolist() for b in ds.as_numpy_iterator()] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_with_shard_policy_rejects_unknown_policies():
    with pytest.raises(ValueError, match=r"Received: `policy='hint'`"):
        distribution.with_shard_policy(tf.data.Dataset.range(2), "hint")


@pytest.mark.parametrize(
    "version, applies",
    [("3.0.0", True), ("3.12.1", True), ("3.15.1", True), ("3.16.0", False), ("2.15.0", False)],
)
def test_multi_worker_fix_versions(version, applies):
    assert distribution.multi_worker_fix_applies(version) is applies


@pytest.fixture
def restore_keras(monkeypatch):
    """Puts Keras' functions (and the installed flag) back after the test."""
    trainer_class = keras_tf_trainer.TensorFlowTrainer
    monkeypatch.setattr(keras_tf_trainer, "reduce_per_replica", keras_tf_trainer.reduce_per_replica)
    monkeypatch.setattr(trainer_class, "_maybe_symbolic_build", trainer_class._maybe_symbolic_build)
    monkeypatch.setattr(distribution, "_fix_installed", distribution._fix_installed)
    monkeypatch.setattr(distribution, "_fix_installed", False)
    return keras_tf_trainer


def test_multi_worker_fix_installs_once_and_leaves_other_strategies_alone(restore_keras):
    original = restore_keras.reduce_per_replica
    if not distribution.multi_worker_fix_applies():
        pytest.skip("this Keras release is outside MULTI_WORKER_FIX_KERAS_VERSIONS")
    assert distribution.install_multi_worker_fix() is True
    patched = restore_keras.reduce_per_replica
    assert patched is not original and patched.keras_anc_multi_worker_fix
    assert restore_keras.TensorFlowTrainer._maybe_symbolic_build.keras_anc_multi_worker_fix
    assert distribution.install_multi_worker_fix() is True
    assert restore_keras.reduce_per_replica is patched  # not wrapped twice

    # Outside a multi-worker cluster the original Keras code runs.
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    values = strategy.run(lambda: tf.constant([1.0, 3.0]))
    np.testing.assert_array_equal(
        patched(values, strategy, "mean"), original(values, strategy, "mean")
    )
    with strategy.scope():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        model.compile(optimizer="sgd", loss="mse")
    history = model.fit(np.ones((8, 3)), np.zeros((8, 2)), batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_multi_worker_fix_leaves_other_keras_releases_alone(restore_keras, monkeypatch):
    original = restore_keras.reduce_per_replica
    monkeypatch.setattr(keras, "version", lambda: "3.99.0")
    assert distribution.install_multi_worker_fix() is False
    assert restore_keras.reduce_per_replica is original
