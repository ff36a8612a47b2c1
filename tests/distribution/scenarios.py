"""Distributed training runs for tests/distribution, each in a fresh process.

Device set-up (logical CPUs, XLA host devices, a multi-worker cluster) must happen before
TensorFlow or JAX starts, so the tests run this script in subprocesses:

    python scenarios.py mirrored OUT            # 2 logical CPUs, MirroredStrategy
    python scenarios.py multi_worker OUT I P,Q  # worker I of a 2-worker cluster on ports P, Q
    python scenarios.py jax OUT                 # KERAS_BACKEND=jax, 2 host devices

Each run writes `OUT/<name>.npz` (weights, draws) and `OUT/<name>.json` (histories, facts,
or the traceback of a part that failed, so the other parts are still reported). Every
distributed run has a one-device twin on the same data, seeds and global batch.
"""

import contextlib
import json
import os
import sys
import tempfile
import time
import traceback

MODE = sys.argv[1]
OUT = sys.argv[2]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_ANC_OFFLINE", "1")
if MODE == "jax":
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    os.environ["JAX_PLATFORMS"] = "cpu"
else:
    os.environ["KERAS_BACKEND"] = "tensorflow"
if MODE == "multi_worker":
    INDEX, PORTS = int(sys.argv[3]), sys.argv[4].split(",")
    os.environ["TF_CONFIG"] = json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{p}" for p in PORTS]},
            "task": {"type": "worker", "index": INDEX},
        }
    )

import numpy as np  # noqa: E402

GLOBAL_BATCH = 64
SHAPE = (4, 4, 1)
NUM_CLASSES = 4
RANDOMNESS_OFF = {"adversarial_sample_rate": 0.0, "input_noise_stddev": 0.0}
RANDOMNESS_OFF_OPTIONS = {**RANDOMNESS_OFF, "input_dropout_rate": 0.0}
RANDOMNESS_ON = {"adversarial_sample_rate": 0.3, "input_noise_stddev": 0.2}


def data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *SHAPE)).astype("float32")
    y = rng.integers(0, NUM_CLASSES, size=(n,)).astype("int32")
    return x, y


def mlp(hidden, name, seed):
    """A functional MLP on `SHAPE` images; its last hidden layer is named `features`."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(SHAPE)
    h = keras.layers.Flatten()(inputs)
    for i, units in enumerate(hidden):
        last = i == len(hidden) - 1
        h = keras.layers.Dense(units, activation="relu", name="features" if last else None)(h)
    return keras.Model(inputs, keras.layers.Dense(NUM_CLASSES, name="logits")(h), name=name)


def pair():
    return mlp([16], "teacher", 0), mlp([8], "student", 1)


def distiller(optimizer="sgd", **options):
    """An `AdversarialDistiller` on a fresh pair, compiled (build it inside the scope)."""
    import keras

    import keras_anc

    teacher, student = pair()
    keras.utils.set_random_seed(2)
    model = keras_anc.AdversarialDistiller(
        teacher,
        student,
        discriminator=keras_anc.MLPDiscriminator(hidden_units=(8,)),
        seed=3,
        **options,
    )
    model.compile(
        student_optimizer=_optimizer(optimizer),
        discriminator_optimizer=_optimizer(optimizer),
        metrics=["accuracy"],
    )
    return model


def _optimizer(kind):
    import keras

    return keras.optimizers.SGD(0.1) if kind == "sgd" else keras.optimizers.Adam(0.01)


def method(name):
    """Model of `keras_anc.methods.make_method(name)` on a fresh pair, randomness off."""
    import keras

    from keras_anc import methods

    teacher, student = pair()
    keras.utils.set_random_seed(2)
    options = {}
    if "discriminator_learning_rate" in methods.method_options(name):
        options = {**RANDOMNESS_OFF_OPTIONS, "seed": 3, "discriminator_units": (8,)}
    kwargs = {"discriminator_optimizer": _optimizer("sgd")} if options else {}
    return methods.make_method(
        name, teacher, student, optimizer=_optimizer("sgd"), **kwargs, **options
    )


def tf_dataset(x, y, shard_policy=None):
    import tensorflow as tf

    from keras_anc import distribution

    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)
    return distribution.with_shard_policy(ds, shard_policy) if shard_policy else ds


def fit(model, train, epochs=1, validation=None, **kwargs):
    history = model.fit(train, epochs=epochs, validation_data=validation, verbose=0, **kwargs)
    return {k: [float(v) for v in values] for k, values in history.history.items()}


def weights(model):
    import keras

    return [keras.ops.convert_to_numpy(w) for w in model.weights]


class Results:
    """Collects arrays and JSON facts per part; a failing part records its traceback."""

    def __init__(self, name):
        self.name, self.arrays, self.facts = name, {}, {}

    @contextlib.contextmanager
    def part(self, key):
        start = time.process_time()
        try:
            yield
        except Exception:
            self.facts[f"{key}/error"] = traceback.format_exc()
            traceback.print_exc()
        self.facts[f"{key}/cpu_seconds"] = round(time.process_time() - start, 1)

    def run(self, key, model_fn, train, epochs=1, validation=None, scope=None):
        """Builds (inside `scope`) and fits one model; stores its student weights and logs."""
        from keras_anc import distribution, methods

        with distribution.strategy_scope(scope):
            model = model_fn()
            self.facts[f"{key}/history"] = fit(model, train, epochs, validation)
        self.put(key, weights(methods.student_of(model)))
        return model

    def put(self, key, arrays):
        for i, array in enumerate(arrays):
            self.arrays[f"{key}/{i}"] = np.asarray(array)

    def write(self):
        os.makedirs(OUT, exist_ok=True)
        np.savez(os.path.join(OUT, f"{self.name}.npz"), **self.arrays)
        with open(os.path.join(OUT, f"{self.name}.json"), "w") as f:
            json.dump(self.facts, f, indent=1)


def per_replica_draws(strategy, make_distiller, make_noise):
    """Per-replica D losses (adversarial flips only) and noise (`FeatureNoise`) in one step."""
    import tensorflow as tf

    with strategy.scope():
        model, noise = make_distiller(), make_noise()

    @tf.function
    def step():
        def replica_fn():
            # The same inputs on every replica; only the draws can differ.
            features = tf.reshape(tf.range(32 * NUM_CLASSES, dtype="float32"), (32, -1))
            teacher_features = tf.sin(features)
            student_features = tf.cos(features)
            loss, _ = model._discriminator_objective(
                teacher_features, student_features, training=True
            )
            return loss, noise(tf.zeros((32, NUM_CLASSES)), training=True)

        return strategy.run(replica_fn)

    loss, drawn = step()
    local = strategy.experimental_local_results
    return [t.numpy() for t in local(loss)], [t.numpy() for t in local(drawn)]


def draw_makers():
    import keras_anc

    return (
        lambda: distiller(adversarial_sample_rate=0.5),
        lambda: keras_anc.layers.FeatureNoise(stddev=1.0, seed=4),
    )


# ---------------------------------------------------------------------- MirroredStrategy


def run_mirrored():
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    from keras_anc import distribution, methods, teacher_outputs

    results = Results("mirrored")
    strategy = distribution.make_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
    results.facts["replicas"] = distribution.num_replicas(strategy)
    x, y = data()
    train, validation = tf_dataset(x, y), tf_dataset(x[:128], y[:128])

    for name in methods.available_methods():
        with results.part(f"method/{name}"):
            # The ANC variant runs with validation too (its own test_step).
            val = validation if name == "anc" else None
            for where, scope in (("one", None), ("mirrored", strategy)):
                results.run(
                    f"method/{name}/{where}", lambda n=name: method(n), train, 1, val, scope
                )

    with results.part("cache"):
        teacher, _ = pair()
        cached = teacher_outputs.with_teacher_outputs(
            (x, y), teacher, batch_size=GLOBAL_BATCH, shuffle=False
        )
        for where, scope in (("one", None), ("mirrored", strategy)):
            results.run(
                f"cache/{where}", lambda: distiller(**RANDOMNESS_OFF), cached, 1, None, scope
            )

    with results.part("draws"):
        for attempt in ("first", "again"):
            losses, drawn = per_replica_draws(strategy, *draw_makers())
            results.put(f"draws/{attempt}/loss", losses)
            results.put(f"draws/{attempt}/noise", drawn)

    with results.part("saving"):
        run_saving(results, strategy, train, x)
    results.write()


def run_saving(results, strategy, train, x):
    """`.keras` round trip, `BackupAndRestore` and student export under the strategy."""
    import keras
    import tensorflow as tf

    from keras_anc import distribution

    def make():
        return distiller(optimizer="adam", **RANDOMNESS_ON)

    def state(model):
        arrays = weights(model.student) + weights(model.discriminator)
        arrays += [v.numpy() for v in model.optimizer.variables]
        return arrays + [v.numpy() for v in model.discriminator_optimizer.variables]

    folder = tempfile.mkdtemp(prefix="keras_anc_saving_")
    with distribution.strategy_scope(strategy):
        uninterrupted = make()
        fit(uninterrupted, train, epochs=2)
        results.put("saving/uninterrupted", state(uninterrupted))

        first = make()
        fit(first, train, epochs=1)
        first.save(os.path.join(folder, "distiller.keras"))
        reloaded = keras.saving.load_model(os.path.join(folder, "distiller.keras"))
        fit(reloaded, train, epochs=1)
        results.put("saving/keras_file", state(reloaded))

        class Crash(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                raise RuntimeError("simulated kill")

        backup = os.path.join(folder, "backup")
        crashed = make()
        try:
            fit(crashed, train, 2, callbacks=[keras.callbacks.BackupAndRestore(backup), Crash()])
        except RuntimeError as e:
            results.facts["saving/crash"] = str(e)
        resumed = make()
        history = resumed.fit(
            train, epochs=2, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(backup)]
        )
        results.facts["saving/resumed_epochs"] = history.epoch
        results.facts["saving/iterations"] = [
            int(resumed.optimizer.iterations.numpy()),
            int(resumed.discriminator_optimizer.iterations.numpy()),
        ]
        results.put("saving/backup", state(resumed))

        exported = uninterrupted.export_student(os.path.join(folder, "export"), warmup=False)
    serve = tf.saved_model.load(str(exported)).signatures["serving_default"]
    results.put("saving/served", [serve(images=tf.constant(x[:16]))["logits"].numpy()])
    results.put("saving/predicted", [uninterrupted.student.predict(x[:16], verbose=0)])


# ---------------------------------------------------------------------- multi-worker


def run_multi_worker():
    import tensorflow as tf

    # TensorFlow wants the strategy first, before other TensorFlow work.
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    from keras_anc import distribution

    results = Results(f"worker{INDEX}")
    results.facts["replicas"] = distribution.num_replicas(strategy)
    results.facts["chief"] = distribution.is_chief()
    x, y = data()
    train = tf_dataset(x, y, shard_policy="data")
    validation = tf_dataset(x[:128], y[:128], shard_policy="data")

    if distribution.multi_worker_fix_applies():
        # Without the shim, Keras' own `fit` fails for a plain model (before any collective
        # op runs, so the cluster stays usable).
        with results.part("unpatched"):
            with strategy.scope():
                plain = method("labels")
            try:
                fit(plain, train)
                results.facts["unpatched/outcome"] = "trained"
            except Exception as e:  # noqa: BLE001 - the outcome is what is recorded
                results.facts["unpatched/outcome"] = f"{type(e).__name__}: {e}"[:2000]
    results.facts["fix_installed"] = distribution.install_multi_worker_fix()

    with results.part("labels"):
        results.run("labels/multi_worker", lambda: method("labels"), train, 1, None, strategy)
    with results.part("anc"):
        results.run(
            "anc/multi_worker", lambda: distiller(**RANDOMNESS_OFF), train, 1, validation, strategy
        )
    with results.part("draws"):
        losses, drawn = per_replica_draws(strategy, *draw_makers())
        results.put("draws/loss", losses)
        results.put("draws/noise", drawn)
    if INDEX == 0:  # the one-device twins, outside the strategy
        plain_train = tf_dataset(x, y)
        with results.part("labels"):
            results.run("labels/one", lambda: method("labels"), plain_train)
        with results.part("anc"):
            results.run(
                "anc/one",
                lambda: distiller(**RANDOMNESS_OFF),
                plain_train,
                1,
                tf_dataset(x[:128], y[:128]),
            )
    results.write()


# ---------------------------------------------------------------------- JAX


def run_jax():
    import jax
    import keras

    from keras_anc import distribution

    results = Results("jax")
    results.facts["devices"] = len(jax.devices())
    data_parallel = distribution.make_strategy("data_parallel")
    results.facts["replicas"] = distribution.num_replicas(data_parallel)
    x, y = data()
    for randomness, options in (("off", RANDOMNESS_OFF), ("on", RANDOMNESS_ON)):
        with results.part(f"anc/{randomness}"):
            for where in ("one", "data_parallel"):
                scope = data_parallel if where == "data_parallel" else None
                with distribution.strategy_scope(scope):
                    model = distiller(**options)
                    history = model.fit(
                        x, y, batch_size=GLOBAL_BATCH, epochs=1, shuffle=False, verbose=0
                    )
                key = f"anc/{randomness}/{where}"
                results.facts[f"{key}/history"] = {
                    k: [float(v) for v in values] for k, values in history.history.items()
                }
                results.facts[f"{key}/devices"] = len(model.student.weights[0].value.devices())
                results.put(key, weights(model.student))
    results.facts["keras"] = keras.version()
    results.write()


if __name__ == "__main__":
    {"mirrored": run_mirrored, "multi_worker": run_multi_worker, "jax": run_jax}[MODE]()
