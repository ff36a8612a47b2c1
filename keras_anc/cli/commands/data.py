"""`keras-anc data`: prepare TFDS data sets (also offline) and list what is prepared.

`keras-anc data prepare NAME --from FOLDER` prepares a data set from its files as published,
downloaded by hand into FOLDER (TFDS's manual-download path: no network is used);
without `--from`, TFDS downloads them. `--data-dir` (default: `TFDS_DATA_DIR`, else
`~/tensorflow_datasets`) is the TFDS data directory to prepare into, the one the other
commands read with the same `--data-dir`. `keras-anc data list` shows what is prepared
there, without loading TensorFlow.
"""

import os
import pathlib

from keras_anc.cli import config as config_lib
from keras_anc.cli import data_dir as data_dir_lib


def run(config):
    """Runs `data prepare` or `data list`.

    Args:
        config: `{"action": "prepare" | "list", "name", "manual_dir", "data_dir"}`.

    Returns:
        The results dict that `print_summary` prints.
    """
    if config["action"] == "list":
        return list_prepared(config.get("data_dir"))
    return prepare(config["name"], config.get("data_dir"), config.get("manual_dir"))


def list_prepared(data_dir=None):
    """The data sets prepared in the TFDS data directory, and the known ones that are not.

    Example:

    ```python
    list_prepared("/data/tfds")["datasets"][0]["name"]  # 'cifar10'
    ```
    """
    found = data_dir_lib.prepared(data_dir)
    names = {d.name for d in found}
    return {
        "command": "data list",
        "data_dir": data_dir_lib.describe(data_dir),
        "datasets": [
            {"name": d.name, "version": d.version, "path": str(d.path), "splits": d.splits}
            for d in found
        ],
        "not_prepared": [n for n in data_dir_lib.KNOWN_TFDS_NAMES if n not in names],
        "data_dir_flag": data_dir,
    }


def _check_from(builder, name, folder):
    """One-line errors, in CLI terms, for a `--from` folder that cannot work."""
    path = pathlib.Path(folder).expanduser()
    if not path.is_dir():
        raise config_lib.ConfigError(
            f"--from must be an existing folder holding the files of {name!r} downloaded by "
            f"hand. Received: `--from {folder}`."
        )
    expected = {url: info for url, info in (builder.url_infos or {}).items() if info.filename}
    missing = {
        url: info.filename for url, info in expected.items() if not (path / info.filename).is_file()
    }
    if missing:
        raise config_lib.ConfigError(
            f"--from {folder} lacks {', '.join(sorted(missing.values()))}, the files TFDS "
            f"prepares {name!r} from. Download them, unmodified, from "
            f"{', '.join(sorted(missing))} into that folder, or pass the folder that holds them."
        )


def _download_refused(builder, name, data_dir):
    from keras_anc.data import tfds_source

    files = {url: info.filename or url for url, info in (builder.url_infos or {}).items()}
    if os.environ.get(tfds_source.OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no"):
        reason = f"downloads are off ({tfds_source.OFFLINE_ENV} is set)"
    else:
        reason = "its download hosts did not answer (no network?)"
    what = (
        f"{', '.join(sorted(files.values()))} from {', '.join(sorted(files))}"
        if files
        else "its files (see its page in the TFDS catalogue)"
    )
    command = data_dir_lib.prepare_command(name, data_dir)
    return config_lib.ConfigError(
        f"Cannot download {name!r}: {reason}. Download {what} by hand into a folder FOLDER "
        f"and run `{command} --from FOLDER`."
    )


def prepare(name, data_dir=None, manual_dir=None):
    """Prepares data set `name` in the TFDS data directory (from `manual_dir` when given).

    Example:

    ```python
    prepare("mnist", "/data/tfds", "~/Downloads/mnist")["path"]  # '/data/tfds/mnist/3.0.1'
    ```
    """
    results = {"command": "data prepare", "name": name, "data_dir_flag": data_dir}
    if name == data_dir_lib.SAMPLE_NAME:
        return {**results, "path": None, "already_prepared": True}
    from keras_anc import data as data_lib
    from keras_anc.data import tfds_source

    try:
        builder = tfds_source.tfds_builder(name, data_dir)
    except ValueError as e:
        if data_dir_lib.is_unknown_name_error(e):
            message = data_dir_lib.unknown_name_message(name, f"data prepare {name}")
            raise config_lib.ConfigError(message) from None
        raise
    results["data_dir"] = data_dir_lib.describe(data_dir)
    if data_lib.is_prepared(name, data_dir):
        return {
            **results,
            "path": data_lib.require_prepared(name, data_dir),
            "already_prepared": True,
        }
    if manual_dir is not None:
        _check_from(builder, name, manual_dir)
    try:
        path = data_lib.prepare(name, data_dir=data_dir, manual_dir=manual_dir)
    except data_lib.DatasetNotPreparedError:
        if manual_dir is not None:
            raise  # a file that differs from the published one: the message says which
        raise _download_refused(builder, name, data_dir) from None
    return {**results, "path": path, "already_prepared": False}


def print_summary(results):
    """Prints what was prepared and how to use it, or the table of prepared data sets."""
    if results["command"] == "data list":
        _print_list(results)
        return
    name = results["name"]
    if results["path"] is None:
        print(f"{name!r} is embedded in keras-anc: there is nothing to prepare.")
        return
    done = "is already prepared" if results["already_prepared"] else "is prepared"
    print(f"{name!r} {done} in {results['path']}.")
    flag = results.get("data_dir_flag")
    use = f"keras-anc distill --dataset {name}" + (f" --data-dir {flag}" if flag else "")
    print(f"Use it: {use}")


_SPLIT_ORDER = {"train": 0, "validation": 1, "test": 2}


def _print_list(results):
    print(f"TFDS data directory: {results['data_dir']}")
    rows = [("mnist_sample", "embedded", "train 6,000, test 1,000")]
    for d in results["datasets"]:
        order = sorted(d["splits"], key=lambda s: (_SPLIT_ORDER.get(s, len(_SPLIT_ORDER)), s))
        splits = ", ".join(f"{split} {d['splits'][split]:,}" for split in order)
        rows.append((d["name"], d["version"], splits or "?"))
    header = ("data set", "version", "examples")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(2)]
    print()
    for row in [header, *rows]:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}")
    if results["not_prepared"]:
        command = data_dir_lib.prepare_command("NAME", results.get("data_dir_flag"))
        print(
            f"\nNot prepared there: {', '.join(results['not_prepared'])} "
            f"(`{command} [--from FOLDER]`)."
        )
