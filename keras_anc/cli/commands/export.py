"""`keras-anc export`: a student for TF-Serving (and TFLite), measured on the test split."""

import json
import pathlib

from keras_anc import data as data_lib
from keras_anc import export as export_lib
from keras_anc.cli import results as results_lib
from keras_anc.cli.commands import _common


def run(config):
    """Exports the student of a run (or a `.keras` file) with a size/accuracy report.

    When the run's `results.json` is found, the deployment measurements are added to it
    under `"deployment"`.

    Returns:
        The results dict: the SavedModel path and, with a dataset, the export report.
    """
    model_path = pathlib.Path(config["model"])
    run_dir = None
    if model_path.is_dir():
        run_dir = model_path
        model_path = model_path / "student.keras"
    model = _common.load_model_file(model_path, "student")
    if hasattr(model, "student"):
        model = model.student
    run_dir = run_dir or model_path.parent
    dataset = config.get("dataset")
    run_results_path = run_dir / "results.json"
    run_results = {}
    if run_results_path.is_file():
        run_results = json.loads(run_results_path.read_text())
        dataset = dataset or run_results.get("dataset")
    kwargs = {"version": config.get("version"), "overwrite": config.get("overwrite", False)}
    if not dataset:
        path = export_lib.export_student(model, config["out"], **kwargs)
        return {"command": "export", "saved_model": {"path": str(path)}}

    info = data_lib.info(dataset, data_dir=config.get("data_dir"))
    if info.class_names:
        kwargs["class_names"] = list(info.class_names)
    if config.get("raw_uint8", True):
        kwargs["preprocessing"] = {"mean": list(info.mean), "std": list(info.std)}
        test = data_lib.raw(
            dataset, "test", take=config.get("test_examples"), data_dir=config.get("data_dir")
        )
    else:
        test = data_lib.load(
            dataset,
            "test",
            training=False,
            take=config.get("test_examples"),
            data_dir=config.get("data_dir"),
        )
    base = pathlib.Path(config["out"])
    if not config.get("tflite", True):
        path = export_lib.export_student(model, base, **kwargs)
        return {"command": "export", "saved_model": {"path": str(path)}}
    deployment = export_lib.export_report(
        model, test, base.parent / f"{base.name}_tflite", saved_model_path=base, **kwargs
    )
    if run_results_path.is_file():
        run_results["deployment"] = deployment
        results_lib.write_json(run_results, run_results_path)
    return {"command": "export", "dataset": dataset, **deployment}


def print_summary(results):
    """Prints the results as JSON."""
    print(json.dumps(results, indent=2))
