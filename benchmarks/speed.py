"""Speed benchmark: training throughput of the distillation loops, side by side.

Images per second of one training epoch over a fixed subset of real CIFAR-10 images held
in memory, for resnet32 (teacher) -> resnet8 (student), batch 128, measured in ONE process
with the configurations run in alternation, `--repeats` times each (the first, tracing
epoch of every configuration is excluded). Reports the median and the spread, the ratios
ANC / floor and ANC / `keras.distillation.Distiller`, and diagnostic variants that explain
the difference. Peak RSS and mixed precision are measured in separate subprocesses.

Usage:

```
python -m benchmarks.speed --out docs/benchmark_results/speed
python -m benchmarks.speed --smoke --out /tmp/speed_smoke
```
"""

import argparse
import contextlib
import json
import pathlib
import resource
import statistics
import subprocess
import sys
import time

from benchmarks.common import environment, load_arrays, write_text

CORE = ("student_labels", "teacher_inference", "floor", "keras_distiller", "anc")
DIAGNOSTIC = (
    "keras_distiller_mse",  # Keras Distiller, L2 on logits, no label term: the floor's math
    "floor_teacher_in_tape",  # the floor with the teacher inside the tape: logit_regression
    "anc_jit",
    "floor_jit",
    "keras_distiller_jit",
    "anc_steps_per_execution_8",
    "anc_uncached_pipeline",
    "anc_cached_teacher",
    "floor_cached_teacher",
)
GRAPH_CONFIGS = (
    "floor",
    "floor_teacher_in_tape",
    "keras_distiller",
    "keras_distiller_mse",
    "keras_distiller_stop_gradient",
    "anc",
)
RESULT_KEYS = ("environment", "settings", "configs", "ratios", "rss", "mixed_precision")


def _floor_class():
    """`MimicDistiller` with the teacher's forward pass *outside* the student's gradient
    tape, as in `AdversarialDistiller`'s step: the floor of any distillation step (one
    student training step plus one teacher inference). The library's `MimicDistiller`
    (the `logit_regression` method) computes its loss in `compute_loss`, which Keras runs
    under the tape; that is the `floor_teacher_in_tape` diagnostic."""
    import keras
    import tensorflow as tf
    from keras import ops

    from keras_anc import losses
    from keras_anc.distillers import MimicDistiller, taps

    class MimicTeacherOutsideTape(MimicDistiller):
        def train_step(self, data):
            x, _, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            teacher_logits = ops.cast(self.teacher(x, training=False), "float32")
            with tf.GradientTape() as tape:
                student_logits = ops.cast(self.student(x, training=True), "float32")
                error = losses.mimic_error(teacher_logits, student_logits, self.mimic_loss)
                loss = taps.weighted_mean(error, sample_weight)
            variables = self.student.trainable_variables
            self.optimizer.apply(tape.gradient(loss, variables), variables)
            self.agreement_tracker.update_state(taps.agreement(teacher_logits, student_logits))
            return {"loss": loss, "teacher_agreement": self.agreement_tracker.result()}

    return MimicTeacherOutsideTape


def _stop_gradient_distiller_class():
    """Keras' `Distiller` with `stop_gradient` on the teacher's outputs (one-line fix)."""
    import keras

    class StopGradientDistiller(keras.distillation.Distiller):
        def _extract_all_teacher_features(self, x):
            features = super()._extract_all_teacher_features(x)
            return keras.tree.map_structure(keras.ops.stop_gradient, features)

    return StopGradientDistiller


def graph_ops(configs, batch_size):
    """Op counts of each configuration's traced `train_step` graph (tf.function).

    `Conv2DBackprop*` ops beyond the student's show a backward pass through the frozen
    teacher being built (and later pruned) in the training graph.
    """
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.random((batch_size, 32, 32, 3), dtype="float32")
    y = rng.integers(0, 10, batch_size)
    teacher, _ = _models()
    counts = {}
    for config in configs:
        _, student = _models()
        model, ds, _ = _build(config, teacher, student, x, y, batch_size)
        graph = tf.function(model.train_step).get_concrete_function(next(iter(ds))).graph
        types = [op.type for op in graph.get_operations()]
        counts[config] = {
            "ops": len(types),
            "conv2d_forward": types.count("Conv2D"),
            "conv2d_backprop": sum(t.startswith("Conv2DBackprop") for t in types),
        }
    return counts


def with_cached_teacher(teacher, student, images, batch_size=512):
    """Runs the teacher once over `images` and returns `(teacher_stub, student_view, t)`.

    The stub and view take `[images, teacher_logits]`: the stub returns the stored logits
    (no teacher compute), the view runs the student on the images and shares its layers,
    so any distiller trained on them trains `student` in place. Valid only when inputs are
    not augmented (the teacher's output per example is then fixed). `t` is the logits.
    """
    import keras

    logits = teacher.predict(images, batch_size=batch_size, verbose=0).astype("float32")
    x_in = keras.Input(images.shape[1:], name="images")
    t_in = keras.Input(logits.shape[1:], name="teacher_logits")
    stub = keras.Model([x_in, t_in], keras.layers.Identity(name="cached")(t_in), name="stub")
    view = keras.Model([x_in, t_in], student(x_in), name="student_view")
    return stub, view, logits


def _build(config, teacher, student, x, y, batch_size):
    """Returns `(fit_model_or_None, dataset, predict_fn_or_None)` for one configuration."""
    import keras
    import tensorflow as tf

    from keras_anc.distillers import MimicDistiller
    from keras_anc.methods import make_method

    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    jit = config.endswith("_jit")
    spe = 8 if config.endswith("steps_per_execution_8") else 1

    def pipeline(inputs, cached=True):
        ds = tf.data.Dataset.from_tensor_slices(inputs)
        if not cached:
            # Decode-like work every epoch, no cache, no prefetch.
            return ds.map(lambda a, b: (tf.image.convert_image_dtype(a, "float32"), b)).batch(
                batch_size
            )
        return ds.cache().batch(batch_size).prefetch(tf.data.AUTOTUNE)

    if config == "teacher_inference":
        ds = pipeline((x, y))
        return None, ds, lambda: teacher.predict(ds, verbose=0)
    if config == "student_labels":
        model = make_method("labels", teacher, student, keras.optimizers.Adam(1e-3), metrics=None)
        return model, pipeline((x, y)), None
    if config.startswith("keras_distiller"):
        cls = keras.distillation.Distiller
        if config == "keras_distiller_stop_gradient":
            cls = _stop_gradient_distiller_class()
        if config.startswith("keras_distiller_mse"):
            loss, weight = keras.distillation.FeatureDistillation(loss="mse"), 0.0
        else:
            loss = keras.distillation.LogitsDistillation(
                temperature=4.0, loss=keras.losses.KLDivergence()
            )
            weight = 0.5
        model = cls(teacher, student, distillation_losses=loss, student_loss_weight=weight)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=ce, jit_compile=jit)
        return model, pipeline((x, y)), None
    if config == "anc_cached_teacher":
        # The library's lever: teacher outputs computed once and carried by the data.
        from keras_anc.teacher_outputs import with_teacher_outputs

        ds = with_teacher_outputs((x, y), teacher, batch_size=batch_size, shuffle=False)
        model = make_method(
            "anc", teacher, student, keras.optimizers.Adam(1e-3), metrics=None, seed=0
        )
        return model, ds, None
    if config == "floor_cached_teacher":
        stub, view, logits = with_cached_teacher(teacher, student, x)
        model = MimicDistiller(stub, view)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        return model, pipeline(((x, logits), y)), None
    if config == "floor_teacher_in_tape":
        # The library's `logit_regression` method: the floor's math in `compute_loss`.
        model = make_method(
            "logit_regression", teacher, student, keras.optimizers.Adam(1e-3), metrics=None
        )
        return model, pipeline((x, y)), None
    if config.startswith("floor"):
        model = _floor_class()(teacher, student)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit)
        return model, pipeline((x, y)), None
    if config.startswith("anc"):
        model = make_method(
            "anc",
            teacher,
            student,
            keras.optimizers.Adam(1e-3),
            metrics=None,
            jit_compile=jit,
            steps_per_execution=spe,
            seed=0,
        )
        if config == "anc_uncached_pipeline":
            import numpy as np

            raw = (np.clip(x, 0, 1) * 255).astype("uint8")
            return model, pipeline((raw, y), cached=False), None
        return model, pipeline((x, y)), None
    raise ValueError(f"Unknown configuration {config!r}.")


def _epoch_seconds(model, ds, predict):
    import keras

    if predict is not None:
        start = time.perf_counter()
        predict()
        return time.perf_counter() - start

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.start

    clock = Clock()
    model.fit(ds, epochs=1, verbose=0, callbacks=[clock])
    return clock.seconds


def _models(seed=0, input_shape=(32, 32, 3)):
    import keras

    from keras_anc.models import get_model

    keras.utils.set_random_seed(seed)
    teacher = get_model("resnet32", input_shape=input_shape, name="teacher")
    student = get_model("resnet8", input_shape=input_shape, name="student")
    return teacher, student


def measure(configs, size, repeats, batch_size, log=print):
    """Alternating throughput measurement in this process; returns per-config stats."""
    x, y = load_arrays("cifar10", f"train[:{size}]")
    teacher, _ = _models()
    built, warmup = {}, {}
    for config in configs:
        _, student = _models()
        built[config] = _build(config, teacher, student, x, y, batch_size)
        warmup[config] = _epoch_seconds(*built[config])  # tracing epoch, excluded below
        log(f"warm-up {config}: {warmup[config]:.1f}s")
    times = {c: [] for c in configs}
    for r in range(repeats):
        for config in configs:
            times[config].append(_epoch_seconds(*built[config]))
        log(f"repeat {r + 1}/{repeats}: " + ", ".join(f"{c} {times[c][-1]:.2f}s" for c in configs))
    stats = {}
    for config, values in times.items():
        ips = [size / s for s in values]
        stats[config] = {
            "seconds": values,
            "images_per_second_median": statistics.median(ips),
            "images_per_second_min": min(ips),
            "images_per_second_max": max(ips),
            "step_seconds_median": statistics.median(values) / -(-size // batch_size),
            "first_epoch_seconds": warmup[config],
        }
    return stats


def first_epoch(configs, size, repeats, batch_size, log=print):
    """Time-to-first-epoch: a fresh model per try (so `fit` traces again), alternating.

    Returns per config the first (tracing) and second epoch seconds of each try.
    """
    x, y = load_arrays("cifar10", f"train[:{size}]")
    teacher, _ = _models()
    out = {c: {"first_epoch_seconds": [], "second_epoch_seconds": []} for c in configs}
    for r in range(repeats):
        for config in configs:
            _, student = _models()
            built = _build(config, teacher, student, x, y, batch_size)
            out[config]["first_epoch_seconds"].append(_epoch_seconds(*built))
            out[config]["second_epoch_seconds"].append(_epoch_seconds(*built))
        log(
            f"first-epoch try {r + 1}/{repeats}: "
            + ", ".join(f"{c} {out[c]['first_epoch_seconds'][-1]:.1f}s" for c in configs)
        )
    for stats in out.values():
        stats["first_epoch_median"] = statistics.median(stats["first_epoch_seconds"])
        stats["second_epoch_median"] = statistics.median(stats["second_epoch_seconds"])
    return out


def ratios(stats):
    out = {}
    if "anc" in stats and "floor" in stats:
        out["anc_step_time_over_floor"] = (
            stats["anc"]["step_seconds_median"] / stats["floor"]["step_seconds_median"]
        )
    if "anc" in stats and "keras_distiller" in stats:
        out["anc_throughput_over_keras_distiller"] = (
            stats["anc"]["images_per_second_median"]
            / stats["keras_distiller"]["images_per_second_median"]
        )
    if "floor" in stats and "keras_distiller_mse" in stats:
        out["floor_throughput_over_keras_distiller_mse"] = (
            stats["floor"]["images_per_second_median"]
            / stats["keras_distiller_mse"]["images_per_second_median"]
        )
    if "floor" in stats and "floor_teacher_in_tape" in stats:
        out["floor_throughput_over_floor_teacher_in_tape"] = (
            stats["floor"]["images_per_second_median"]
            / stats["floor_teacher_in_tape"]["images_per_second_median"]
        )
    return out


def probe(config, size, epochs, batch_size, policy=None):
    """One configuration alone (run in a subprocess): throughput and peak RSS."""
    import keras

    if policy:
        keras.mixed_precision.set_global_policy(policy)
    x, y = load_arrays("cifar10", f"train[:{size}]")
    teacher, student = _models()
    before = _rss_mib()
    _reset_peak_rss()  # the peak from here on: models, tracing and training only
    model, ds, predict = _build(config, teacher, student, x, y, batch_size)
    _epoch_seconds(model, ds, predict)
    seconds = [_epoch_seconds(model, ds, predict) for _ in range(epochs)]
    return {
        "config": config,
        "policy": policy or "float32",
        "images_per_second_median": size / statistics.median(seconds),
        "rss_before_training_mib": before,
        "peak_rss_training_mib": _proc_status_mib("VmHWM"),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _proc_status_mib(field):
    try:
        for line in pathlib.Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _rss_mib():
    return _proc_status_mib("VmRSS")


def _reset_peak_rss():
    with contextlib.suppress(OSError):
        pathlib.Path("/proc/self/clear_refs").write_text("5")


def _run_probe(config, size, epochs, batch_size, policy=None):
    cmd = [sys.executable, "-m", "benchmarks.speed", "--probe", config, "--size", str(size)]
    cmd += ["--repeats", str(epochs), "--batch-size", str(batch_size)]
    if policy:
        cmd += ["--policy", policy]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"config": config, "error": done.stderr[-2000:]}
    return json.loads(lines[-1])


def markdown(results):
    s = results["settings"]
    lines = [
        f"resnet32 -> resnet8, {s['size']} CIFAR-10 train images in memory, batch "
        f"{s['batch_size']}, {s['repeats']} alternating repeats, median (min-max).",
        "",
        "| configuration | images/s | step ms (median) | first epoch s (with tracing) |",
        "|---|---|---|---|",
    ]
    for config, st in results["configs"].items():
        first = st.get("first_epoch_seconds")
        lines.append(
            f"| {config} | {st['images_per_second_median']:.0f} "
            f"({st['images_per_second_min']:.0f}-{st['images_per_second_max']:.0f}) | "
            f"{st['step_seconds_median'] * 1000:.0f} | {_num(first, 1)} |"
        )
    lines += ["", "| ratio | value |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in results["ratios"].items()]
    if results.get("first_epoch"):
        lines += [
            "",
            "| fresh model, alternating tries | first epoch s (median) | second epoch s (median) |",
            "|---|---|---|",
        ]
        for config, st in results["first_epoch"].items():
            lines.append(
                f"| {config} | {st['first_epoch_median']:.2f} | {st['second_epoch_median']:.2f} |"
            )
    if results.get("graph_ops"):
        lines += [
            "",
            "| traced train_step graph | ops | Conv2D | Conv2DBackprop* |",
            "|---|---|---|---|",
        ]
        for config, st in results["graph_ops"].items():
            lines.append(
                f"| {config} | {st['ops']} | {st['conv2d_forward']} | {st['conv2d_backprop']} |"
            )
    if results.get("rss"):
        lines += [
            "",
            "| subprocess | RSS before training (MiB) | peak RSS in training (MiB) | "
            "peak RSS of the process (MiB) | images/s |",
            "|---|---|---|---|---|",
        ]
        for r in results["rss"]:
            if "error" not in r:
                lines.append(
                    f"| {r['config']} | {_num(r['rss_before_training_mib'])} | "
                    f"{_num(r['peak_rss_training_mib'])} | {r['peak_rss_mib']:.0f} | "
                    f"{r['images_per_second_median']:.0f} |"
                )
    if results.get("mixed_precision"):
        lines += ["", "| ANC, policy (subprocess) | images/s |", "|---|---|"]
        for r in results["mixed_precision"]:
            value = "error" if "error" in r else f"{r['images_per_second_median']:.0f}"
            lines.append(f"| {r.get('policy', '?')} | {value} |")
    return "\n".join(lines) + "\n"


def _num(value, digits=0):
    return "n/a" if value is None else f"{value:.{digits}f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="docs/benchmark_results/speed")
    parser.add_argument("--smoke", action="store_true", help="seconds: tiny subset, core only")
    parser.add_argument("--size", type=int, default=2048, help="CIFAR-10 images per epoch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--configs", nargs="*", help="subset of configurations")
    parser.add_argument("--no-subprocesses", action="store_true", help="skip RSS/precision")
    parser.add_argument("--render", action="store_true", help="only rewrite results.md from --out")
    parser.add_argument(
        "--first-epoch",
        type=int,
        metavar="TRIES",
        help="only measure time to first epoch (tracing) over TRIES fresh builds; adds "
        "'first_epoch' to --out/results.json",
    )
    parser.add_argument(
        "--graph-ops",
        action="store_true",
        help="only count the ops of each traced train_step; adds 'graph_ops' to results.json",
    )
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--policy", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.first_epoch:
        out = pathlib.Path(args.out)
        path = out / "results.json"
        results = json.loads(path.read_text()) if path.exists() else {}
        configs = list(args.configs or ("keras_distiller", "anc", "floor"))
        # Merged by configuration, so that several runs can fill one table.
        results.setdefault("first_epoch", {}).update(
            first_epoch(configs, args.size, args.first_epoch, args.batch_size)
        )
        results.setdefault("first_epoch_runs", []).append(
            {"configs": configs, "size": args.size, "tries": args.first_epoch}
        )
        out.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps(results, indent=1))
        if "configs" in results:
            write_text(out / "results.md", markdown(results))
        return
    if args.graph_ops:
        out = pathlib.Path(args.out)
        path = out / "results.json"
        results = json.loads(path.read_text()) if path.exists() else {}
        results["graph_ops"] = graph_ops(list(args.configs or GRAPH_CONFIGS), args.batch_size)
        out.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps(results, indent=1))
        if "configs" in results:
            write_text(out / "results.md", markdown(results))
        return
    if args.render:
        out = pathlib.Path(args.out)
        results = json.loads((out / "results.json").read_text())
        write_text(out / "results.md", markdown(results))
        return
    if args.probe:
        print(json.dumps(probe(args.probe, args.size, args.repeats, args.batch_size, args.policy)))
        return

    def log(message):
        print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)

    if args.smoke:
        args.size, args.repeats, args.batch_size = 128, 1, 64
        configs = list(args.configs or CORE)
    else:
        configs = list(args.configs or CORE + DIAGNOSTIC)
    started = time.perf_counter()
    stats = measure(configs, args.size, args.repeats, args.batch_size, log)
    results = {
        "environment": environment(),
        "settings": {
            "teacher": "resnet32",
            "student": "resnet8",
            "size": args.size,
            "repeats": args.repeats,
            "batch_size": args.batch_size,
        },
        "configs": stats,
        "ratios": ratios(stats),
        "rss": [],
        "mixed_precision": [],
    }
    if not args.no_subprocesses:
        probe_size, probe_epochs = (128, 1) if args.smoke else (1024, 2)
        rss_configs = ("student_labels", "anc")
        if not args.smoke:
            rss_configs = ("student_labels", "floor", "keras_distiller", "anc")
        for config in rss_configs:
            results["rss"].append(_run_probe(config, probe_size, probe_epochs, args.batch_size))
            log(f"probe {config}: {results['rss'][-1]}")
        if not args.smoke:
            # float32 is the "anc" RSS probe above, same size and epochs.
            results["mixed_precision"] = [r for r in results["rss"] if r["config"] == "anc"]
            results["mixed_precision"].append(
                _run_probe("anc", probe_size, probe_epochs, args.batch_size, "mixed_bfloat16")
            )
            log(f"precision mixed_bfloat16: {results['mixed_precision'][-1]}")
    results["wall_seconds"] = time.perf_counter() - started
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "results.json", json.dumps(results, indent=1))
    write_text(out / "results.md", markdown(results))
    log(f"wrote {out / 'results.json'} and {out / 'results.md'}")


if __name__ == "__main__":
    main()
