"""Output folders of runs: a new folder for every run, and never over a finished run.

A run is *finished* once its `results.json` is written (after its model, before its
summary, plot and `config.yaml`). Without `--out` a run gets a new folder,
`runs/<command>-<dataset>-<time>` (with `-2`, `-3`, ... when that exists); `--out` may name
a new folder or one without results (an interrupted run), never a finished one. The saved
`config.yaml` holds no `out`, so `keras-anc distill --config runs/<run>/config.yaml` re-runs
into a new folder.

This module imports no Keras or TensorFlow: `keras-anc` checks `--out` before loading them.
"""

import datetime
import pathlib

from keras_anc.cli import config as config_lib

RESULTS_FILE = "results.json"
ROOT = "runs"


def is_finished(path):
    """Whether folder `path` holds a finished run (its `results.json`)."""
    return (pathlib.Path(path) / RESULTS_FILE).is_file()


def check_out(out):
    """Fails with one line when `--out` cannot be a run's folder.

    Args:
        out: The `--out` value, or `None` (a new folder will be made).

    Raises:
        ConfigError: `out` is a file, or a folder holding a finished run.

    Example:

    ```python
    check_out("runs/new")  # fine
    ```
    """
    if not out:
        return
    out = pathlib.Path(out)
    if out.exists() and not out.is_dir():
        raise config_lib.ConfigError(
            f"--out {out} exists and is not a folder. Received: `--out {out}`; "
            "choose another --out."
        )
    if is_finished(out):
        raise config_lib.ConfigError(
            f"--out {out} holds a finished run ({RESULTS_FILE}); keras-anc never overwrites "
            "one. Leave out --out for a new folder, choose another --out, or delete that "
            "folder first."
        )


def _new_folder(command, dataset):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = pathlib.Path(ROOT) / f"{command}-{dataset or 'run'}-{stamp}"
    pathlib.Path(ROOT).mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        path = base if attempt == 1 else base.with_name(f"{base.name}-{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise config_lib.ConfigError(f"Cannot find a free folder name beside {base}; pass --out.")


def create(config, command):
    """Creates the run's folder (`config["out"]`, or a new one) and sets `config["out"]`.

    Args:
        config: The run configuration; its `"out"` is read and set.
        command: The command name, for the default folder name.

    Returns:
        The folder, a `pathlib.Path`.

    Raises:
        ConfigError: the folder holds a finished run or cannot be written.

    Example:

    ```python
    out = create({"out": None, "dataset": "mnist"}, "distill")  # runs/distill-mnist-<time>
    ```
    """
    check_out(config.get("out"))
    try:
        if config.get("out"):
            out = pathlib.Path(config["out"])
            out.mkdir(parents=True, exist_ok=True)
        else:
            out = _new_folder(command, config.get("dataset"))
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        where = config.get("out") or ROOT
        raise config_lib.ConfigError(
            f"Cannot write to output directory {where}: {e.strerror or e}. Choose another --out."
        ) from None
    config["out"] = str(out)
    return out


MODEL_FILES = ("student.keras", "teacher.keras")


def model_file(path):
    """The model file a `--model` value names: the file itself, or a run folder's model.

    A run folder holds `student.keras` (from `distill`) or `teacher.keras` (from
    `train-teacher`); the student is taken when there are both.

    Args:
        path: A `.keras` file or a run folder.

    Returns:
        A `pathlib.Path` (not checked further when `path` is not a folder).

    Raises:
        ConfigError: `path` is a folder without a model file.

    Example:

    ```python
    model_file("runs/distill-mnist-20250101-120000")  # .../student.keras
    ```
    """
    path = pathlib.Path(path)
    if not path.is_dir():
        return path
    for name in MODEL_FILES:
        if (path / name).is_file():
            return path / name
    raise config_lib.ConfigError(
        f"--model {path} is a folder without {' or '.join(MODEL_FILES)}. Pass a run folder "
        "of `keras-anc distill` or `keras-anc train-teacher`, or a `.keras` file. "
        f"Received: `--model {path}`."
    )
