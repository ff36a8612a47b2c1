"""`keras-anc evaluate`: accuracy of a saved model on a dataset split."""

import json

from keras_anc.cli import run_dir
from keras_anc.cli.commands import _common


def run(config):
    """Evaluates a saved model (a student, a teacher, or a whole distiller) on a split.

    `config["model"]` is a `.keras` file or a run folder (its `student.keras`, else its
    `teacher.keras`).

    Returns:
        The results dict: accuracy and loss (of student and teacher, for a distiller).
    """
    path = run_dir.model_file(config["model"])
    _common.require_data(config["dataset"], config.get("data_dir"))
    model = _common.load_model_file(path, "model")
    test_ds = _common.test_stream(config, split=config["split"])
    results = {
        "command": "evaluate",
        "model": str(path),
        "split": config["split"],
        "dataset": config["dataset"],
    }
    if hasattr(model, "student") and hasattr(model, "teacher"):
        results["student"] = _common.evaluate_classifier(model.student, test_ds)
        results["teacher"] = _common.evaluate_classifier(model.teacher, test_ds)
    else:
        results.update(_common.evaluate_classifier(model, test_ds))
        results["params"] = int(model.count_params())
    return results


def print_summary(results):
    """Prints the results as JSON."""
    print(json.dumps(results, indent=2))
