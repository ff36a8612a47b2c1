"""Training beyond one device: `tf.distribute` strategies and `keras.distribution`.

keras-anc trains with the engines the framework already has; this module holds what is
needed to use them with the distillers and to get the model one device gives:

- `make_strategy(name)` / `strategy_scope(strategy)`: one name per engine
  (`"mirrored"` and `"multi_worker"` on TensorFlow, `"data_parallel"` on JAX), the names
  `keras-anc distill --distribute` takes. Any other `tf.distribute.Strategy` (e.g.
  `TPUStrategy`) or `keras.distribution.Distribution` works with `strategy_scope` too.
- `install_multi_worker_fix()`: a compatibility shim for a Keras defect that breaks
  `fit` under `tf.distribute.MultiWorkerMirroredStrategy` for any model (see its
  docstring for the Keras versions it applies to). `make_strategy("multi_worker")`
  installs it; it changes nothing outside multi-worker runs.
- `with_shard_policy(dataset, policy)`: how a `tf.data` pipeline is split across workers.
- `replicas_in_sync()`, `replica_seed(seed_generator)`: what a training step needs to
  scale its per-replica losses and to draw different random numbers on each replica.

Global batch semantics. Under every engine the batch size of the input pipeline is the
*global* batch: with `MirroredStrategy` on 4 GPUs and `batch_size=512`, each replica
computes 128 examples per step, and the update equals the one-device update on the
512 (the distillers divide their per-replica mean losses by `replicas_in_sync()`
before Keras sums the gradients). Keep the learning rate of the one-device run of the
same global batch; to use more devices at the same per-device load, multiply the batch
(and, as usual, retune the learning rate). Use a global batch divisible by the number
of replicas: a replica's share of an uneven last batch is weighted like the others.

Example:

```python
strategy = keras_anc.distribution.make_strategy("mirrored")
with keras_anc.distribution.strategy_scope(strategy):
    teacher = keras.models.load_model("teacher.keras")
    distiller = keras_anc.AdversarialDistiller(teacher, make_student())
    distiller.compile(student_optimizer="adam", discriminator_optimizer="adam")
    distiller.fit(train_ds, epochs=10)  # train_ds batched with the global batch size
```
"""

import contextlib
import functools
import os

import keras

# The names `make_strategy` accepts, and the backend each needs.
STRATEGIES = {
    "mirrored": "tensorflow",
    "multi_worker": "tensorflow",
    "data_parallel": "jax",
}

SHARD_POLICIES = ("auto", "data", "file", "off")

# Keras releases with the multi-worker defect that `install_multi_worker_fix` works
# around: observed on 3.15.1 (with TensorFlow 2.21), reported upstream since Keras 3.0
# with TensorFlow 2.16 (keras-team/keras#20585, tensorflow/tensorflow#72388). Later
# releases are left alone unless `force=True`.
MULTI_WORKER_FIX_KERAS_VERSIONS = ((3, 0), (3, 15))

_fix_installed = False


# ---------------------------------------------------------------------- strategies


def make_strategy(name, devices=None, cluster_resolver=None):
    """Returns the distribution engine called `name`, ready for `strategy_scope`.

    | name             | engine                                        | backend    |
    |------------------|-----------------------------------------------|------------|
    | `"mirrored"`     | `tf.distribute.MirroredStrategy`: the GPUs    | TensorFlow |
    |                  | (or `devices`) of one machine                 |            |
    | `"multi_worker"` | `tf.distribute.MultiWorkerMirroredStrategy`:  | TensorFlow |
    |                  | several machines, cluster from `TF_CONFIG`    |            |
    | `"data_parallel"`| `keras.distribution.DataParallel`: every      | JAX        |
    |                  | device JAX sees (or `devices`)                |            |

    `None` returns `None` (one device). `"multi_worker"` installs
    `install_multi_worker_fix()` first; create it at the start of the program, before
    other TensorFlow work, as TensorFlow requires.

    Args:
        name: One of `STRATEGIES`, or `None`.
        devices: Optional device names (`"mirrored"`, e.g. `["/gpu:0", "/gpu:1"]`) or
            JAX devices (`"data_parallel"`). Defaults to all local accelerators (or the
            CPU when there are none).
        cluster_resolver: Optional `tf.distribute.cluster_resolver.ClusterResolver`
            for `"multi_worker"`. Defaults to the cluster `TF_CONFIG` describes.

    Returns:
        A `tf.distribute.Strategy`, a `keras.distribution.Distribution`, or `None`.

    Example:

    ```python
    strategy = keras_anc.distribution.make_strategy("mirrored")
    print(keras_anc.distribution.num_replicas(strategy))  # e.g. 4 on a 4-GPU machine
    ```
    """
    if name is None:
        return None
    if name not in STRATEGIES:
        raise ValueError(
            f"Unknown distribution strategy. Valid names: {', '.join(STRATEGIES)} (or None "
            f"for one device). Received: `name={name!r}`."
        )
    needed, backend = STRATEGIES[name], keras.backend.backend()
    if needed != backend:
        others = [n for n, b in STRATEGIES.items() if b == backend]
        raise ValueError(
            f"The {name!r} strategy needs the {needed} backend, but Keras runs on {backend!r}. "
            f"Set KERAS_BACKEND={needed} before importing Keras, or use one of {others} on "
            f"{backend!r}. Received: `name={name!r}`."
        )
    if name == "data_parallel":
        return keras.distribution.DataParallel(devices=devices)
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    install_multi_worker_fix()
    return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=cluster_resolver)


@contextlib.contextmanager
def strategy_scope(strategy):
    """Context in which models are built, compiled and fitted under `strategy`.

    Accepts what `make_strategy` returns: a `tf.distribute.Strategy` (its `scope()`), a
    `keras.distribution.Distribution` (its `scope()`, which also lays out the data
    `fit` reads), or `None` (does nothing). Build the teacher, the student and the
    distiller, `compile` and `fit` inside it.

    Args:
        strategy: A `tf.distribute.Strategy`, a `keras.distribution.Distribution` or
            `None`.

    Example:

    ```python
    with keras_anc.distribution.strategy_scope(make_strategy(args.distribute)):
        model = keras_anc.methods.make_method("anc", teacher_factory(), student_factory())
        model.fit(train_ds, epochs=10)
    ```
    """
    if strategy is None:
        yield None
        return
    scope = getattr(strategy, "scope", None)
    if scope is None:
        raise ValueError(
            "`strategy` must be a tf.distribute.Strategy, a keras.distribution.Distribution "
            "or None (e.g. from keras_anc.distribution.make_strategy). Received: "
            f"`strategy={strategy!r}`."
        )
    with scope():
        yield strategy


def num_replicas(strategy):
    """The number of model replicas `strategy` trains in sync (1 for `None`).

    Args:
        strategy: A `tf.distribute.Strategy`, a `keras.distribution.Distribution` (its
            batch axis is counted) or `None`.

    Example:

    ```python
    global_batch = 64 * keras_anc.distribution.num_replicas(strategy)
    ```
    """
    if strategy is None:
        return 1
    if hasattr(strategy, "num_replicas_in_sync"):
        return int(strategy.num_replicas_in_sync)
    mesh = getattr(strategy, "device_mesh", None)
    batch_axis = getattr(strategy, "batch_dim_name", None)
    if mesh is not None and batch_axis in mesh.axis_names:
        return int(mesh.shape[list(mesh.axis_names).index(batch_axis)])
    return 1


def is_chief():
    """Whether this process writes the run's files (reports, saved models).

    In a multi-worker run (`TF_CONFIG` names a cluster) every worker runs the same
    program; only the chief (the task of type `chief`, or worker 0 when there is none)
    should write shared outputs, the others write nowhere or to private folders. Outside
    a cluster this is always `True`.

    Example:

    ```python
    if keras_anc.distribution.is_chief():
        student.save("student.keras")
    ```
    """
    import json

    config = os.environ.get("TF_CONFIG")
    if not config:
        return True
    config = json.loads(config)
    task = config.get("task") or {}
    kind, index = task.get("type"), int(task.get("index", 0))
    if kind is None:
        return True
    if kind == "chief":
        return True
    return kind == "worker" and index == 0 and "chief" not in config.get("cluster", {})


# ---------------------------------------------------------------------- training steps


def replicas_in_sync():
    """The number of replicas of the current `tf.distribute` strategy, else 1.

    A training step whose loss is the mean over its replica's share of the batch divides
    it by this number before `optimizer.scale_loss`: Keras sums the replicas' gradients,
    so the update then equals the one-device update on the global batch. Under JAX
    `keras.distribution` the step sees the global batch and no scaling is needed (1).

    Example:

    ```python
    loss = per_replica_mean_loss / keras_anc.distribution.replicas_in_sync()
    ```
    """
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return int(tf.distribute.get_strategy().num_replicas_in_sync)


def replica_seed(seed_generator):
    """What to pass as `seed=` to `keras.random` for a different stream per replica.

    A `SeedGenerator` created under a `tf.distribute` strategy is mirrored: every
    replica draws the same numbers. Inside a replica of a strategy with several
    replicas, this returns a view of `seed_generator` whose seeds have the replica id
    folded in (`tf.random.experimental.stateless_fold_in`): each replica draws its own
    numbers, and a run with the same seed and replicas draws them again. Everywhere
    else (one device, JAX, torch) it returns `seed_generator` itself, so the draws are
    exactly those of the code without it. (Under JAX `keras.distribution` the batch is
    one global array, so draws differ per shard already.)

    Args:
        seed_generator: A `keras.random.SeedGenerator`.

    Returns:
        A `keras.random.SeedGenerator` to pass as `seed=`.

    Example:

    ```python
    noise = keras.random.normal(shape, seed=replica_seed(self.seed_generator))
    ```
    """
    if keras.backend.backend() != "tensorflow":
        return seed_generator
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return seed_generator
    return _ReplicaSeedGenerator(seed_generator, context.replica_id_in_sync_group)


class _ReplicaSeedGenerator(keras.random.SeedGenerator):
    """`seed_generator`'s draws with a replica id folded in; owns no state.

    `keras.random` accepts a `SeedGenerator` and calls its `next()`; this one advances
    the wrapped generator (so the shared state moves exactly as without it) and folds
    the replica id into the seed it hands out. It is built inside a traced step and
    never stored, so it creates no variable (hence no `super().__init__`).
    """

    def __init__(self, seed_generator, replica_id):
        self._generator = seed_generator
        self._replica_id = replica_id
        self.name = f"{seed_generator.name}_replica"
        self.backend = seed_generator.backend
        self._initial_seed = None

    @property
    def state(self):
        return self._generator.state

    def next(self, ordered=True):
        import tensorflow as tf

        seed = self._generator.next(ordered=ordered)
        folded = tf.random.experimental.stateless_fold_in(
            tf.cast(seed, "int64"), tf.cast(self._replica_id, "int32")
        )
        return tf.cast(folded, seed.dtype)


# ---------------------------------------------------------------------- input data


def with_shard_policy(dataset, policy="data"):
    """Returns `dataset` with the auto-shard policy multi-worker training applies.

    Under `MultiWorkerMirroredStrategy` Keras' `fit` shards a `tf.data` pipeline across
    workers by its `auto_shard_policy`. Batch the pipeline with the *global* batch size
    in every case; what each worker reads differs:

    - `"data"` (the default here): every worker reads the whole pipeline and keeps its
      share of each global batch. Steps see exactly the batches of a one-device run (the
      runs can match), at the cost of every worker reading all the data.
    - `"file"`: each worker reads its own input files (TFDS shards, TFRecords); no data
      is read twice, but the batches differ from a one-device run. Needs at least as
      many files as workers.
    - `"auto"`: TensorFlow's default: `"file"` when the pipeline reads files, else
      `"data"` (with a warning).
    - `"off"`: no sharding: every worker sees everything (shard by hand, e.g.
      `dataset.shard(num_workers, worker_index)`, before batching).

    `MirroredStrategy` (one machine) ignores the policy: it splits each global batch.

    Args:
        dataset: A batched `tf.data.Dataset`.
        policy: One of `SHARD_POLICIES`.

    Returns:
        The dataset with its `experimental_distribute.auto_shard_policy` option set.

    Example:

    ```python
    train = keras_anc.data.load("cifar10", "train", batch_size=256)  # global batch
    train = keras_anc.distribution.with_shard_policy(train, "data")
    ```
    """
    if policy not in SHARD_POLICIES:
        raise ValueError(
            f"Unknown auto-shard policy. Valid policies: {', '.join(SHARD_POLICIES)}. "
            f"Received: `policy={policy!r}`."
        )
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = getattr(
        tf.data.experimental.AutoShardPolicy, policy.upper()
    )
    return dataset.with_options(options)


# ---------------------------------------------------------------------- Keras shim


def multi_worker_fix_applies(version=None):
    """Whether `install_multi_worker_fix` acts on this Keras (or on `version`).

    Args:
        version: Optional Keras version string, e.g. `"3.15.1"`. Defaults to the
            installed Keras.

    Example:

    ```python
    keras_anc.distribution.multi_worker_fix_applies("3.15.1")  # True
    ```
    """
    version = keras.version() if version is None else version
    release = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    low, high = MULTI_WORKER_FIX_KERAS_VERSIONS
    return low <= release <= high


def install_multi_worker_fix(force=False):
    """Works around the Keras defect that stops `fit` under `MultiWorkerMirroredStrategy`.

    In Keras' TensorFlow trainer (`keras/src/backend/tensorflow/trainer.py`), with a
    multi-worker `MultiWorkerMirroredStrategy`, `fit` fails for any model, twice:

    1. `_maybe_symbolic_build` averages the first batch across replicas with an eager
       `strategy.reduce("MEAN", batch, axis=None)`, which this strategy cannot do on a
       per-replica batch: `ValueError: Attempt to convert a value (PerReplica:{...})
       with an unsupported type`. The fix builds from this worker's first replica's
       batch (only the shapes matter for building).
    2. `reduce_per_replica(..., "mean")` reduces each logged value across workers with
       `strategy.reduce("MEAN", v, axis=0)`, which fails on scalars (every loss and
       metric): `Invalid reduction dimension 0 for input with 0 dimensions`. The fix
       averages across replicas with `axis=None`, as the single-worker branch does.

    Both replacements hand everything except a multi-worker collective strategy to the
    original Keras code, so one-device, `MirroredStrategy` and TPU runs are unchanged.
    The fix is installed only for the Keras releases in
    `MULTI_WORKER_FIX_KERAS_VERSIONS` (3.0 to 3.15; verified on 3.15.1) and only on the
    TensorFlow backend; installing it twice does nothing. `make_strategy("multi_worker")`
    calls it; call it yourself if you create the strategy yourself.

    Args:
        force: Install on a Keras release outside `MULTI_WORKER_FIX_KERAS_VERSIONS`
            too (the functions it replaces must still exist).

    Returns:
        `True` if the fix is in place after the call.

    Example:

    ```python
    keras_anc.distribution.install_multi_worker_fix()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    ```
    """
    global _fix_installed
    if _fix_installed:
        return True
    if keras.backend.backend() != "tensorflow":
        return False
    if not (force or multi_worker_fix_applies()):
        return False
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if not (
        hasattr(tf_trainer, "reduce_per_replica")
        and hasattr(tf_trainer.TensorFlowTrainer, "_maybe_symbolic_build")
    ):
        return False
    tf_trainer.reduce_per_replica = _fixed_reduce_per_replica(tf_trainer.reduce_per_replica)
    trainer_class = tf_trainer.TensorFlowTrainer
    trainer_class._maybe_symbolic_build = _fixed_symbolic_build(trainer_class._maybe_symbolic_build)
    _fix_installed = True
    return True


def _is_multi_worker(strategy):
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    in_multi_worker_mode = getattr(strategy.extended, "_in_multi_worker_mode", None)
    return bool(in_multi_worker_mode and in_multi_worker_mode())


def _fixed_reduce_per_replica(original):
    @functools.wraps(original)
    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not _is_multi_worker(strategy):
            return original(values, strategy, reduction)
        return keras.tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)

    reduce_per_replica.keras_anc_multi_worker_fix = True
    return reduce_per_replica


def _fixed_symbolic_build(original):
    @functools.wraps(original)
    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is None or strategy is None or not _is_multi_worker(strategy):
            return original(self, iterator=iterator, data_batch=data_batch)
        import tensorflow as tf

        def local(value):
            if isinstance(value, tf.distribute.DistributedValues):
                return strategy.experimental_local_results(value)[0]
            return value

        for _, _, batches in iterator:
            data_batch = keras.tree.map_structure(local, next(batches))
            break
        return original(self, iterator=None, data_batch=data_batch)

    _maybe_symbolic_build.keras_anc_multi_worker_fix = True
    return _maybe_symbolic_build
