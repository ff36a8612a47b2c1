"""`keras-anc train-teacher`: train a model-zoo teacher with labels."""

import shlex
import time

from keras_anc.cli.commands import _common


def distill_command(config, teacher_path):
    """The `keras-anc distill` command that distils a student from the trained teacher.

    Example:

    ```python
    distill_command({"dataset": "mnist", "data_dir": None}, "runs/t/teacher.keras")
    # 'keras-anc distill --dataset mnist --teacher runs/t/teacher.keras'
    ```
    """
    words = ["keras-anc", "distill", "--dataset", config["dataset"]]
    if config.get("data_dir"):
        words += ["--data-dir", str(config["data_dir"])]
    words += ["--teacher", str(teacher_path)]
    return " ".join(shlex.quote(word) for word in words)


def run(config):
    """Trains `config["model"]` with labels; writes `teacher.keras` and the run files.

    Returns:
        The results dict, also written to `results.json`.
    """
    start = time.perf_counter()
    _common.check_run(config, "train-teacher")  # before any work or folder
    out = _common.prepare_output_dir(config, "train-teacher")
    test_ds = _common.test_stream(config)
    _common.say(config, f"Training teacher {config['model']} on {config['dataset']} ...")
    model, history = _common.fit_teacher(
        config, config["model"], config["epochs"], config["learning_rate"], test_ds
    )
    path = _common.save_model(model, out / "teacher.keras")
    facts = _common.model_facts(model, config["model"])
    facts.update(_common.evaluate_classifier(model, test_ds))
    results = {
        "command": "train-teacher",
        "dataset": config["dataset"],
        "teacher": facts,
        "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
        "wall_time_s": round(time.perf_counter() - start, 2),
        "teacher_path": str(path),
        "next_command": distill_command(config, path),
    }
    _common.write_run_files(
        config,
        out,
        results,
        history,
        f"teacher {config['model']} on {config['dataset']}",
        title_model="teacher",
    )
    return results


def print_summary(results):
    """Prints where the teacher is, its test accuracy and the command that distils from it."""
    print(
        f"Teacher saved to {results['teacher_path']} "
        f"(test accuracy {100 * results['teacher']['accuracy']:.2f}%)."
    )
    print(f"Distil a student from it: {results['next_command']}")
