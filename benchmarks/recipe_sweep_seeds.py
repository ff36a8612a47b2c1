"""Recipe sweep with several seeds per arm, on the JAX backend, many runs at once.

The `cpu` preset's set-up (`benchmarks.accuracy`: Fashion-MNIST, its stored lenet5_wide
teacher -> lenet_tiny, 5 epochs, batch 128, SGD-Nesterov with warm-up + cosine), swept the
way `benchmarks.recipe_sweep --preset cpu_full` does it (train on `train[:50000]`, score on
the held-out `train[50000:]`; the test set is never looked at), but with **three seeds per
arm** and **the same number of arms per method** (18): one seed per arm, as round 4 had,
cannot tell apart arms a few tenths of a point apart. Each seed draws one student
initialization shared by every arm. Made for a machine with many cores and one GPU (no
TensorFlow needed there): `--prepare-data` (where TFDS is) writes the images and the
teacher to one folder, and the sweep runs `--workers` processes side by side. The training
path is the package's (`keras_anc.methods.make_method` + `keras_anc.recipe.Recipe` +
`model.fit` on arrays), as in `benchmarks.accuracy.fit_student`; the arrays are shuffled by
Keras (seeded), not by `tf.data`.

Writes `results.json` (after every run) and `results.md`; `best` is picked by
`benchmarks.recipe_sweep.best_arms`, so the accuracy benchmark reads it as it reads that sweep's.

Usage:

```
# Where TFDS and the accuracy benchmark's teacher store are (TensorFlow):
TFDS_DATA_DIR=$(realpath ../shared/tfds) python -m benchmarks.recipe_sweep_seeds --prepare-data
# Anywhere with JAX (a GPU machine: about 8 minutes on one H200 with 12 workers):
KERAS_BACKEND=jax python -m benchmarks.recipe_sweep_seeds --workers 12 \
    --out docs/benchmark_results/recipe_sweep_seeds
```
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import argparse  # noqa: E402
import concurrent.futures  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import pathlib  # noqa: E402
import time  # noqa: E402

from benchmarks.common import write_text  # noqa: E402
from benchmarks.recipe_sweep import best_arms  # noqa: E402  (paired over common seeds)

DEFAULT_DATA = pathlib.Path(".gpu_data")
DATASET = "fashion_mnist"
TRAIN, VALIDATION = 50_000, 10_000  # train[:50000], train[50000:]
CONFIG = {
    "dataset": DATASET,
    "teacher": "lenet5_wide",
    "student": "lenet_tiny",
    "train": "train[:50000]",
    "validation": "train[50000:]",
    "epochs": 5,
    "batch_size": 128,
    "jit_compile": True,
    "steps_per_execution": 8,
}
# Seconds on a CPU, for tests: 1,024 training and 512 validation images, one epoch, no XLA.
SMOKE = {
    **CONFIG,
    "train": "train[:1024]",
    "validation": "train[1024:1536]",
    "train_size": 1024,
    "validation_start": 1024,
    "validation_size": 512,
    "epochs": 1,
    "batch_size": 64,
    "jit_compile": False,
}

# The shared part of every arm's recipe (keras_anc.recipe.Recipe keyword arguments).
_SGD = {
    "optimizer": "sgd",
    "learning_rate": 0.1,
    "schedule": "cosine",
    "warmup_epochs": 1.0,
    "weight_decay": 5e-4,
    "global_clipnorm": 10.0,
    "discriminator_learning_rate": 1e-4,
}


def _grid():
    """18 arms per method. The labelled student: learning rate x weight decay. Hinton KD:
    temperature x label weight (alpha) x learning rate. ANC: soft-target temperature x L2
    mimic weight x learning rate (round 4 put weight decay above 5e-4 behind for both)."""
    arms = {}
    for lr in (0.05, 0.1, 0.2):
        for wd in (1e-4, 5e-4, 1e-3, 2e-3, 4e-3, 8e-3):
            arms[f"labels/lr{lr}_wd{wd:g}"] = (
                "labels",
                {**_SGD, "learning_rate": lr, "weight_decay": wd},
                {},
            )
    for lr in (0.05, 0.1):
        for t in (1.0, 2.0, 4.0):
            for alpha in (0.1, 0.3, 0.5):
                arms[f"hinton_kd/lr{lr}_T{t:g}_alpha{alpha}"] = (
                    "hinton_kd",
                    {**_SGD, "learning_rate": lr},
                    {"temperature": t, "alpha": alpha},
                )
    for lr in (0.05, 0.1):
        for t in (1.0, 2.0, 4.0):
            for mimic in (0.03, 0.1, 0.3):
                arms[f"anc/lr{lr}_T{t:g}_mimic{mimic}"] = (
                    "anc",
                    {**_SGD, "learning_rate": lr},
                    {"kd_weight": 1.0, "kd_temperature": t, "mimic_weight": mimic},
                )
    return arms


ARMS = _grid()
# Single-knob probes of ANC's best grid arm, not part of the grid (select with `--arms`).
_ANC = ARMS["anc/lr0.05_T2_mimic0.1"]
PROBES = {
    "anc/lr0.05_T2_mimic0.1_adv0": ("anc", _ANC[1], {**_ANC[2], "adversarial_weight": 0.0}),
    "anc/lr0.05_T2_mimic0.1_adv0.3": ("anc", _ANC[1], {**_ANC[2], "adversarial_weight": 0.3}),
    "anc/lr0.05_T2_mimic0.1_kd2": ("anc", _ANC[1], {**_ANC[2], "kd_weight": 2.0}),
    "anc/lr0.05_T2_mimic0.1_dlr1e-3": (
        "anc",
        {**_ANC[1], "discriminator_learning_rate": 1e-3},
        _ANC[2],
    ),
    "anc/lr0.05_T2_mimic0.1_dsteps2": ("anc", _ANC[1], {**_ANC[2], "discriminator_steps": 2}),
}
SEEDS = (0, 1, 2)


def prepare(folder, cache_dir=None):
    """Writes `fashion_mnist.npz` (uint8 training images and labels) and the accuracy
    benchmark's stored teacher (`teacher.keras`) to `folder`. Needs TensorFlow and TFDS."""
    import shutil

    import numpy as np

    from benchmarks.accuracy import (
        PRESETS,
        TEACHER_BATCH_SIZE,
        TEACHER_LEARNING_RATE,
        stored_teacher,
    )
    from benchmarks.common import load_arrays

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spec = PRESETS["cpu"]["datasets"][DATASET]
    x, y = load_arrays(DATASET, spec["train"])
    _, path, _ = stored_teacher(
        DATASET, spec, (x, y), TEACHER_BATCH_SIZE, TEACHER_LEARNING_RATE, cache_dir, print
    )
    images = np.round(x * 255).astype(np.uint8)
    tmp = folder / f".{os.getpid()}-{DATASET}.npz"
    np.savez_compressed(tmp, x=images, y=y.astype(np.uint8))
    os.replace(tmp, folder / f"{DATASET}.npz")
    tmp = folder / f".{os.getpid()}-teacher.keras"
    shutil.copyfile(path, tmp)
    os.replace(tmp, folder / "teacher.keras")
    print(f"wrote {folder}/{DATASET}.npz and {folder}/teacher.keras (from {path})")


_STATE = {}


def _worker_init(folder, config, compile_cache):
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import jax
    import keras
    import numpy as np

    import keras_anc  # noqa: F401  (registers the zoo's layers for loading the teacher)

    if compile_cache:
        jax.config.update("jax_compilation_cache_dir", str(compile_cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    folder = pathlib.Path(folder)
    with np.load(folder / f"{DATASET}.npz") as data:
        x = data["x"].astype("float32") / 255.0
        y = data["y"].astype("int64")
    train = config.get("train_size", TRAIN)
    start = config.get("validation_start", TRAIN)
    validation = config.get("validation_size", VALIDATION)
    _STATE.update(
        config=config,
        x_train=x[:train],
        y_train=y[:train],
        x_val=x[start : start + validation],
        y_val=y[start : start + validation],
        teacher=keras.saving.load_model(folder / "teacher.keras", compile=False),
    )


def function_matching_views(x, batch_size, seed):
    """A `keras.utils.PyDataset` of label-free views for function matching (Beyer et al.,
    2022), in NumPy: per epoch a seeded shuffle, a random shift of up to 2 pixels, a random
    horizontal flip, then mixup (each image mixed with another of its batch, weight drawn
    from Beta(1, 1))."""
    import keras
    import numpy as np

    class Views(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epoch, self.order = -1, None

        def __len__(self):
            return -(-len(x) // batch_size)

        def on_epoch_begin(self):
            self.epoch += 1
            self.order = np.random.default_rng([seed, self.epoch]).permutation(len(x))

        def __getitem__(self, index):
            if self.order is None:
                self.on_epoch_begin()
            rng = np.random.default_rng([seed, self.epoch, index])
            batch = x[self.order[index * batch_size : (index + 1) * batch_size]]
            n, h, w = batch.shape[:3]
            padded = np.pad(batch, ((0, 0), (2, 2), (2, 2), (0, 0)))
            dy, dx = rng.integers(0, 5, size=(2, n))
            views = np.stack([padded[i, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
            flip = rng.random(n) < 0.5
            views[flip] = views[flip, :, ::-1]
            weight = rng.beta(1.0, 1.0, size=(n, 1, 1, 1)).astype("float32")
            return (weight * views + (1 - weight) * views[rng.permutation(n)],)

    return Views()


def run_arm(arm, seed):
    """Trains one arm for one seed in this worker; returns its validation accuracy record."""
    import keras
    import numpy as np

    from benchmarks.gpu import set_seed
    from keras_anc import methods
    from keras_anc.models import get_model
    from keras_anc.recipe import Recipe

    method, recipe_kwargs, options = {**ARMS, **PROBES}[arm]
    config = _STATE["config"]
    x, y = _STATE["x_train"], _STATE["y_train"]
    set_seed(seed)
    student = get_model(config["student"], input_shape=x.shape[1:], num_classes=10)
    recipe = Recipe(**recipe_kwargs)
    steps = -(-len(x) // config["batch_size"])
    options = dict(options)
    extra = {}
    if "seed" in methods.method_options(method):
        options["seed"] = seed
    if "discriminator_learning_rate" in methods.method_options(method):
        extra["discriminator_optimizer"] = recipe.discriminator_optimizer()
    set_seed(seed)
    model = methods.make_method(
        method,
        _STATE["teacher"],
        student,
        optimizer=recipe.student_optimizer(steps, config["epochs"]),
        jit_compile=config["jit_compile"],
        steps_per_execution=config["steps_per_execution"],
        **extra,
        **options,
    )
    start = time.perf_counter()
    if config.get("function_matching") and not methods.uses_labels(method):
        data = {"x": function_matching_views(x, config["batch_size"], seed)}
    else:
        labels = y if methods.uses_labels(method) else None
        data = {"x": x, "y": labels, "batch_size": config["batch_size"], "shuffle": True}
    model.fit(**data, epochs=config["epochs"], verbose=0)
    seconds = time.perf_counter() - start
    logits = student.predict(_STATE["x_val"], batch_size=1000, verbose=0)
    accuracy = float(np.mean(np.argmax(logits, -1) == _STATE["y_val"]))
    keras.backend.clear_session()
    return {"arm": arm, "seed": seed, "accuracy": accuracy, "seconds": seconds}


def markdown_table(results):
    lines = [
        f"Recipe sweep, {len(results['seeds'])} seeds per arm: {results['teacher']} -> "
        f"{results['student']} on Fashion-MNIST {results['train']}, validation "
        f"{results['validation']}, {results['epochs']} epochs, batch {results['batch_size']}; "
        f"`{results['environment']['command']}`.",
        "",
        "| arm | validation accuracy (mean ± std) | per seed |",
        "|---|---|---|",
    ]
    for arm, record in sorted(results["arms"].items(), key=lambda kv: -kv[1]["mean"]):
        per_seed = ", ".join(f"{a * 100:.2f}" for a in record["accuracy"])
        lines.append(
            f"| {arm} | {record['mean'] * 100:.2f} ± {record['std'] * 100:.2f} | {per_seed} |"
        )
    lines += ["", "Best arm per method (mean over the seeds every arm finished):", ""]
    for method, best in results["best"].items():
        mean = results["arms"][best["arm"]]["mean"]
        lines.append(f"- {method}: `{best['arm']}` ({mean * 100:.2f}%)")
    return "\n".join(lines) + "\n"


def _record(results, outcome):
    import numpy as np

    method, recipe, options = {**ARMS, **PROBES}[outcome["arm"]]
    record = results["arms"].setdefault(
        outcome["arm"],
        {"method": method, "recipe": recipe, "options": options, "seeds": [], "accuracy": []},
    )
    record.setdefault("seconds", []).append(outcome["seconds"])
    record["seeds"].append(outcome["seed"])
    record["accuracy"].append(outcome["accuracy"])
    values = np.asarray(record["accuracy"])
    record["mean"] = float(values.mean())
    record["std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _outcomes(tasks, workers, init, past_deadline):
    """Yields `run_arm(*task)` of each task as it ends: in `workers` spawned processes, or in
    this one, one after the other, with `workers=0`. Once `past_deadline()`, the tasks not yet
    handed to a worker are dropped."""
    if not workers:
        _worker_init(*init)
        for task in tasks:
            if past_deadline():
                return
            yield run_arm(*task)
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=context, initializer=_worker_init, initargs=init
    ) as pool:
        futures = [pool.submit(run_arm, *task) for task in tasks]
        for future in concurrent.futures.as_completed(futures):
            yield future.result()
            if past_deadline():
                for pending in futures:
                    pending.cancel()


def run(
    folder,
    out,
    arms=None,
    seeds=SEEDS,
    workers=4,
    deadline=None,
    compile_cache=None,
    smoke=False,
    epochs=None,
    function_matching=False,
):
    """Runs every (arm, seed) in `workers` processes; writes `out/results.json` as they end."""
    from benchmarks.gpu import environment

    arms = list(arms or ARMS)
    config = dict(SMOKE if smoke else CONFIG)
    if epochs:
        config["epochs"] = epochs
    config["function_matching"] = function_matching
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = {
        "preset": "smoke" if smoke else "fashion_mnist_seeds",
        "environment": environment(),
        **config,
        "seeds": list(seeds),
        "arms": {},
        "best": {},
    }
    started = time.perf_counter()
    # Seed by seed, the methods interleaved: a run cut short by `deadline` has every method's
    # arms on the same seeds.
    position = {a: i % 18 for i, a in enumerate(ARMS)}
    order = sorted(arms, key=lambda a: (position.get(a, 18), a))
    tasks = [(arm, seed) for seed in seeds for arm in order]

    def past_deadline():
        return bool(deadline) and time.perf_counter() - started > deadline

    for outcome in _outcomes(tasks, workers, (folder, config, compile_cache), past_deadline):
        _record(results, outcome)
        elapsed = time.perf_counter() - started
        print(
            f"[{elapsed:5.0f}s] seed {outcome['seed']} {outcome['arm']:32s} "
            f"val {outcome['accuracy'] * 100:.2f}% ({outcome['seconds']:.0f}s)",
            flush=True,
        )
        results["best"] = best_arms(results)
        results["wall_seconds"] = elapsed
        write_text(out / "results.json", json.dumps(results, indent=1))
    write_text(out / "results.md", markdown_table(results))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of --prepare-data")
    parser.add_argument("--prepare-data", action="store_true")
    parser.add_argument("--cache-dir", help="the teacher store (with --prepare-data)")
    parser.add_argument("--out", default="docs/benchmark_results/recipe_sweep_seeds")
    names = sorted({**ARMS, **PROBES})
    parser.add_argument("--arms", nargs="*", choices=names, help="default: the grid")
    parser.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    parser.add_argument("--workers", type=int, default=4, help="0: all in this process")
    parser.add_argument(
        "--deadline", type=float, help="seconds after which no more runs are queued"
    )
    parser.add_argument("--compile-cache", help="JAX's persistent compilation cache folder")
    parser.add_argument("--epochs", type=int, help="override the 5 epochs")
    parser.add_argument(
        "--function-matching",
        action="store_true",
        help="label-free arms train on shifted, flipped, mixed-up views",
    )
    parser.add_argument("--smoke", action="store_true", help="a slice, one epoch (for tests)")
    args = parser.parse_args(argv)
    if args.prepare_data:
        prepare(args.data, args.cache_dir)
        return
    run(
        args.data,
        args.out,
        arms=args.arms,
        seeds=args.seeds,
        workers=args.workers,
        deadline=args.deadline,
        compile_cache=args.compile_cache,
        smoke=args.smoke,
        epochs=args.epochs,
        function_matching=args.function_matching,
    )


if __name__ == "__main__":
    main()
