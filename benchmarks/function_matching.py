"""Function-matching benchmark: labels vs label-free ANC vs ANC on mixed, augmented views.

Function matching (Beyer et al., CVPR 2022) trains a label-free student on aggressively
augmented and mixed images that teacher and student both see. This benchmark compares, side by
side and with everything else equal (one cached teacher, one student initialization per seed,
the same optimizer, batch size, number of epochs and shuffling seed):

| arm | labels | stream |
|---|---|---|
| `labels` | yes | the dataset's standard stream (no augmentation on digits) |
| `anc` | no | the same stream without labels |
| `anc_fm_mixup` | no | `augment="aggressive", mixing="mixup"` |
| `anc_fm_cutmix` | no | `augment="aggressive", mixing="cutmix"` |
| `anc_mixup` (optional) | no | `mixing="mixup"` only |
| `labels_aggressive` (optional) | yes | `augment="aggressive"` (no mixing: labels can't follow) |

Adam runs at a constant learning rate, so the test accuracy after epoch `k` of a run is that of
a `k`-epoch run on the same stream: one run per arm and seed gives the short and the long
("patient") schedules. Results go to `results.json` and `results.md` in `--out`.

Usage:

```
python -m benchmarks.function_matching --out docs/benchmark_results/function_matching
python -m benchmarks.function_matching --preset sample_long \
    --out docs/benchmark_results/function_matching/sample_long
python -m benchmarks.function_matching --preset fashion_mnist --out /tmp/fm_fashion
python -m benchmarks.function_matching --smoke --out /tmp/fm_smoke
```
"""

import argparse
import json
import os
import pathlib
import tempfile
import time

from benchmarks.common import environment, write_text

# Arm -> (method, keyword arguments of the data stream).
ARMS = {
    "labels": ("labels", {"labels": True}),
    "anc": ("anc", {"labels": False}),
    "anc_fm_mixup": ("anc", {"labels": False, "augment": "aggressive", "mixing": "mixup"}),
    "anc_fm_cutmix": ("anc", {"labels": False, "augment": "aggressive", "mixing": "cutmix"}),
    "anc_mixup": ("anc", {"labels": False, "mixing": "mixup"}),
    "labels_aggressive": ("labels", {"labels": True, "augment": "aggressive"}),
}
DEFAULT_ARMS = ("labels", "anc", "anc_fm_mixup", "anc_fm_cutmix")

PRESETS = {
    # The embedded MNIST sample (6,000 train / 1,000 test digits, offline): ~15 min on 2 busy
    # CPU cores.
    "sample": {
        "dataset": "mnist_sample",
        "train": "train",
        "test": "test",
        "teacher": "lenet5",
        "student": "lenet_tiny",
        "teacher_epochs": 10,
        "epochs": 15,
        "eval_epochs": [5, 10, 15],
        "seeds": [0, 1],
        "batch_size": 128,
        "learning_rate": 1e-3,
    },
    # The sample preset's data and arms with a 2.7x longer ("patient") schedule: does function
    # matching catch up when training is long? ~29 min on 2 busy CPU cores.
    "sample_long": {
        "dataset": "mnist_sample",
        "train": "train",
        "test": "test",
        "teacher": "lenet5",
        "student": "lenet_tiny",
        "teacher_epochs": 10,
        "epochs": 40,
        "eval_epochs": [10, 20, 30, 40],
        "seeds": [0, 1],
        "batch_size": 128,
        "learning_rate": 1e-3,
        "arms": ["labels", "anc", "anc_fm_mixup"],
    },
    # Fashion-MNIST from TFDS (`TFDS_DATA_DIR`), a 10k-image training subset, full test split.
    "fashion_mnist": {
        "dataset": "fashion_mnist",
        "train": "train[:10000]",
        "test": "test",
        "teacher": "lenet5",
        "student": "lenet_tiny",
        "teacher_epochs": 10,
        "epochs": 12,
        "eval_epochs": [4, 8, 12],
        "seeds": [0, 1],
        "batch_size": 128,
        "learning_rate": 1e-3,
    },
    # Seconds, for CI: 512 sample images, one seed, two epochs.
    "smoke": {
        "dataset": "mnist_sample",
        "train": "train",
        "test": "test",
        "take": 512,
        "teacher": "lenet_tiny",
        "student": "lenet_tiny",
        "teacher_epochs": 1,
        "epochs": 2,
        "eval_epochs": [1, 2],
        "seeds": [0],
        "batch_size": 64,
        "learning_rate": 1e-3,
    },
}

RESULT_KEYS = ("preset", "environment", "config", "arms", "teacher", "results", "wall_seconds")
_TEACHER_SEED = 1234


def _stream(config, split, seed, **kwargs):
    from keras_anc import data

    return data.load(
        config["dataset"],
        split,
        batch_size=config["batch_size"],
        seed=seed,
        take=config.get("take"),
        **kwargs,
    )


def _test_arrays(config):
    """The standardised test images and their labels, as NumPy arrays."""
    import numpy as np

    batches = list(_stream(config, config["test"], 0, training=False).as_numpy_iterator())
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def _accuracy(model, x, y, batch_size=1000):
    import keras
    import numpy as np

    hits = 0
    for start in range(0, len(x), batch_size):
        logits = model(x[start : start + batch_size], training=False)
        predicted = np.argmax(keras.ops.convert_to_numpy(logits), axis=-1)
        hits += int(np.sum(predicted == y[start : start + batch_size]))
    return hits / len(x)


def _teacher(config, cache_dir, log):
    """The labelled teacher of this configuration, from the teacher store or trained once."""
    import keras

    from keras_anc import data
    from keras_anc.models import get_model
    from keras_anc.teacher_store import TeacherStore

    store = TeacherStore(cache_dir)
    key = {
        "trained_by": "benchmarks.function_matching",
        **{k: config[k] for k in ("dataset", "train", "teacher", "teacher_epochs")},
        **{k: config[k] for k in ("batch_size", "learning_rate")},
        "take": config.get("take"),
        "seed": _TEACHER_SEED,
    }
    prefix = f"{config['dataset']}-{config['teacher']}"
    teacher = store.load(key, prefix=prefix)
    path = str(store.path_for(key, prefix=prefix))
    if teacher is not None:
        log(f"teacher {config['teacher']} from the store: {path}")
        return teacher, path, 0.0
    meta = data.info(config["dataset"])
    keras.utils.set_random_seed(_TEACHER_SEED)
    teacher = get_model(
        config["teacher"],
        input_shape=meta.image_shape,
        num_classes=meta.num_classes,
        name="teacher",
    )
    teacher.compile(
        optimizer=keras.optimizers.Adam(config["learning_rate"]),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    start = time.perf_counter()
    train = _stream(config, config["train"], _TEACHER_SEED)
    teacher.fit(train, epochs=config["teacher_epochs"], verbose=0)
    seconds = time.perf_counter() - start
    store.save(teacher, key, prefix=prefix)
    log(f"trained teacher {config['teacher']} in {seconds:.0f}s, stored at {path}")
    return teacher, path, seconds


def _run_arm(arm, config, teacher, init_weights, seed, test, log):
    """Trains one student from `init_weights` by `arm`; returns {epoch: accuracy}, seconds."""
    import keras

    from keras_anc import data, methods
    from keras_anc.models import get_model

    method, stream_kwargs = ARMS[arm]
    meta = data.info(config["dataset"])
    student = get_model(
        config["student"],
        input_shape=meta.image_shape,
        num_classes=meta.num_classes,
        name="student",
    )
    student.set_weights(init_weights)
    keras.utils.set_random_seed(seed)
    options = {"seed": seed} if "seed" in methods.method_options(method) else {}
    model = methods.make_method(
        method,
        teacher,
        student,
        optimizer=keras.optimizers.Adam(config["learning_rate"]),
        metrics=None,
        **options,
    )
    train = _stream(config, config["train"], seed, training=True, **stream_kwargs)
    accuracy = {}
    eval_epochs = set(config["eval_epochs"]) | {config["epochs"]}

    class Checkpoints(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 in eval_epochs:
                accuracy[str(epoch + 1)] = _accuracy(student, *test)

    start = time.perf_counter()
    model.fit(train, epochs=config["epochs"], callbacks=[Checkpoints()], verbose=0)
    seconds = time.perf_counter() - start
    log(
        f"seed {seed} {arm:18s} "
        + " ".join(f"e{e}={a * 100:.2f}" for e, a in accuracy.items())
        + f" ({seconds:.0f}s)"
    )
    return accuracy, seconds


def _stats(values):
    import numpy as np

    values = np.asarray(values, dtype=float)
    return {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
    }


def summarize(results):
    """Adds means, standard deviations and paired deltas (vs `labels` and `anc`) per epoch."""
    for record in results["arms"].values():
        record["summary"] = {e: _stats(accs) for e, accs in record["accuracy"].items()}
    for reference in ("labels", "anc"):
        if reference not in results["arms"]:
            continue
        ref = results["arms"][reference]["accuracy"]
        for arm, record in results["arms"].items():
            if arm == reference:
                continue
            record[f"paired_delta_vs_{reference}"] = {
                e: {
                    **_stats([a - b for a, b in zip(accs, ref[e])]),
                    "per_seed": [a - b for a, b in zip(accs, ref[e])],
                }
                for e, accs in record["accuracy"].items()
                if e in ref and len(ref[e]) == len(accs)
            }
    return results


def markdown_table(results):
    """The results as Markdown: one row per arm, test accuracy at each evaluated epoch."""
    config, teacher = results["config"], results["teacher"]
    epochs = [str(e) for e in sorted({*config["eval_epochs"], config["epochs"]})]
    final = epochs[-1]
    lines = [
        f"### {config['dataset']} `{config['train']}`: {config['teacher']} -> {config['student']}",
        "",
        f"Teacher {teacher['accuracy'] * 100:.2f}% (trained with labels, "
        f"{config['teacher_epochs']} epochs). {len(config['seeds'])} seeds; every arm: same "
        f"student initialization per seed, Adam {config['learning_rate']:g} constant, batch "
        f"{config['batch_size']}, {config['epochs']} epochs. Test: `{config['test']}` "
        f"({results['test_size']} images).",
        "",
        "| arm | labels | "
        + " | ".join(f"acc. epoch {e} (%)" for e in epochs)
        + f" | paired Δ vs labels, epoch {final} (pp) | paired Δ vs anc, epoch {final} (pp) "
        "| s / run |",
        "|---|---|" + "---|" * len(epochs) + "---|---|---|",
    ]
    for arm, record in results["arms"].items():
        cells = [
            f"{record['summary'][e]['mean'] * 100:.2f} ± {record['summary'][e]['std'] * 100:.2f}"
            for e in epochs
        ]
        deltas = []
        for reference in ("labels", "anc"):
            delta = record.get(f"paired_delta_vs_{reference}", {}).get(final)
            deltas.append(
                f"{delta['mean'] * 100:+.2f} ± {delta['std'] * 100:.2f}" if delta else "-"
            )
        seconds = sum(record["seconds"]) / len(record["seconds"])
        lines.append(
            f"| `{arm}` | {'yes' if record['uses_labels'] else 'no'} | "
            + " | ".join(cells)
            + f" | {deltas[0]} | {deltas[1]} | {seconds:.0f} |"
        )
    lines += [
        "",
        "Mean ± std over seeds. Paired Δ: mean ± std over seeds of (arm − reference), same "
        "seed (same student initialization and shuffling). With a constant learning rate the "
        "accuracy after epoch k is that of a k-epoch run.",
        "",
    ]
    return "\n".join(lines)


def run(preset, out, cache_dir=None, arms=None, seeds=None, log=print):
    """Runs the benchmark and writes `results.json` and `results.md` to `out`."""
    import keras

    from keras_anc import methods
    from keras_anc.models import get_model

    config = dict(PRESETS[preset])
    if seeds is not None:
        config["seeds"] = list(seeds)
    arms = list(arms or config.get("arms", DEFAULT_ARMS))
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        raise ValueError(f"Unknown arms {unknown}. Valid arms: {sorted(ARMS)}.")
    if cache_dir is None:
        cache_dir = os.path.join(tempfile.gettempdir(), "keras_anc_function_matching")
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    test = _test_arrays(config)
    teacher, teacher_path, teacher_seconds = _teacher(config, cache_dir, log)
    teacher_accuracy = _accuracy(teacher, *test)
    log(f"teacher {config['teacher']} test accuracy {teacher_accuracy * 100:.2f}%")
    results = {
        "preset": preset,
        "environment": environment(),
        "config": config,
        "arms": {
            arm: {
                "method": ARMS[arm][0],
                "stream": ARMS[arm][1],
                "uses_labels": methods.uses_labels(ARMS[arm][0]),
                "accuracy": {},
                "seconds": [],
            }
            for arm in arms
        },
        "teacher": {
            "accuracy": teacher_accuracy,
            "path": teacher_path,
            "train_seconds": teacher_seconds,
            "params": int(teacher.count_params()),
        },
        "test_size": int(len(test[1])),
    }
    shape = test[0].shape[1:]
    for seed in config["seeds"]:
        keras.utils.set_random_seed(seed)
        init = get_model(config["student"], input_shape=shape, num_classes=int(test[1].max()) + 1)
        init_weights = init.get_weights()
        results["student_params"] = int(init.count_params())
        for arm in arms:
            accuracy, seconds = _run_arm(arm, config, teacher, init_weights, seed, test, log)
            record = results["arms"][arm]
            for epoch, value in accuracy.items():
                record["accuracy"].setdefault(epoch, []).append(value)
            record["seconds"].append(seconds)
        _write(results, out, started)
    return _write(results, out, started)


def _write(results, out, started):
    results["wall_seconds"] = time.perf_counter() - started
    summarize(results)
    write_text(out / "results.json", json.dumps(results, indent=1))
    write_text(out / "results.md", markdown_table(results))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="sample")
    parser.add_argument("--smoke", action="store_true", help="alias of --preset smoke")
    parser.add_argument("--out", default="docs/benchmark_results/function_matching")
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="root of the teacher store (default: <tempdir>/keras_anc_function_matching)",
    )
    parser.add_argument(
        "--arms", nargs="*", choices=sorted(ARMS), help="default: " + " ".join(DEFAULT_ARMS)
    )
    parser.add_argument("--seeds", nargs="*", type=int, help="override the preset's seeds")
    args = parser.parse_args(argv)

    def log(message):
        print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)

    preset = "smoke" if args.smoke else args.preset
    run(preset, args.out, args.cache_dir, args.arms, args.seeds, log)


if __name__ == "__main__":
    main()
