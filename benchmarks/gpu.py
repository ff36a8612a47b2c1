"""GPU benchmark: every method on CIFAR-10, resnet56 -> resnet20, JAX backend, one GPU.

One resnet56 teacher is trained with labels; then for every seed one resnet20 initialization
is drawn and every arm starts from it, on the same device-made batches (same shuffle and
augmentation per seed), with the same schedule: SGD with Nesterov momentum 0.9, a linear
warm-up over the first epoch then a cosine decay to 0, weight decay 5e-4 (Keras' decoupled
`weight_decay`), gradients clipped to a global norm of 10 for the methods whose loss is a
regression of the teacher's logits (`logit_regression` and the ANC arms). Training steps are
compiled with XLA (`jit_compile=True`); the images live in device memory and are augmented
there (4-pixel zero pad + random crop + horizontal flip) by JAX ops: no TensorFlow is imported.

| arm | method (`keras_anc.methods`) | labels | stream |
|---|---|---|---|
| `labels` | `labels` | yes | crop + flip |
| `hinton_kd` | `hinton_kd` (T=4, alpha=0.1) | yes | crop + flip |
| `fitnets` | `fitnets` (hint on "features" + labels) | yes | crop + flip |
| `logit_regression` | `logit_regression` | no | crop + flip |
| `anc_noreg` | `anc_noreg` | no | crop + flip |
| `anc` | `anc` | no | crop + flip |
| `anc_fm_mixup` | `anc` on function matching's views | no | aggressive + mixup |

Writes `results.json` (after every run, so an interrupted run keeps what it finished),
`results.md`, `accuracy.png` (when matplotlib is there: accuracy per arm and test accuracy per
epoch) and, with `--save-teacher`, `teacher.weights.h5` to `--out`.

Usage:

```
# Where TFDS is (needs TensorFlow): write the compact CIFAR-10 file the GPU machine reads.
TFDS_DATA_DIR=$(realpath ../shared/tfds) python -m benchmarks.gpu --prepare-data
# On the GPU machine (JAX, no TensorFlow):
KERAS_BACKEND=jax python -m benchmarks.gpu --preset gpu --out docs/benchmark_results/gpu
KERAS_BACKEND=jax python -m benchmarks.gpu --preset gpu_full --out /tmp/gpu_full
```
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from benchmarks import _gpu_data as gpu_data  # noqa: E402
from benchmarks._gpu_report import markdown_table, plot, summarize  # noqa: E402
from benchmarks.common import write_text  # noqa: E402

# Arm -> (method, augmentation of its stream, mixing of its stream).
ARMS = {
    "labels": ("labels", "crop_flip", None),
    "hinton_kd": ("hinton_kd", "crop_flip", None),
    "fitnets": ("fitnets", "crop_flip", None),
    "logit_regression": ("logit_regression", "crop_flip", None),
    "anc_noreg": ("anc_noreg", "crop_flip", None),
    "anc": ("anc", "crop_flip", None),
    "anc_fm_mixup": ("anc", "aggressive", "mixup"),
}
# Methods whose student loss regresses the teacher's logits (unbounded): their student
# optimizer clips gradients to `global_clipnorm`.
CLIPPED_METHODS = ("logit_regression", "anc_noreg", "anc")

_RECIPE = {"warmup_epochs": 1.0, "weight_decay": 5e-4, "global_clipnorm": 10.0}
PRESETS = {
    # Full CIFAR-10, a short schedule at batch 512: 235 s on one H200 (docs/benchmarks.md).
    "gpu": {
        "teacher": "resnet56",
        "student": "resnet20",
        "train_take": None,
        "test_take": None,
        "teacher_epochs": 15,
        "epochs": 5,
        "batch_size": 512,
        "learning_rate": 0.2,
        **_RECIPE,
        "seeds": [0, 1, 2],
    },
    # The 30-epoch recipe of the row teacher 90.99 / labels 89.31 / ANC 90.41 (batch 128
    # assumed), every arm, 3 seeds: ~43 min on one H200, projected from a partial run.
    "gpu_full": {
        "teacher": "resnet56",
        "student": "resnet20",
        "train_take": None,
        "test_take": None,
        "teacher_epochs": 30,
        "epochs": 30,
        "batch_size": 128,
        "learning_rate": 0.1,
        **_RECIPE,
        "seeds": [0, 1, 2],
    },
    # Seconds on a CPU, for tests: a slice, small models, one epoch, two seeds.
    "smoke": {
        "teacher": "lenet5",
        "student": "lenet_tiny",
        "train_take": 512,
        "test_take": 256,
        "teacher_epochs": 1,
        "epochs": 1,
        "batch_size": 64,
        "learning_rate": 0.05,
        **_RECIPE,
        "seeds": [0, 1],
    },
}

RESULT_KEYS = ("preset", "environment", "config", "arms", "seeds", "datasets", "phases")
_TEACHER_SEED = 1234
_EVAL_CHUNK = 2000


def environment():
    """Machine, accelerator and library versions, for the results files."""
    import jax
    import keras

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "keras": keras.__version__,
        "jax": jax.__version__,
        "backend": keras.backend.backend(),
        "jax_platform": jax.default_backend(),
        "devices": [d.device_kind for d in jax.devices()],
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "tensorflow_imported": "tensorflow" in sys.modules,
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
    }


def set_seed(seed):
    """`keras.utils.set_random_seed(seed)` without importing TensorFlow.

    Keras 3.15 seeds TensorFlow too whenever it is installed (`tf.random.set_seed`), which
    imports it even under the JAX backend. Here `import tensorflow` is made to fail for the
    duration of the call (a `None` entry in `sys.modules`), so Keras finds it unavailable and
    seeds Python, NumPy and its own global seed generator only.
    """
    import keras

    blocked = "tensorflow" not in sys.modules
    if blocked:
        sys.modules["tensorflow"] = None
    try:
        keras.utils.set_random_seed(seed)
    finally:
        if blocked:
            del sys.modules["tensorflow"]


def student_optimizer(config, steps_per_epoch, epochs, global_clipnorm=None):
    """SGD (Nesterov, momentum 0.9) with 1-epoch linear warm-up then cosine decay to 0."""
    import keras

    total = max(1, steps_per_epoch * epochs)
    warmup = min(total - 1, int(round(steps_per_epoch * config["warmup_epochs"])))
    rate = config["learning_rate"]
    if warmup:
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=total - warmup, warmup_target=rate, warmup_steps=warmup
        )
    else:
        schedule = keras.optimizers.schedules.CosineDecay(rate, decay_steps=total)
    return keras.optimizers.SGD(
        schedule,
        momentum=0.9,
        nesterov=True,
        weight_decay=config["weight_decay"] or None,
        global_clipnorm=global_clipnorm,
    )


class Evaluator:
    """Test accuracy of any model of one architecture, by one jitted inference function.

    Compiled once per architecture (not per model): every trained model's weights are fed
    to the same `stateless_call` of a template model.
    """

    def __init__(self, architecture, data):
        import jax
        import jax.numpy as jnp

        from keras_anc.models import get_model

        self.template = get_model(architecture, input_shape=data.image_shape, num_classes=10)
        weights = self.template.weights
        if len(weights) != len(self.template.variables):
            raise ValueError(f"{architecture} holds non-weight variables; cannot evaluate it.")
        position = {id(v): i for i, v in enumerate(weights)}
        self._trainable = [position[id(v)] for v in self.template.trainable_variables]
        self._fixed = [position[id(v)] for v in self.template.non_trainable_variables]
        template = self.template

        def predict(trainable, fixed, x):
            logits, _ = template.stateless_call(trainable, fixed, x, training=False)
            return jnp.argmax(logits, axis=-1)

        self._predict = jax.jit(predict)
        x, self.labels = data.x_test, data.y_test
        chunk = min(_EVAL_CHUNK, len(self.labels))
        pad = -len(self.labels) % chunk
        x = jnp.concatenate([x, jnp.zeros((pad,) + x.shape[1:], x.dtype)]) if pad else x
        self.chunks = [x[i : i + chunk] for i in range(0, x.shape[0], chunk)]

    def accuracy(self, model):
        import numpy as np

        values = [v.value for v in model.weights]
        if len(values) != len(self.template.weights):
            raise ValueError(f"{model.name} is not a {self.template.name}.")
        trainable = [values[i] for i in self._trainable]
        fixed = [values[i] for i in self._fixed]
        predicted = np.concatenate(
            [np.asarray(self._predict(trainable, fixed, x)) for x in self.chunks]
        )[: len(self.labels)]
        return float(np.mean(predicted == self.labels))


def _epoch_logger(evaluator, model, log_prefix, log):
    import jax
    import keras
    import numpy as np

    class EpochLog(keras.callbacks.Callback):
        """Per epoch: wall seconds (device work finished), test accuracy, finite losses."""

        def __init__(self):
            super().__init__()
            self.seconds, self.accuracy, self.diverged = [], [], False

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            jax.block_until_ready([v.value for v in model.weights])
            self.seconds.append(time.perf_counter() - self.start)
            self.accuracy.append(evaluator.accuracy(model))
            if not all(np.isfinite(float(v)) for v in (logs or {}).values()):
                self.diverged = True
                self.model.stop_training = True
            log(
                f"{log_prefix} epoch {epoch + 1}: test {self.accuracy[-1] * 100:.2f}% "
                f"({self.seconds[-1]:.1f}s)"
            )

    return EpochLog()


def train_arm(arm, config, teacher, init_weights, seed, data, evaluator, log):
    """Trains one student from `init_weights` by `arm`; returns its record for this seed."""

    from keras_anc import methods
    from keras_anc.models import get_model

    method, augmentation, mixing = ARMS[arm]
    student = get_model(
        config["student"], input_shape=data.image_shape, num_classes=10, name="student"
    )
    student.set_weights(init_weights)
    set_seed(seed)
    steps = data.num_train // config["batch_size"]
    clip = config["global_clipnorm"] if method in CLIPPED_METHODS else None
    options = {"seed": seed} if "seed" in methods.method_options(method) else {}
    if "kd_weight" in methods.method_options(method):
        # The paper's objective, adversarial + L2 mimic (the gpu results predate the term).
        options.update(kd_weight=0.0, mimic_weight=1.0)
    model = methods.make_method(
        method,
        teacher,
        student,
        optimizer=student_optimizer(config, steps, config["epochs"], clip),
        metrics=None,
        jit_compile=True,
        **options,
    )
    stream = data.stream(
        seed, config["batch_size"], augmentation, mixing, labels=methods.uses_labels(method)
    )
    epoch_log = _epoch_logger(evaluator, student, f"seed {seed} {arm:16s}", log)
    start = time.perf_counter()
    history = model.fit(
        stream,
        steps_per_epoch=steps,
        epochs=config["epochs"],
        callbacks=[epoch_log],
        shuffle=False,  # the stream is shuffled on the device
        verbose=0,
    )
    seconds = time.perf_counter() - start
    accuracy = evaluator.accuracy(student)
    curves = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    curves["test_accuracy"] = epoch_log.accuracy
    log(f"seed {seed} {arm:16s} acc {accuracy * 100:.2f}% ({seconds:.0f}s)")
    return {
        "accuracy": accuracy,
        "seconds": seconds,
        "epoch_seconds": epoch_log.seconds,
        "curves": curves,
        "diverged": epoch_log.diverged,
    }


def train_teacher(config, data, evaluator, log):
    """Trains the teacher with labels (same recipe, seed 1234); returns it and its record."""

    from keras_anc import methods
    from keras_anc.models import get_model

    set_seed(_TEACHER_SEED)
    teacher = get_model(
        config["teacher"], input_shape=data.image_shape, num_classes=10, name="teacher"
    )
    steps = data.num_train // config["batch_size"]
    epochs = config["teacher_epochs"]
    model = methods.make_method(
        "labels",
        None,
        teacher,
        optimizer=student_optimizer(config, steps, epochs),
        metrics=None,
        jit_compile=True,
    )
    epoch_log = _epoch_logger(evaluator, teacher, f"teacher {config['teacher']}", log)
    start = time.perf_counter()
    model.fit(
        data.stream(_TEACHER_SEED, config["batch_size"]),
        steps_per_epoch=steps,
        epochs=epochs,
        callbacks=[epoch_log],
        shuffle=False,
        verbose=0,
    )
    seconds = time.perf_counter() - start
    accuracy = evaluator.accuracy(teacher)
    log(f"teacher {config['teacher']} test accuracy {accuracy * 100:.2f}% ({seconds:.0f}s)")
    return teacher, {
        "accuracy": accuracy,
        "seconds": seconds,
        "epoch_seconds": epoch_log.seconds,
        "test_accuracy_per_epoch": epoch_log.accuracy,
        "params": int(teacher.count_params()),
    }


def load_teacher(config, data, evaluator, path, log):
    """The teacher from a `--save-teacher` file of an earlier run, and its record."""
    from keras_anc.models import get_model

    teacher = get_model(
        config["teacher"], input_shape=data.image_shape, num_classes=10, name="teacher"
    )
    teacher.load_weights(path)
    accuracy = evaluator.accuracy(teacher)
    log(f"teacher {config['teacher']} from {path}: test accuracy {accuracy * 100:.2f}%")
    return teacher, {
        "accuracy": accuracy,
        "seconds": 0.0,
        "loaded_from": str(path),
        "params": int(teacher.count_params()),
    }


def _save_weights(model, path):
    path = pathlib.Path(path)
    tmp = path.parent / f".{os.getpid()}-{path.name}"
    try:
        model.save_weights(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def run(
    preset,
    out,
    data_path=gpu_data.DEFAULT_FILE,
    arms=None,
    seeds=None,
    cache_dir=None,
    deadline=None,
    teacher_weights=None,
    save_teacher=False,
    log=print,
):
    """Runs the benchmark and writes `results.json` and `results.md` to `out`.

    Args:
        preset: A key of `PRESETS`.
        out: Folder of the result files.
        data_path: The compact CIFAR-10 file (`--prepare-data`).
        arms: Subset of `ARMS` (default: all), in this order.
        seeds: Override of the preset's seeds.
        cache_dir: JAX's persistent compilation cache (default: under the temp folder);
            later seeds reuse the first seed's compiled steps from it.
        deadline: Seconds after the start past which no new seed is started (a seed is
            skipped when the last one would not fit before it).
        teacher_weights: A `teacher.weights.h5` of an earlier run: skip training the teacher.
        save_teacher: Write `teacher.weights.h5` to `out`.
        log: Called with one line per event.

    Returns:
        The results dict (also in `out/results.json`).
    """
    started = time.perf_counter()
    import jax
    import keras

    from keras_anc.models import get_model

    if keras.backend.backend() != "jax":
        raise ValueError(
            "benchmarks.gpu runs on the JAX backend (its batches are JAX arrays made on the "
            f"device). Set KERAS_BACKEND=jax. Received: backend {keras.backend.backend()!r}."
        )
    config = dict(PRESETS[preset])
    config["seeds"] = list(seeds if seeds is not None else config["seeds"])
    arms = list(arms or ARMS)
    cache_dir = cache_dir or os.path.join(tempfile.gettempdir(), "keras_anc_jax_cache")
    jax.config.update("jax_compilation_cache_dir", str(cache_dir))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    phases = {"imports_seconds": time.perf_counter() - started}

    tick = time.perf_counter()
    arrays = gpu_data.load(data_path)
    for split, take in (("train", config["train_take"]), ("test", config["test_take"])):
        if take:
            arrays[f"x_{split}"] = arrays[f"x_{split}"][:take]
            arrays[f"y_{split}"] = arrays[f"y_{split}"][:take]
    phases["data_decode_seconds"] = time.perf_counter() - tick
    tick = time.perf_counter()
    data = gpu_data.DeviceData(arrays)
    jax.block_until_ready(data.x_test)
    phases["data_to_device_seconds"] = time.perf_counter() - tick
    log(
        f"data: {data.num_train} train / {len(data.y_test)} test images on "
        f"{jax.devices()[0].device_kind} ({arrays['file_bytes'] / 1e6:.1f} MB file)"
    )

    tick = time.perf_counter()
    teacher_eval = Evaluator(config["teacher"], data)
    if teacher_weights:
        teacher, teacher_record = load_teacher(config, data, teacher_eval, teacher_weights, log)
    else:
        teacher, teacher_record = train_teacher(config, data, teacher_eval, log)
    if save_teacher:
        _save_weights(teacher, out / "teacher.weights.h5")
    phases["teacher_seconds"] = time.perf_counter() - tick
    student_eval = Evaluator(config["student"], data)
    entry = {
        "teacher": config["teacher"],
        "student": config["student"],
        "train_size": data.num_train,
        "test_size": int(len(data.y_test)),
        "data": {k: arrays[k] for k in ("provenance", "train_mean_abs_error", "file_bytes")},
        "teacher_accuracy": teacher_record["accuracy"],
        "teacher_params": teacher_record["params"],
        "teacher_record": teacher_record,
        "methods": {arm: {"accuracy": [], "seconds": [], "runs": []} for arm in arms},
        # Per seed, the sum of |w| over the student's initial weights: every arm of a seed
        # starts from these weights.
        "student_init_checksums": {},
    }
    results = {
        "preset": preset,
        "environment": environment(),
        "config": config,
        "arms": {
            arm: {
                "method": ARMS[arm][0],
                "augmentation": ARMS[arm][1],
                "mixing": ARMS[arm][2],
                "global_clipnorm": config["global_clipnorm"]
                if ARMS[arm][0] in CLIPPED_METHODS
                else None,
            }
            for arm in arms
        },
        "seeds": [],
        "datasets": {"cifar10": entry},
        "phases": phases,
    }
    tick = time.perf_counter()
    last_seed_seconds = 0.0
    for seed in config["seeds"]:
        elapsed = time.perf_counter() - started
        if deadline and results["seeds"] and elapsed + last_seed_seconds > deadline:
            results["stopped_early"] = (
                f"seed {seed} not started: {elapsed:.0f}s elapsed, the last seed took "
                f"{last_seed_seconds:.0f}s, deadline {deadline:.0f}s"
            )
            log(results["stopped_early"])
            break
        seed_start = time.perf_counter()
        set_seed(seed)
        init = get_model(config["student"], input_shape=data.image_shape, num_classes=10)
        init_weights = init.get_weights()
        entry["student_init_checksums"][str(seed)] = float(
            sum(abs(w.astype("float64")).sum() for w in init_weights)
        )
        entry["student_params"] = int(init.count_params())
        entry["compression_ratio"] = entry["teacher_params"] / entry["student_params"]
        for arm in arms:
            record = train_arm(arm, config, teacher, init_weights, seed, data, student_eval, log)
            target = entry["methods"][arm]
            target["accuracy"].append(record["accuracy"])
            target["seconds"].append(record["seconds"])
            target["runs"].append({"seed": seed, **record})
            if arm == arms[-1]:
                results["seeds"].append(seed)
            phases["students_seconds"] = time.perf_counter() - tick
            _write(results, out, started)
        last_seed_seconds = time.perf_counter() - seed_start
    _write(results, out, started)
    return results


def _write(results, out, started):
    results["wall_seconds"] = time.perf_counter() - started
    results["environment"]["tensorflow_imported"] = "tensorflow" in sys.modules
    summarize(results)
    write_text(out / "results.md", markdown_table(results))
    plot(results, out)
    write_text(out / "results.json", json.dumps(results, indent=1))  # last: the run's marker


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="gpu")
    parser.add_argument("--out", default="docs/benchmark_results/gpu")
    parser.add_argument("--data", default=str(gpu_data.DEFAULT_FILE), help="the compact file")
    parser.add_argument("--arms", nargs="*", choices=sorted(ARMS), help="default: all")
    parser.add_argument("--seeds", nargs="*", type=int, help="override the preset's seeds")
    parser.add_argument("--compile-cache", help="JAX's persistent compilation cache folder")
    parser.add_argument("--deadline", type=float, help="seconds after which no new seed is started")
    parser.add_argument("--teacher-weights", help="a teacher.weights.h5 to use, not train")
    parser.add_argument(
        "--save-teacher", action="store_true", help="write teacher.weights.h5 to --out"
    )
    parser.add_argument(
        "--prepare-data",
        action="store_true",
        help="write --data from tfds.load('cifar10') (needs TensorFlow and TFDS_DATA_DIR)",
    )
    parser.add_argument("--train-split", default="train", help="with --prepare-data")
    parser.add_argument("--test-split", default="test", help="with --prepare-data")
    args = parser.parse_args(argv)

    def log(message):
        print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)

    if args.prepare_data:
        path, size, error = gpu_data.prepare(args.data, args.train_split, args.test_split)
        log(f"wrote {path} ({size / 1e6:.1f} MB; train images' mean abs error {error:.2f}/255)")
        return
    run(
        args.preset,
        args.out,
        args.data,
        arms=args.arms,
        seeds=args.seeds,
        cache_dir=args.compile_cache,
        deadline=args.deadline,
        teacher_weights=args.teacher_weights,
        save_teacher=args.save_teacher,
        log=log,
    )


if __name__ == "__main__":
    main()
