"""Recipe sweep: the student's optimizer, schedule and method knobs, the same budget per method.

Picks the default recipe (`keras_anc.recipe.DEFAULT_RECIPE`) and each compared method's
tuned setting for the `cpu` preset of `benchmarks.accuracy`, by validation accuracy on a
held-out part of the *training* set (the test set is never looked at). Every method gets the
same number of arms (three shared recipes plus one method-specific variant), the same
teacher (the accuracy benchmark's, from the teacher store), the same student initialization
per seed, the same data, batches and epochs. Writes `results.json` and `results.md`.

Usage:

```
python -m benchmarks.recipe_sweep --out docs/benchmark_results/recipe_sweep
python -m benchmarks.recipe_sweep --smoke --out /tmp/sweep_smoke
```
"""

import argparse
import json
import pathlib
import time

from benchmarks.accuracy import (
    TEACHER_BATCH_SIZE,
    TEACHER_LEARNING_RATE,
    accuracy_of,
    fit_student,
    stored_teacher,
)
from benchmarks.common import environment, load_arrays, write_text

# The shared recipes (keyword arguments of keras_anc.recipe.Recipe).
RECIPES = {
    "adam_constant_1e-3": {"optimizer": "adam", "learning_rate": 1e-3, "schedule": "constant"},
    "adam_cosine_3e-3": {"optimizer": "adam", "learning_rate": 3e-3, "schedule": "cosine"},
    "sgd_cosine_0.05": {
        "optimizer": "sgd",
        "learning_rate": 0.05,
        "schedule": "cosine",
        "weight_decay": 5e-4,
        "global_clipnorm": 10.0,
    },
}

# The ANC options of rounds 1-3 spelled out (the methods' defaults changed since): the
# paper's adversarial + L2 mimic objective, no soft-target term.
_PAPER_ANC = {"kd_weight": 0.0, "mimic_weight": 1.0}

# Arm name -> (method, recipe, method options). Seven arms per method, in three rounds:
# three shared recipes and one variant of the method's own knobs; then a fourth shared
# recipe (SGD at 0.1, after the first round showed SGD ahead for every method) and a second
# variant; then one more variant on the method's best recipe so far.
ARMS = {
    **{f"labels/{r}": ("labels", RECIPES[r], {}) for r in RECIPES},
    "labels/adam_cosine_1e-2": (
        "labels",
        {**RECIPES["adam_cosine_3e-3"], "learning_rate": 1e-2},
        {},
    ),
    **{f"hinton_kd/{r}": ("hinton_kd", RECIPES[r], {}) for r in RECIPES},
    "hinton_kd/adam_cosine_3e-3+T2_alpha0.5": (
        "hinton_kd",
        RECIPES["adam_cosine_3e-3"],
        {"temperature": 2.0, "alpha": 0.5},
    ),
    **{f"anc/{r}": ("anc", RECIPES[r], _PAPER_ANC) for r in RECIPES},
    "anc/adam_cosine_3e-3+D1e-3_mimic5": (
        "anc",
        {**RECIPES["adam_cosine_3e-3"], "discriminator_learning_rate": 1e-3},
        {**_PAPER_ANC, "mimic_weight": 5.0},
    ),
    # Second round.
    **{
        f"{m}/sgd_cosine_0.1": (
            m,
            {**RECIPES["sgd_cosine_0.05"], "learning_rate": 0.1},
            _PAPER_ANC if m == "anc" else {},
        )
        for m in ("labels", "hinton_kd", "anc")
    },
    "labels/sgd_cosine_0.05_wd1e-4": (
        "labels",
        {**RECIPES["sgd_cosine_0.05"], "weight_decay": 1e-4},
        {},
    ),
    "hinton_kd/sgd_cosine_0.05+T2_alpha0.5": (
        "hinton_kd",
        RECIPES["sgd_cosine_0.05"],
        {"temperature": 2.0, "alpha": 0.5},
    ),
    "anc/sgd_cosine_0.05+kd_T4": (
        "anc",
        RECIPES["sgd_cosine_0.05"],
        {"kd_weight": 1.0, "kd_temperature": 4.0, "mimic_weight": 1.0},
    ),
    # Third round: one more arm each, on the method's best recipe so far.
    "labels/sgd_cosine_0.2": ("labels", {**RECIPES["sgd_cosine_0.05"], "learning_rate": 0.2}, {}),
    "hinton_kd/sgd_cosine_0.1+T2_alpha0.5": (
        "hinton_kd",
        {**RECIPES["sgd_cosine_0.05"], "learning_rate": 0.1},
        {"temperature": 2.0, "alpha": 0.5},
    ),
    "anc/sgd_cosine_0.1+kd_T4_mimic0.1": (
        "anc",
        {**RECIPES["sgd_cosine_0.05"], "learning_rate": 0.1},
        {"kd_weight": 1.0, "kd_temperature": 4.0, "mimic_weight": 0.1},
    ),
}

# Round 4, at the accuracy benchmark's full scale (the `cpu_full` preset): eight arms per
# method around the winners of rounds 1-3, on top of the default recipe (SGD-Nesterov 0.05,
# warm-up + cosine, wd 5e-4, clip-norm 10). The labelled student's knobs: learning rate,
# weight decay, Adam; Hinton KD's and ANC's: learning rate, temperature; ANC's also the
# weight of its L2 logit term (`mimic_weight`). The last arm of each: a stronger weight
# decay on the method's best arm of the first seven (wd 1e-3 had lifted the labelled student).
_SGD = {**RECIPES["sgd_cosine_0.05"]}
FULL_ARMS = {
    "labels/sgd_0.1": ("labels", {**_SGD, "learning_rate": 0.1}, {}),
    "labels/sgd_0.05": ("labels", _SGD, {}),
    "labels/sgd_0.15": ("labels", {**_SGD, "learning_rate": 0.15}, {}),
    "labels/sgd_0.2": ("labels", {**_SGD, "learning_rate": 0.2}, {}),
    "labels/sgd_0.1_wd1e-4": ("labels", {**_SGD, "learning_rate": 0.1, "weight_decay": 1e-4}, {}),
    "labels/sgd_0.1_wd1e-3": ("labels", {**_SGD, "learning_rate": 0.1, "weight_decay": 1e-3}, {}),
    "labels/adam_cosine_1e-2": (
        "labels",
        {
            **_SGD,
            "optimizer": "adam",
            "learning_rate": 1e-2,
            "weight_decay": 0.0,
            "global_clipnorm": None,
        },
        {},
    ),
    "hinton_kd/sgd_0.1_T4": ("hinton_kd", {**_SGD, "learning_rate": 0.1}, {}),
    "hinton_kd/sgd_0.1_T2": ("hinton_kd", {**_SGD, "learning_rate": 0.1}, {"temperature": 2.0}),
    "hinton_kd/sgd_0.05_T2": ("hinton_kd", _SGD, {"temperature": 2.0}),
    "hinton_kd/sgd_0.1_T1": ("hinton_kd", {**_SGD, "learning_rate": 0.1}, {"temperature": 1.0}),
    "hinton_kd/sgd_0.1_T3": ("hinton_kd", {**_SGD, "learning_rate": 0.1}, {"temperature": 3.0}),
    "hinton_kd/sgd_0.15_T2": ("hinton_kd", {**_SGD, "learning_rate": 0.15}, {"temperature": 2.0}),
    "hinton_kd/sgd_0.1_T2_alpha0.3": (
        "hinton_kd",
        {**_SGD, "learning_rate": 0.1},
        {"temperature": 2.0, "alpha": 0.3},
    ),
    "anc/sgd_0.05_T4": ("anc", _SGD, {"kd_temperature": 4.0, "mimic_weight": 1.0}),
    "anc/sgd_0.05_T2": ("anc", _SGD, {"kd_temperature": 2.0, "mimic_weight": 1.0}),
    "anc/sgd_0.05_T1": ("anc", _SGD, {"kd_temperature": 1.0, "mimic_weight": 1.0}),
    "anc/sgd_0.1_T2": (
        "anc",
        {**_SGD, "learning_rate": 0.1},
        {"kd_temperature": 2.0, "mimic_weight": 1.0},
    ),
    "anc/sgd_0.05_T2_mimic0.1": ("anc", _SGD, {"kd_temperature": 2.0, "mimic_weight": 0.1}),
    "anc/sgd_0.05_T2_mimic0": ("anc", _SGD, {"kd_temperature": 2.0, "mimic_weight": 0.0}),
    "anc/sgd_0.1_T2_mimic0": (
        "anc",
        {**_SGD, "learning_rate": 0.1},
        {"kd_temperature": 2.0, "mimic_weight": 0.0},
    ),
    # The eighth arm of each method.
    "labels/sgd_0.1_wd2e-3": ("labels", {**_SGD, "learning_rate": 0.1, "weight_decay": 2e-3}, {}),
    "hinton_kd/sgd_0.1_T2_alpha0.3_wd1e-3": (
        "hinton_kd",
        {**_SGD, "learning_rate": 0.1, "weight_decay": 1e-3},
        {"temperature": 2.0, "alpha": 0.3},
    ),
    "anc/sgd_0.05_T2_mimic0.1_wd1e-3": (
        "anc",
        {**_SGD, "weight_decay": 1e-3},
        {"kd_temperature": 2.0, "mimic_weight": 0.1},
    ),
}

PRESETS = {
    # A quarter of Fashion-MNIST's training set for training, its last 10,000 images for
    # validation; the accuracy benchmark's cpu teacher and student.
    "cpu": {
        "dataset": "fashion_mnist",
        "teacher_spec": {"teacher": "lenet5_wide", "train": "train", "teacher_epochs": 12},
        "student": "lenet_tiny",
        "train": "train[:15000]",
        "validation": "train[50000:]",
        "epochs": 4,
        "batch_size": 128,
        "seeds": [0, 1],
        "arms": ARMS,
    },
    # Round 4 at full scale: the accuracy benchmark's cpu pair, schedule (5 epochs) and
    # speed settings on Fashion-MNIST `train[:50000]`, validation on the last 10,000
    # training images; the ANC methods read the teacher's outputs computed once.
    "cpu_full": {
        "dataset": "fashion_mnist",
        "teacher_spec": {"teacher": "lenet5_wide", "train": "train", "teacher_epochs": 12},
        "student": "lenet_tiny",
        "train": "train[:50000]",
        "validation": "train[50000:]",
        "epochs": 5,
        "batch_size": 128,
        "seeds": [0],
        "jit_compile": True,
        "steps_per_execution": 8,
        "cache_teacher": True,
        "arms": FULL_ARMS,
    },
    "smoke": {
        "dataset": "mnist",
        "teacher_spec": {"teacher": "lenet_tiny", "train": "train[:512]", "teacher_epochs": 1},
        "student": "lenet_tiny",
        "train": "train[:256]",
        "validation": "train[1024:1280]",
        "epochs": 1,
        "batch_size": 64,
        "seeds": [0],
        "arms": {a: ARMS[a] for a in ("labels/adam_cosine_3e-3", "anc/adam_cosine_3e-3")},
    },
}


def run(preset, out, cache_dir=None, arms=None, seeds=None, resume=False, log=print):
    """Runs the sweep and writes `results.json` / `results.md` to `out`; returns the results.

    With `resume`, the (arm, seed) runs already in `out/results.json` are kept, not rerun.
    """
    import keras
    import numpy as np

    from keras_anc.models import get_model
    from keras_anc.recipe import Recipe

    config = PRESETS[preset]
    table = config["arms"]
    unknown = sorted(set(arms or ()) - set(table))
    if unknown:
        raise ValueError(
            f"Unknown arms {unknown} for preset {preset!r}: use some of {list(table)}."
        )
    arms = list(arms or table)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    name = config["dataset"]
    spec = config["teacher_spec"]
    teacher_data = load_arrays(name, spec["train"])
    teacher, teacher_path, _ = stored_teacher(
        name, spec, teacher_data, TEACHER_BATCH_SIZE, TEACHER_LEARNING_RATE, cache_dir, log
    )
    del teacher_data
    x, y = load_arrays(name, config["train"])
    x_val, y_val = load_arrays(name, config["validation"])
    previous = out / "results.json"
    done = json.loads(previous.read_text()) if resume and previous.exists() else None
    results = {
        "preset": preset,
        "environment": environment(),
        **{k: v for k, v in config.items() if k not in ("arms", "teacher_spec")},
        "teacher": spec["teacher"],
        "teacher_path": teacher_path,
        "teacher_validation_accuracy": accuracy_of(teacher, x_val, y_val),
        "arms": done["arms"] if done else {},
    }
    for record in results["arms"].values():  # files written before seeds were recorded
        record.setdefault("seeds", list(config["seeds"][: len(record["accuracy"])]))
    for seed in seeds if seeds is not None else config["seeds"]:
        keras.utils.set_random_seed(seed)
        init = get_model(config["student"], input_shape=x.shape[1:], num_classes=10)
        init_weights = init.get_weights()
        for arm in arms:
            method, recipe, options = table[arm]
            if seed in results["arms"].get(arm, {}).get("seeds", []):
                continue  # done by the run this one resumes
            student = get_model(
                config["student"], input_shape=x.shape[1:], num_classes=10, name="student"
            )
            student.set_weights(init_weights)
            seconds, _ = fit_student(
                method,
                teacher,
                student,
                (x, y),
                config["batch_size"],
                config["epochs"],
                seed,
                Recipe(**recipe),
                options,
                jit_compile=config.get("jit_compile", False),
                steps_per_execution=config.get("steps_per_execution", 1),
                cache_teacher=config.get("cache_teacher", False),
            )
            acc = accuracy_of(student, x_val, y_val)
            record = results["arms"].setdefault(
                arm,
                {
                    "method": method,
                    "recipe": Recipe(**recipe).to_dict(),
                    "options": options,
                    "accuracy": [],
                    "seconds": [],
                },
            )
            record["accuracy"].append(acc)
            record["seconds"].append(seconds)
            record.setdefault("seeds", []).append(seed)
            record["mean"] = float(np.mean(record["accuracy"]))
            log(f"seed {seed} {arm:45s} val acc {acc:.4f} ({seconds:.0f}s)")
            results["best"] = best_arms(results)
            _write(results, out, started)
    return results


def best_arms(results):
    """The best arm of each method by mean validation accuracy over the seeds that all of
    that method's arms ran (paired: same student initializations)."""
    import numpy as np

    by_method = {}
    for arm, record in results["arms"].items():
        by_method.setdefault(record["method"], []).append(arm)
    best = {}
    for method, arms in by_method.items():
        common = set.intersection(*(set(results["arms"][a]["seeds"]) for a in arms))

        def paired_mean(arm, common=common):
            record = results["arms"][arm]
            return float(
                np.mean([a for a, s in zip(record["accuracy"], record["seeds"]) if s in common])
            )

        arm = max(arms, key=paired_mean) if common else arms[0]
        best[method] = {
            "arm": arm,
            "seeds": sorted(common),
            "recipe": results["arms"][arm]["recipe"],
            "options": results["arms"][arm]["options"],
        }
    return best


def _write(results, out, started):
    results["wall_seconds"] = time.perf_counter() - started
    write_text(out / "results.json", json.dumps(results, indent=1))
    write_text(out / "results.md", markdown_table(results))


def markdown_table(results):
    """The sweep as Markdown: one row per arm, best arm of each method in bold."""
    best = {b["arm"] for b in results.get("best", {}).values()}
    lines = [
        f"Sweep on `{results['dataset']}` `{results['train']}`, validation "
        f"`{results['validation']}` (teacher {results['teacher']}: "
        f"{results['teacher_validation_accuracy'] * 100:.2f}%), student {results['student']}, "
        f"{results['epochs']} epochs, batch {results['batch_size']}, seeds "
        f"{sorted({s for r in results['arms'].values() for s in r.get('seeds', [])})}.",
        "",
        "| arm | method | validation accuracy (%) per seed | mean | s / run |",
        "|---|---|---|---|---|",
    ]
    for arm, record in results["arms"].items():
        accs = ", ".join(f"{a * 100:.2f}" for a in record["accuracy"])
        mean = f"{record['mean'] * 100:.2f}"
        name = f"**{arm}**" if arm in best else arm
        seconds = sum(record["seconds"]) / len(record["seconds"])
        lines.append(f"| {name} | {record['method']} | {accs} | {mean} | {seconds:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--smoke", action="store_true", help="alias of --preset smoke")
    parser.add_argument("--out", default="docs/benchmark_results/recipe_sweep")
    parser.add_argument("--cache-dir", default=None, help="root of the teacher store")
    parser.add_argument("--arms", nargs="*", help="subset of the arms (default: the preset's)")
    parser.add_argument("--seeds", nargs="*", type=int, help="override the preset's seeds")
    parser.add_argument(
        "--resume", action="store_true", help="keep the runs already in --out/results.json"
    )
    args = parser.parse_args(argv)

    def log(message):
        print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)

    preset = "smoke" if args.smoke else args.preset
    run(preset, args.out, args.cache_dir, args.arms, args.seeds, args.resume, log)


if __name__ == "__main__":
    main()
