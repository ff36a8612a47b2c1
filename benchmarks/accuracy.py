"""Accuracy benchmark: every method of `keras_anc.methods` on the same teacher/student.

One teacher per dataset is trained once and kept in the teacher store
(`keras_anc.teacher_store`); for every seed, one student
initialization is drawn and every method starts from it, on the same data, batches and
optimizer schedule. Reports mean +- std test accuracy over seeds, the gap to the teacher,
parameter counts and the compression ratio, and writes `results.json`, `results.md`,
`accuracy.png` and `curves.png` to `--out`.

Usage:

```
python -m benchmarks.recipe_sweep          # once: each method's best recipe (read by cpu)
python -m benchmarks.accuracy --preset cpu  # writes docs/benchmark_results/cpu/
python -m benchmarks.accuracy --smoke --out /tmp/acc_smoke
```
"""

import argparse
import json
import pathlib
import time

from benchmarks.common import environment, load_arrays, save_figure, write_text

# The old (round 1) recipe: Adam at a constant 1e-3 for every method, D Adam 1e-4.
_OLD_RECIPE = {"optimizer": "adam", "learning_rate": 1e-3, "schedule": "constant"}

# The digit datasets' pair, data and schedule in the cpu_small preset.
_DIGITS = {
    "teacher": "lenet5",
    "student": "lenet_tiny",
    "train": "train[:10000]",
    "test": "test",
    "teacher_epochs": 5,
    "epochs": 4,
}

# Full training sets, a teacher far above the labelled student (lenet5_wide, 108x
# lenet_tiny), the default recipe for every method unless the sweep tuned it.
_FULL_DIGITS = {
    "teacher": "lenet5_wide",
    "student": "lenet_tiny",
    "train": "train",
    "test": "test",
    "teacher_epochs": 12,
    "epochs": 5,
}

# Where round 5 of the recipe sweep (benchmarks/recipe_sweep_seeds.py: the cpu preset's
# scale, 18 arms per method, 3 seeds per arm) wrote each method's best arm. Rounds 1-4
# (benchmarks/recipe_sweep.py) are in recipe_sweep/ and recipe_sweep_full/ beside it.
_RESULTS = pathlib.Path(__file__).resolve().parents[1] / "docs/benchmark_results"
SEEDS_SWEEP_RESULTS = _RESULTS / "recipe_sweep_seeds/results.json"

# Per-dataset experiment: teacher/student zoo names, data sizes and schedules.
PRESETS = {
    # The full MNIST and Fashion-MNIST training sets on 2 CPU cores, each method with its
    # best recipe from the sweep at this scale with three seeds per arm
    # (benchmarks/recipe_sweep_seeds.py: 18 arms per method, validation on held-out
    # training images).
    "cpu": {
        "seeds": [0, 1, 2],
        "batch_size": 128,
        "methods": ["labels", "hinton_kd", "anc"],
        "tuned": SEEDS_SWEEP_RESULTS,  # each method's best arm of the sweep
        # XLA and 8 batches per call: ~1.4x faster steps for these tiny models on CPU.
        "jit_compile": True,
        "steps_per_execution": 8,
        # ANC reads the teacher's outputs computed once (no augmentation: same targets).
        "cache_teacher": True,
        "datasets": {"fashion_mnist": _FULL_DIGITS, "mnist": _FULL_DIGITS},
    },
    # The label-scarce case: labels for 10% of Fashion-MNIST, the teacher, and all 60,000
    # images unlabelled. Methods that read labels train on the labelled 10% only. Recipes:
    # as in `cpu`.
    "cpu_scarce": {
        "seeds": [0, 1, 2],
        "batch_size": 128,
        "methods": ["labels", "hinton_kd", "anc"],
        "tuned": SEEDS_SWEEP_RESULTS,
        "jit_compile": True,
        "steps_per_execution": 8,
        "datasets": {
            "fashion_mnist": {**_FULL_DIGITS, "labelled_train": "train[:6000]"},
        },
    },
    # Round 1's cpu preset: 10k-image subsets, few epochs, small pairs, the old recipe.
    "cpu_small": {
        "seeds": [0, 1, 2],
        "batch_size": 128,
        "recipe": _OLD_RECIPE,
        "datasets": {
            "mnist": _DIGITS,
            "fashion_mnist": _DIGITS,
            "cifar10": {
                "teacher": "resnet20",
                "student": "resnet8",
                "train": "train[:6000]",
                "test": "test[:5000]",
                "teacher_epochs": 10,
                "epochs": 3,
            },
        },
    },
    # The cpu_small preset's MNIST pair and data with a 4x longer schedule (16 epochs).
    "cpu_long": {
        "seeds": [0, 1, 2],
        "batch_size": 128,
        "recipe": _OLD_RECIPE,
        "datasets": {
            "mnist": {**_DIGITS, "epochs": 16},
        },
    },
    # Seconds, for CI: a slice of MNIST, one epoch, one seed.
    "smoke": {
        "seeds": [0],
        "batch_size": 64,
        "datasets": {
            "mnist": {
                "teacher": "lenet_tiny",
                "student": "lenet_tiny",
                "train": "train[:512]",
                "test": "test[:256]",
                "teacher_epochs": 1,
                "epochs": 1,
                "curve_size": 128,
            },
        },
    },
}

RESULT_KEYS = ("preset", "environment", "methods", "datasets", "wall_seconds")
_TEACHER_SEED = 1234
TEACHER_BATCH_SIZE = 128
TEACHER_LEARNING_RATE = 1e-3


def _dataset(x, y, batch_size, seed, labels=True, shuffle=True):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y) if labels else x)
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


# How benchmark teachers are trained: Adam with a cosine-decayed learning rate and light
# augmentation (random 2-pixel shifts; horizontal flips where the dataset allows them).
# Part of the teacher store's key, so a change retrains the teachers.
TEACHER_RECIPE = {"optimizer": "adam", "schedule": "cosine", "augment": "shift2+flip"}
_FLIP_OK = {"fashion_mnist": True, "cifar10": True, "mnist": False}


def _teacher_stream(name, x, y, batch_size, seed):
    import tensorflow as tf

    flip = _FLIP_OK.get(name, False)
    height, width = x.shape[1:3]

    def augment(image, label):
        image = tf.image.pad_to_bounding_box(image, 2, 2, height + 4, width + 4)
        image = tf.image.random_crop(image, (height, width, x.shape[-1]))
        if flip:
            image = tf.image.random_flip_left_right(image)
        return image, label

    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed)
    ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def stored_teacher(name, spec, data, batch_size, learning_rate, cache_dir, log):
    """Loads this configuration's teacher from the teacher store, or trains and stores it."""
    import keras

    from keras_anc.models import get_model
    from keras_anc.teacher_store import TeacherStore

    store = TeacherStore(cache_dir)
    x, y = data
    key = {
        "trained_by": "benchmarks.accuracy",
        "dataset": name,
        "teacher": spec["teacher"],
        "train": spec["train"],
        "teacher_epochs": spec["teacher_epochs"],
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "seed": _TEACHER_SEED,
        "recipe": TEACHER_RECIPE,
    }
    prefix = f"{name}-{spec['teacher']}"
    path = store.path_for(key, prefix=prefix)
    teacher = store.load(key, prefix=prefix)
    if teacher is not None:
        log(f"[{name}] teacher {spec['teacher']} from the store: {path}")
        return teacher, str(path), 0.0
    keras.utils.set_random_seed(_TEACHER_SEED)
    teacher = get_model(spec["teacher"], input_shape=x.shape[1:], num_classes=10, name="teacher")
    steps = -(-len(x) // batch_size) * spec["teacher_epochs"]
    schedules = keras.optimizers.schedules
    teacher.compile(
        optimizer=keras.optimizers.Adam(schedules.CosineDecay(learning_rate, steps)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    teacher.fit(
        _teacher_stream(name, x, y, batch_size, seed=_TEACHER_SEED),
        epochs=spec["teacher_epochs"],
        verbose=0,
    )
    seconds = time.perf_counter() - start
    store.save(teacher, key, prefix=prefix)
    log(f"[{name}] trained teacher {spec['teacher']} in {seconds:.0f}s, stored at {path}")
    return teacher, str(path), seconds


def accuracy_of(model, x, y):
    import numpy as np

    logits = model.predict(x, batch_size=512, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == y))


def fit_student(
    method,
    teacher,
    student,
    train,
    batch_size,
    epochs,
    seed,
    recipe,
    options=None,
    validation=None,
    jit_compile=False,
    steps_per_execution=1,
    cache_teacher=False,
):
    """Trains `student` by `method` with `recipe` and returns `(seconds, history)`.

    The one training path of the accuracy benchmark and the recipe sweep: the method is
    built by `keras_anc.methods.make_method`, the student's optimizer and the
    discriminator's come from `recipe` (a `keras_anc.recipe.Recipe`), and `options` are
    the method's options. Label-free methods get the training images without labels.
    With `cache_teacher`, the ANC methods get the teacher's outputs computed once
    (`keras_anc.teacher_outputs`; the data is not augmented, so the targets are the same;
    that dataset shuffles in another order than the uncached one).
    """
    import keras

    from keras_anc import methods as methods_lib

    x, y = train
    options = dict(options or {})
    method_options = methods_lib.method_options(method)
    if "seed" in method_options:
        options.setdefault("seed", seed)
    steps = -(-len(x) // batch_size)
    extra = {}
    if "discriminator_learning_rate" in method_options:
        extra["discriminator_optimizer"] = recipe.discriminator_optimizer()
    keras.utils.set_random_seed(seed)
    model = methods_lib.make_method(
        method,
        teacher,
        student,
        optimizer=recipe.student_optimizer(steps, epochs),
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
        **extra,
        **options,
    )
    labels = methods_lib.uses_labels(method)
    start = time.perf_counter()  # the teacher's one pass over the data counts
    if cache_teacher and "kd_weight" in method_options:  # the AdversarialDistiller methods
        from keras_anc.teacher_outputs import with_teacher_outputs

        data = with_teacher_outputs(x, teacher, batch_size=batch_size, seed=seed)
    else:
        data = _dataset(x, y, batch_size, seed, labels=labels)
    history = model.fit(
        data,
        epochs=epochs,
        validation_data=validation,
        verbose=0,
    )
    return time.perf_counter() - start, history


def method_setup(config, method):
    """`(recipe, options)` of `method` in preset `config`: its tuned recipe and options
    (`config["tuned"]`: a dict, or the path of a recipe sweep's results), else the preset's
    or the default recipe and the method's defaults."""
    from keras_anc.recipe import DEFAULT_RECIPE, Recipe

    tuned = config.get("tuned", {})
    if isinstance(tuned, pathlib.Path):  # a sweep's results: its best arm per method
        tuned = json.loads(tuned.read_text())["best"] if tuned.exists() else {}
    tuned = tuned.get(method, {})
    recipe = Recipe(**config["recipe"]) if "recipe" in config else DEFAULT_RECIPE
    recipe = Recipe(**tuned["recipe"]) if "recipe" in tuned else recipe
    return recipe, dict(tuned.get("options", {}))


def run(preset, out, cache_dir, methods=None, datasets=None, seeds=None, log=print):
    """Runs the benchmark and writes its files to `out`; returns the results dict."""
    import keras

    from keras_anc import methods as methods_lib
    from keras_anc.models import get_model

    config = PRESETS[preset]
    methods = list(methods or config.get("methods") or methods_lib.available_methods())
    seeds = list(seeds if seeds is not None else config["seeds"])
    names = list(datasets or config["datasets"])
    batch_size = config["batch_size"]
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    setups = {m: method_setup(config, m) for m in methods}
    results = {
        "preset": preset,
        "environment": environment(),
        "methods": methods,
        "seeds": seeds,
        "batch_size": batch_size,
        "recipes": {m: {"recipe": r.to_dict(), "options": o} for m, (r, o) in setups.items()},
        "datasets": {},
    }
    for name in names:
        spec = config["datasets"][name]
        x_train, y_train = load_arrays(name, spec["train"])
        x_test, y_test = load_arrays(name, spec["test"])
        # Label-scarce presets: methods that read labels see only this labelled slice.
        labelled = load_arrays(name, spec["labelled_train"]) if "labelled_train" in spec else None
        curve = spec.get("curve_size", 1000)
        x_curve, y_curve = x_test[:curve], y_test[:curve]
        teacher, teacher_path, teacher_seconds = stored_teacher(
            name,
            spec,
            (x_train, y_train),
            TEACHER_BATCH_SIZE,
            TEACHER_LEARNING_RATE,
            cache_dir,
            log,
        )
        teacher_acc = accuracy_of(teacher, x_test, y_test)
        entry = {
            **spec,
            "train_size": len(x_train),
            "labelled_train_size": len(labelled[0]) if labelled is not None else len(x_train),
            "test_size": len(x_test),
            "teacher_path": teacher_path,
            "teacher_train_seconds": teacher_seconds,
            "teacher_accuracy": teacher_acc,
            "teacher_params": int(teacher.count_params()),
            "methods": {},
        }
        log(f"[{name}] teacher {spec['teacher']} test accuracy {teacher_acc:.4f}")
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            init = get_model(spec["student"], input_shape=x_train.shape[1:], num_classes=10)
            init_weights = init.get_weights()
            entry["student_params"] = int(init.count_params())
            for method in methods:
                student = get_model(
                    spec["student"], input_shape=x_train.shape[1:], num_classes=10, name="student"
                )
                student.set_weights(init_weights)
                recipe, options = setups[method]
                uses_labels = methods_lib.uses_labels(method)
                epochs = spec["epochs"]
                if labelled is not None and uses_labels:
                    # As many optimizer steps as the label-free students take, with as many
                    # warm-up steps (the recipe counts its warm-up in epochs).
                    repeats = round(len(x_train) / len(labelled[0]))
                    epochs = spec["epochs"] * repeats
                    recipe = recipe.replace(warmup_epochs=recipe.warmup_epochs * repeats)
                seconds, history = fit_student(
                    method,
                    teacher,
                    student,
                    labelled if labelled is not None and uses_labels else (x_train, y_train),
                    batch_size,
                    epochs,
                    seed,
                    recipe,
                    options,
                    validation=_dataset(x_curve, y_curve, 512, seed, shuffle=False),
                    jit_compile=config.get("jit_compile", False),
                    steps_per_execution=config.get("steps_per_execution", 1),
                    cache_teacher=config.get("cache_teacher", False),
                )
                acc = accuracy_of(student, x_test, y_test)
                record = entry["methods"].setdefault(
                    method, {"accuracy": [], "seconds": [], "curves": []}
                )
                record["accuracy"].append(acc)
                record["seconds"].append(seconds)
                record["curves"].append(
                    {k: [float(v) for v in vals] for k, vals in history.history.items()}
                )
                log(f"[{name}] seed {seed} {method:17s} acc {acc:.4f} ({seconds:.0f}s)")
                _summarize(entry, teacher_acc)
                results["datasets"][name] = entry
                _write(results, out, started)
    _write(results, out, started)
    return results


def _summarize(entry, teacher_acc):
    import numpy as np

    for record in entry["methods"].values():
        accs = np.array(record["accuracy"])
        record["mean"] = float(accs.mean())
        record["std"] = float(accs.std(ddof=1)) if len(accs) > 1 else 0.0
        record["gap_to_teacher"] = float(teacher_acc - accs.mean())
    entry["compression_ratio"] = entry["teacher_params"] / entry["student_params"]
    if "labels" in entry["methods"]:
        entry["gap_teacher_minus_labels"] = float(teacher_acc - entry["methods"]["labels"]["mean"])


def _write(results, out, started):
    results["wall_seconds"] = time.perf_counter() - started
    write_text(out / "results.json", json.dumps(results, indent=1))
    write_text(out / "results.md", markdown_table(results))
    plot(results, out)


def markdown_table(results):
    """The results as Markdown: one table per dataset, methods as rows."""
    lines = []
    for name, entry in results["datasets"].items():
        lines += [
            f"### {name}: {entry['teacher']} -> {entry['student']}",
            "",
            f"Teacher {entry['teacher_accuracy'] * 100:.2f}% "
            f"({entry['teacher_params']:,} params); student {entry['student_params']:,} "
            f"params; compression {entry['compression_ratio']:.1f}x. "
            f"Train `{entry['train']}` ({entry['train_size']} images), "
            f"{entry['epochs']} epochs; test `{entry['test']}` ({entry['test_size']} images); "
            f"{len(results['seeds'])} seeds."
            + (
                f" Gap teacher − labelled student: "
                f"{entry['gap_teacher_minus_labels'] * 100:+.2f} pp."
                if "gap_teacher_minus_labels" in entry
                else ""
            )
            + (
                f" Methods that read labels see only `{entry['labelled_train']}`."
                if "labelled_train" in entry
                else ""
            ),
            "",
            "| method | labels | test accuracy (%) | gap to teacher (pp) "
            "| paired Δ vs labels (pp) | paired Δ vs hinton_kd (pp) | s / run |",
            "|---|---|---|---|---|---|---|",
        ]
        from keras_anc.methods import uses_labels

        for method, rec in entry["methods"].items():
            lines.append(
                f"| {method} | {'yes' if uses_labels(method) else 'no'} | "
                f"{rec['mean'] * 100:.2f} ± {rec['std'] * 100:.2f} | "
                f"{rec['gap_to_teacher'] * 100:+.2f} | "
                f"{_paired(entry, method, 'labels')} | "
                f"{_paired(entry, method, 'hinton_kd')} | "
                f"{sum(rec['seconds']) / len(rec['seconds']):.0f} |"
            )
        lines += [
            "",
            "Paired Δ: mean ± std over seeds of (method - reference) accuracy, same seed "
            "(same student initialization and batches).",
            "",
        ]
    return "\n".join(lines)


def _paired(entry, method, reference):
    import numpy as np

    if reference not in entry["methods"] or method == reference:
        return "-"
    a = np.array(entry["methods"][method]["accuracy"])
    b = np.array(entry["methods"][reference]["accuracy"])
    if len(a) != len(b):
        return "-"
    d = (a - b) * 100
    std = d.std(ddof=1) if len(d) > 1 else 0.0
    return f"{d.mean():+.2f} ± {std:.2f}"


def plot(results, out):
    """Writes `accuracy.png` (mean +- std per method) and `curves.png` (val accuracy)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    entries = [
        (n, e)
        for n, e in results["datasets"].items()
        if "mean" in next(iter(e["methods"].values()), {})
    ]
    if not entries:
        return
    fig, axes = plt.subplots(1, len(entries), figsize=(5 * len(entries), 4), squeeze=False)
    for ax, (name, entry) in zip(axes[0], entries):
        methods = list(entry["methods"])
        means = [entry["methods"][m]["mean"] * 100 for m in methods]
        stds = [entry["methods"][m]["std"] * 100 for m in methods]
        ax.bar(range(len(methods)), means, yerr=stds, capsize=3, color="tab:blue")
        ax.axhline(entry["teacher_accuracy"] * 100, color="k", ls="--", label="teacher")
        ax.set_xticks(range(len(methods)), methods, rotation=60, ha="right")
        low = min(m - s for m, s in zip(means, stds))
        high = max(max(means), entry["teacher_accuracy"] * 100)
        ax.set_ylim(max(0.0, low - 5), min(100.0, high + 2))
        ax.set_title(f"{name}: {entry['teacher']} -> {entry['student']}")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(loc="lower right")
    fig.tight_layout()
    save_figure(fig, out / "accuracy.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(entries), figsize=(5 * len(entries), 4), squeeze=False)
    for ax, (name, entry) in zip(axes[0], entries):
        for method, rec in entry["methods"].items():
            curves = [c.get("val_accuracy") for c in rec["curves"] if c.get("val_accuracy")]
            if not curves:
                continue
            mean = np.mean(np.array(curves), axis=0) * 100
            ax.plot(range(1, len(mean) + 1), mean, marker="o", label=method)
            ax.set_xticks(range(1, len(mean) + 1))
        ax.set_title(f"{name}: held-out accuracy per epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (%)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "curves.png", dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--smoke", action="store_true", help="alias of --preset smoke")
    parser.add_argument(
        "--out", default=None, help="output folder (default: docs/benchmark_results/<preset>)"
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="root of the teacher store (default: keras_anc.teacher_store's default root)",
    )
    parser.add_argument("--methods", nargs="*", help="subset of methods (default: all)")
    parser.add_argument("--datasets", nargs="*", help="subset of the preset's datasets")
    parser.add_argument("--seeds", nargs="*", type=int, help="override the preset's seeds")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite results.md and plots from --out"
    )
    args = parser.parse_args(argv)
    preset = "smoke" if args.smoke else args.preset
    args.out = args.out or f"docs/benchmark_results/{preset}"
    if args.render:
        out = pathlib.Path(args.out)
        results = json.loads((out / "results.json").read_text())
        write_text(out / "results.md", markdown_table(results))
        plot(results, out)
        return

    def log(message):
        print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)

    run(preset, args.out, args.cache_dir, args.methods, args.datasets, args.seeds, log)


if __name__ == "__main__":
    main()
