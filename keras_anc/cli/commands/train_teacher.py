"""`keras-anc train-teacher`: train a model-zoo teacher with labels."""

import time

from keras_anc.cli.commands import _common


def run(config):
    """Trains `config["model"]` with labels; writes `teacher.keras` and the run files.

    Returns:
        The results dict, also written to `results.json`.
    """
    start = time.perf_counter()
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
        "wall_time_s": round(time.perf_counter() - start, 2),
        "teacher_path": str(path),
    }
    _common.write_run_files(
        config, out, results, history, f"teacher {config['model']} on {config['dataset']}"
    )
    return results


def print_summary(results):
    """Prints where the teacher is and its test accuracy."""
    print(
        f"Teacher saved to {results['teacher_path']} "
        f"(test accuracy {100 * results['teacher']['accuracy']:.2f}%)."
    )
