"""Scaling benchmark: one device against N devices with `MirroredStrategy`, side by side.

In ONE process, for each workload, an `AdversarialDistiller` (randomness off, so that the
runs can be compared) is built twice from the same seeds: once on one device, once under
`keras_anc.distribution.make_strategy("mirrored")` on N devices, with the same global
batch. Both train on the same batches, epochs alternating between them; the first
(tracing) epoch of each is excluded from the throughput. Reports images per second
(median, min, max over `--repeats` epochs), the speed-up, and how far apart the two
students end (largest absolute weight difference, largest relative difference of the
last epoch's logs).

Devices: the GPUs when there are at least N, else N logical devices carved out of the
CPU (on a CPU-only machine this measures the overhead of the strategy, not a speed-up:
the logical devices share the same cores).

Workloads: `lenet` (lenet5 -> lenet5_half on the embedded MNIST sample; no BatchNorm,
so the runs agree to float rounding) and `resnet` (resnet32 -> resnet8 on CIFAR-10, when
it is prepared in `TFDS_DATA_DIR`; BatchNorm normalises each replica's share of the batch
with that share's statistics, so the runs differ by design, see docs/distributed.md).

Usage:

```
python -m benchmarks.scaling --out docs/benchmark_results/scaling
python -m benchmarks.scaling --devices 4 --batch-size 512 --out /tmp/scaling  # on 4 GPUs
python -m benchmarks.scaling --smoke --out /tmp/scaling_smoke
```
"""

import argparse
import json
import os
import pathlib
import statistics
import time

from benchmarks.common import environment, load_arrays, write_text

WORKLOADS = {
    "lenet": {"teacher": "lenet5", "student": "lenet5_half", "data": "mnist_sample"},
    "resnet": {"teacher": "resnet32", "student": "resnet8", "data": "cifar10"},
}


def set_up_devices(count):
    """`count` GPUs if there are as many, else `count` logical CPUs; returns their names."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) >= count:
        return [f"/gpu:{i}" for i in range(count)], "GPU"
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    )
    return [f"/cpu:{i}" for i in range(count)], "logical CPU"


def workload_data(name, size):
    """`(x, y, teacher_name, student_name)`, or `None` when the data set is not prepared."""
    spec = WORKLOADS[name]
    if spec["data"] == "mnist_sample":
        from keras_anc.data.sample import sample_arrays

        arrays = sample_arrays()
        x = arrays["x_train"][:size].astype("float32") / 255.0
        y = arrays["y_train"][:size].astype("int64")
    else:
        from keras_anc import data

        if not data.is_prepared(spec["data"]):
            return None
        x, y = load_arrays(spec["data"], f"train[:{size}]")
    return x, y, spec["teacher"], spec["student"]


def build(teacher_name, student_name, input_shape, strategy):
    """A compiled `AdversarialDistiller`, the same initial weights whatever `strategy`."""
    import keras

    import keras_anc
    from keras_anc import distribution
    from keras_anc.models import get_model

    with distribution.strategy_scope(strategy):
        keras.utils.set_random_seed(0)
        teacher = get_model(teacher_name, input_shape=input_shape, name="teacher")
        student = get_model(student_name, input_shape=input_shape, name="student")
        model = keras_anc.AdversarialDistiller(
            teacher, student, adversarial_sample_rate=0.0, seed=1
        )
        model.compile(
            student_optimizer=keras.optimizers.Adam(1e-3),
            discriminator_optimizer=keras.optimizers.Adam(1e-4),
        )
    return model


def _epoch(model, ds):
    import keras

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.start

    clock = Clock()
    history = model.fit(ds, epochs=1, verbose=0, shuffle=False, callbacks=[clock])
    return clock.seconds, {k: float(v[-1]) for k, v in history.history.items()}


def measure(name, strategy, size, batch_size, repeats, log=print):
    """Throughput and end-state difference of one workload, one device vs `strategy`."""
    import numpy as np
    import tensorflow as tf

    loaded = workload_data(name, size)
    if loaded is None:
        log(f"{name}: skipped, {WORKLOADS[name]['data']} is not prepared in TFDS_DATA_DIR")
        return {"skipped": f"{WORKLOADS[name]['data']} is not prepared"}
    x, y, teacher_name, student_name = loaded
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).prefetch(2)
    configs = {"one_device": None, f"mirrored_{strategy.num_replicas_in_sync}": strategy}
    models = {c: build(teacher_name, student_name, x.shape[1:], s) for c, s in configs.items()}
    seconds, logs, first = {c: [] for c in configs}, {}, {}
    for config, model in models.items():
        first[config], _ = _epoch(model, ds)
        log(f"{name} warm-up {config}: {first[config]:.1f}s")
    for r in range(repeats):
        for config, model in models.items():
            spent, logs[config] = _epoch(model, ds)
            seconds[config].append(spent)
        log(
            f"{name} repeat {r + 1}/{repeats}: "
            + ", ".join(f"{c} {seconds[c][-1]:.2f}s" for c in configs)
        )
    one, many = list(configs)
    weights = [
        np.max(np.abs(a - b))
        for a, b in zip(models[one].student.get_weights(), models[many].student.get_weights())
    ]
    log_gaps = {
        k: abs(logs[one][k] - logs[many][k]) / max(abs(logs[one][k]), 1e-12) for k in logs[one]
    }
    stats = {}
    for config in configs:
        ips = [size / s for s in seconds[config]]
        stats[config] = {
            "images_per_second_median": statistics.median(ips),
            "images_per_second_min": min(ips),
            "images_per_second_max": max(ips),
            "first_epoch_seconds": first[config],
            "last_epoch_logs": logs[config],
        }
    return {
        "teacher": teacher_name,
        "student": student_name,
        "configs": stats,
        "speedup": stats[many]["images_per_second_median"] / stats[one]["images_per_second_median"],
        "max_abs_weight_difference": float(max(weights)),
        "max_relative_log_difference": float(max(log_gaps.values())),
        "epochs": repeats + 1,
    }


def markdown(results):
    settings = results["settings"]
    lines = [
        f"# Scaling: one device vs {settings['devices']} {settings['device_kind']} devices",
        "",
        f"`{results['environment']['command']}`; Keras {results['environment']['keras']}, "
        f"TensorFlow {results['environment']['tensorflow']}, "
        f"{results['environment']['cpu_count']} CPU cores. Global batch "
        f"{settings['batch_size']}, {settings['size']} images per epoch, median of "
        f"{settings['repeats']} epochs after a tracing epoch. Load average (1 min) at start "
        f"and end: {settings['load_average_at_start'][0]:.1f}, "
        f"{settings['load_average_at_end'][0]:.1f}.",
        "",
        "| workload | configuration | images/s (median) | min | max | first epoch (s) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, record in results["workloads"].items():
        if "skipped" in record:
            lines.append(f"| {name} | skipped: {record['skipped']} | | | | |")
            continue
        for config, stats in record["configs"].items():
            lines.append(
                f"| {name} ({record['teacher']} -> {record['student']}) | {config} | "
                f"{stats['images_per_second_median']:.0f} | {stats['images_per_second_min']:.0f}"
                f" | {stats['images_per_second_max']:.0f} | {stats['first_epoch_seconds']:.1f} |"
            )
    lines += [
        "",
        "| workload | speed-up | max abs weight difference | max relative log difference "
        "| epochs |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, record in results["workloads"].items():
        if "skipped" not in record:
            lines.append(
                f"| {name} | {record['speedup']:.2f}x | {record['max_abs_weight_difference']:.1e}"
                f" | {record['max_relative_log_difference']:.1e} | {record['epochs']} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="docs/benchmark_results/scaling")
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--size", type=int, default=1024, help="training images per epoch")
    parser.add_argument("--batch-size", type=int, default=128, help="the global batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workloads", nargs="*", choices=sorted(WORKLOADS))
    parser.add_argument("--smoke", action="store_true", help="seconds: lenet, 256 images")
    args = parser.parse_args(argv)
    if args.devices < 2:
        parser.error(f"--devices must be at least 2. Received: --devices {args.devices}")
    if args.smoke:
        args.size, args.repeats, args.workloads = 256, 1, ["lenet"]
    if args.batch_size % args.devices:
        parser.error(
            f"--batch-size must be divisible by --devices (each replica gets an equal share). "
            f"Received: --batch-size {args.batch_size} --devices {args.devices}"
        )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    devices, kind = set_up_devices(args.devices)
    from keras_anc import distribution

    # One strategy for the whole process: a second MirroredStrategy reuses the first
    # one's collective keys and its all-reduces fail with a shape mismatch.
    strategy = distribution.make_strategy("mirrored", devices=devices)

    def log(message):
        print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)

    started = time.perf_counter()
    results = {
        "environment": environment(),
        "settings": {
            "devices": args.devices,
            "device_kind": kind,
            "device_names": devices,
            "size": args.size,
            "batch_size": args.batch_size,
            "repeats": args.repeats,
            # Other processes on the machine slow both configurations alike.
            "load_average_at_start": os.getloadavg(),
        },
        "workloads": {
            name: measure(name, strategy, args.size, args.batch_size, args.repeats, log)
            for name in (args.workloads or list(WORKLOADS))
        },
    }
    results["wall_seconds"] = time.perf_counter() - started
    results["settings"]["load_average_at_end"] = os.getloadavg()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "results.json", json.dumps(results, indent=1))
    write_text(out / "results.md", markdown(results))
    log(f"wrote {out / 'results.json'} and {out / 'results.md'}")


if __name__ == "__main__":
    main()
