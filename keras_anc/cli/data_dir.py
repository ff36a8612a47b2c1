"""The TFDS data directory as the command line sees it, read without TensorFlow.

Importing TensorFlow takes seconds; these look-ups read only the folder layout TFDS writes
(`<data_dir>/<name>/[<config>/]<version>/dataset_info.json`), so `keras-anc data list` and
the check that a run's data set is prepared answer at once. A data set found here is then
checked exactly by `keras_anc.data` (its version, its splits) before a run starts.

This module imports no Keras, TensorFlow or TFDS.
"""

import dataclasses
import difflib
import json
import os
import pathlib

from keras_anc.cli import config as config_lib

SAMPLE_NAME = "mnist_sample"
# The TFDS names keras-anc has recipes for (`keras_anc.data.KNOWN_DATASETS` without the
# embedded sample; a test keeps the two equal). A name outside this list that is not on disk
# is left to TFDS, which knows whether it exists.
KNOWN_TFDS_NAMES = ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn_cropped")
ENV_VAR = "TFDS_DATA_DIR"
DEFAULT_DIR = "~/tensorflow_datasets"


@dataclasses.dataclass(frozen=True)
class PreparedDataset:
    """A data set found prepared in a TFDS data directory.

    Args:
        name: The TFDS name (with `/<config>` for a configured data set).
        version: The version folder, e.g. `"3.0.1"`.
        path: The version folder.
        splits: `{split name: number of examples}` from `dataset_info.json`.
    """

    name: str
    version: str
    path: pathlib.Path
    splits: dict


def resolve(data_dir=None):
    """The TFDS data directory a run reads and where that setting came from.

    Args:
        data_dir: The `--data-dir` value, if any.

    Returns:
        `(path, source)`, `source` being `"--data-dir"`, `"TFDS_DATA_DIR"` or `"default"`.

    Example:

    ```python
    path, source = resolve(None)  # (PosixPath('/home/me/tensorflow_datasets'), 'default')
    ```
    """
    if data_dir:
        return pathlib.Path(data_dir).expanduser(), "--data-dir"
    if os.environ.get(ENV_VAR):
        return pathlib.Path(os.environ[ENV_VAR]).expanduser(), ENV_VAR
    return pathlib.Path(DEFAULT_DIR).expanduser(), "default"


def describe(data_dir=None):
    """`'/data/tfds (from TFDS_DATA_DIR)'`: the data directory and where it came from."""
    path, source = resolve(data_dir)
    origin = {
        "--data-dir": "from --data-dir",
        ENV_VAR: f"from {ENV_VAR}",
        "default": f"the default; {ENV_VAR} is not set",
    }[source]
    return f"{path} ({origin})"


def _splits(info_file):
    try:
        info = json.loads(info_file.read_text())
        return {
            split["name"]: sum(int(n) for n in split.get("shardLengths", []))
            for split in info.get("splits", [])
        }
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _is_version(name):
    parts = name.split(".")
    return len(parts) == 3 and all(part.isdigit() for part in parts)


def _version_key(version):
    return tuple(int(part) for part in version.split("."))


def prepared(data_dir=None):
    """Every data set prepared in the data directory, newest version of each.

    Args:
        data_dir: The `--data-dir` value, if any (else `TFDS_DATA_DIR`, else the default).

    Returns:
        A list of `PreparedDataset`, sorted by name.

    Example:

    ```python
    [d.name for d in prepared("/data/tfds")]  # ['cifar10', 'mnist']
    ```
    """
    root, _ = resolve(data_dir)
    if not root.is_dir():
        return []
    found = {}
    for info_file in sorted(root.glob("*/*/dataset_info.json")) + sorted(
        root.glob("*/*/*/dataset_info.json")
    ):
        version_dir = info_file.parent
        if not _is_version(version_dir.name):
            continue  # e.g. an unfinished `3.0.1.incompleteXYZ` folder
        name = version_dir.parent.relative_to(root).as_posix()
        if name.startswith("downloads"):
            continue
        entry = PreparedDataset(name, version_dir.name, version_dir, _splits(info_file))
        if name not in found or _version_key(entry.version) > _version_key(found[name].version):
            found[name] = entry
    return [found[name] for name in sorted(found)]


def is_on_disk(name, data_dir=None):
    """Whether some version of data set `name` is prepared in the data directory."""
    if name == SAMPLE_NAME:
        return True
    base = name.split(":")[0]
    return any(d.name == base or d.name.startswith(base + "/") for d in prepared(data_dir))


def prepare_command(name, data_dir=None):
    """The `keras-anc data prepare` command for `name` in the run's data directory."""
    command = f"keras-anc data prepare {name}"
    if data_dir:
        command += f" --data-dir {data_dir}"
    return command


def not_prepared_message(name, data_dir=None):
    """The one-line error for a data set that is not prepared in the data directory.

    Example:

    ```python
    not_prepared_message("mnist")
    ```
    """
    hint = ""
    close = difflib.get_close_matches(name, (SAMPLE_NAME, *KNOWN_TFDS_NAMES), n=1)
    if name not in KNOWN_TFDS_NAMES and close:
        hint = f" (did you mean {close[0]!r}?)"
    return (
        f"Data set {name!r}{hint} is not prepared in the TFDS data directory "
        f"{describe(data_dir)}. Prepare it there with `{prepare_command(name, data_dir)}` "
        "(downloads it; offline, add `--from FOLDER` holding its files downloaded by hand), "
        f"or point --data-dir or {ENV_VAR} at a TFDS data directory that holds it. "
        f"`--dataset {SAMPLE_NAME}` needs no data."
    )


def check(name, data_dir=None):
    """Fails at once when a data set keras-anc knows is not prepared.

    Names TFDS may know but keras-anc does not are left to `keras_anc.data`, which tells an
    unknown name from an unprepared one.

    Raises:
        ConfigError: One line naming the data directory, `--data-dir`, `TFDS_DATA_DIR` and
            the `keras-anc data prepare` command.

    Example:

    ```python
    check("mnist", data_dir="/data/tfds")
    ```
    """
    if name in KNOWN_TFDS_NAMES and not is_on_disk(name, data_dir):
        raise config_lib.ConfigError(not_prepared_message(name, data_dir))


def unknown_name_message(name, received=None):
    """The one-line error for a data set name TFDS does not know.

    Args:
        name: The name.
        received: How the user gave it; default `--dataset NAME`.

    Example:

    ```python
    unknown_name_message("mnsit")  # "Unknown dataset name 'mnsit' (did you mean 'mnist'?). ..."
    ```
    """
    close = difflib.get_close_matches(str(name), (SAMPLE_NAME, *KNOWN_TFDS_NAMES), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"Unknown dataset name {name!r}{hint}. keras-anc has recipes for {SAMPLE_NAME} "
        f"(embedded), {', '.join(KNOWN_TFDS_NAMES)}; any other TensorFlow Datasets "
        "image-classification name with `image` and `label` features works too, once prepared "
        "(see https://www.tensorflow.org/datasets/catalog/overview). "
        f"Received: `{received or f'--dataset {name}'}`."
    )


def is_unknown_name_error(error):
    """Whether `error` is `keras_anc.data`'s error for a name TFDS does not know."""
    return isinstance(error, ValueError) and str(error).startswith("Unknown dataset name")
