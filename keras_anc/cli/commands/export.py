"""`keras-anc export`: a student for TF-Serving (and TFLite), measured on the test split."""

import json
import pathlib

from keras_anc import data as data_lib
from keras_anc import export as export_lib
from keras_anc.cli import config as config_lib
from keras_anc.cli import results as results_lib
from keras_anc.cli import run_dir as run_dir_lib
from keras_anc.cli.commands import _common


def run(config):
    """Exports the student of a run (or a `.keras` file) with a size/accuracy report.

    The SavedModel goes to `--out` (TF-Serving layout: `OUT/<version>/`), the TFLite files
    to the sibling folder `OUT_tflite/` (`tflite_dir`). When the run's `results.json` is
    found, the deployment measurements are added to it under `"deployment"`.

    Returns:
        The results dict: the SavedModel path and, with a dataset, the export report.
    """
    model_path = run_dir_lib.model_file(config["model"])
    run_dir = model_path.parent
    dataset = config.get("dataset")
    run_results_path = run_dir / run_dir_lib.RESULTS_FILE
    run_results = {}
    if run_results_path.is_file():
        run_results = json.loads(run_results_path.read_text())
        dataset = dataset or run_results.get("dataset")
    if dataset:
        _common.require_data(dataset, config.get("data_dir"))
    _check_version(config)
    model = _common.load_model_file(model_path, "student")
    if hasattr(model, "student"):
        model = model.student
    kwargs = {"version": config.get("version"), "overwrite": config.get("overwrite", False)}
    try:
        return _export(config, model, dataset, kwargs, run_results, run_results_path)
    except FileExistsError as e:
        if "version" not in str(e).lower():
            raise
        raise _version_error(e) from None


def tflite_dir(out):
    """Where `keras-anc export --out OUT` writes its TFLite files: the sibling `OUT_tflite`.

    Example:

    ```python
    tflite_dir("models/student")  # PosixPath('models/student_tflite')
    ```
    """
    base = pathlib.Path(out)
    return base.parent / f"{base.name}_tflite"


_VERSION_HINT = (
    "Leave out --version to export the next free version, pass another --version, or add "
    "--overwrite to replace it."
)


def _check_version(config):
    """Fails before any work when `--version` names an existing version without `--overwrite`."""
    version = config.get("version")
    target = pathlib.Path(config["out"]) / str(version)
    if version is not None and target.exists() and not config.get("overwrite"):
        raise config_lib.ConfigError(
            f"Version {version} already exists at {target}. {_VERSION_HINT}"
        )


def _version_error(error):
    """The library's version conflict, in CLI flags (it names `version=` and `overwrite=`)."""
    first = str(error).split(". ")[0].rstrip(".")
    return config_lib.ConfigError(f"{first}. {_VERSION_HINT}")


def _export(config, model, dataset, kwargs, run_results, run_results_path):
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
        model, test, tflite_dir(base), saved_model_path=base, **kwargs
    )
    if run_results_path.is_file():
        run_results["deployment"] = deployment
        results_lib.write_json(run_results, run_results_path)
    return {"command": "export", "dataset": dataset, **deployment}


def print_summary(results):
    """Prints the results as JSON."""
    print(json.dumps(results, indent=2))
