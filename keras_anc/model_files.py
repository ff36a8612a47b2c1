"""Reading and writing `.keras` model files with errors that say what is wrong.

`keras.saving.load_model` reports an empty, truncated or garbage `.keras` file as "File not
found", and a model that uses an unregistered custom layer as "`Functional` could not be
deserialized properly" with the class name buried in a long dump of its configuration.
`load_model(path, role)` checks the file first and turns those failures into one line that
names the file, the problem and the fix. `save_model(model, path)` writes atomically and
refuses weights that are NaN or infinite, so a diverged model never reaches a file.

Keras is imported on first use: the command line reads this module without loading it.
"""

import pathlib
import re
import zipfile

import numpy as np

from keras_anc import atomic

_MISSING_CLASS = re.compile(r"Could not locate (class|function) '([^']+)'")
# A `.keras` file is a zip archive holding these (Keras 3).
_ARCHIVE_MEMBERS = ("metadata.json", "config.json")


def _corrupt(path, role, what):
    return ValueError(
        f"Cannot load the {role} from '{path}': the file {what}, so it is not a loadable Keras "
        "model file (an interrupted write or the wrong file?). Delete it and save or train the "
        "model again."
    )


def check_model_file(path, role="model"):
    """Raises a clear error if `path` cannot be a `.keras` model file; returns the path.

    Cheap checks only (existence, size, zip structure and the archive's member names):
    `load_model()` runs the full integrity check when loading fails.

    Args:
        path: The file.
        role: What the file should hold, for the message (`"teacher"`, `"student"`, ...).

    Raises:
        FileNotFoundError: `path` does not exist.
        IsADirectoryError: `path` is a folder.
        ValueError: the file is empty, not a zip archive, or lacks Keras' members.

    Example:

    ```python
    keras_anc.model_files.check_model_file("runs/r/student.keras", "student")
    ```
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"Cannot load the {role} from '{path}': the file does not exist. Check the path."
        )
    if path.is_dir():
        raise IsADirectoryError(
            f"Cannot load the {role} from '{path}': it is a folder, not a `.keras` file (a "
            "SavedModel folder cannot be loaded as a Keras model). Pass the `.keras` file the "
            "model was saved to."
        )
    if path.suffix != ".keras":
        return path  # legacy `.h5` and other formats: Keras checks them itself
    size = path.stat().st_size
    if size == 0:
        raise _corrupt(path, role, "is empty (0 bytes)")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(8)
        if head.startswith(b"PK\x03\x04"):
            what = f"is a truncated zip archive ({size} bytes; the end of it is missing)"
        else:
            what = f"is not a zip archive as `.keras` files are ({size} bytes, {head!r}...)"
        raise _corrupt(path, role, what)
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError) as e:
        raise _corrupt(path, role, f"is a damaged zip archive ({e})") from None
    missing = [name for name in _ARCHIVE_MEMBERS if name not in names]
    if missing:
        raise _corrupt(path, role, f"is a zip archive without Keras' {', '.join(missing)}")
    return path


def _registered_names(path, class_name):
    """`registered_name`s of `class_name` in the archive's `config.json` (best effort)."""
    try:
        with zipfile.ZipFile(path) as archive:
            text = archive.read("config.json").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return []
    pattern = (
        r'"class_name":\s*"' + re.escape(class_name) + r'".{0,4000}?"registered_name":\s*"([^"]+)"'
    )
    return sorted({m for m in re.findall(pattern, text, flags=re.S) if m != class_name})


def _explain(error, path, role):
    """A one-line message for an exception raised by `keras.saving.load_model`."""
    text = str(error)
    found = _MISSING_CLASS.search(text)
    if found:
        kind, name = found.groups()
        registered = _registered_names(path, name) if kind == "class" else []
        as_text = f" (registered as {', '.join(map(repr, registered))})" if registered else ""
        return (
            f"Cannot load the {role} from '{path}': it uses the custom {kind} "
            f"`{name}`{as_text}, which is not known in this process. Import the module that "
            f"defines it before loading (the {kind} must be decorated with "
            "`@keras.saving.register_keras_serializable()`), or pass "
            f"`custom_objects={{'{name}': {name}}}`."
        )
    if str(path).endswith(".keras"):
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError) as e:
            bad = f"({e})"
        if bad is not None:
            return str(_corrupt(path, role, f"is corrupt: member {bad} fails its checksum"))
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(first) > 300:
        first = first[:300] + " ..."
    return (
        f"Cannot load the {role} from '{path}': {type(error).__name__}: {first} (expected a "
        "model saved with `model.save('....keras')` by a compatible Keras)."
    )


def load_model(path, role="model", **load_kwargs):
    """Loads a saved Keras model, with a one-line error that says what went wrong.

    Args:
        path: A `.keras` file (or another format `keras.saving.load_model` reads).
        role: What the file holds, for the messages (`"teacher"`, `"student"`, ...).
        **load_kwargs: Passed to `keras.saving.load_model` (`compile`, `custom_objects`,
            `safe_mode`).

    Returns:
        The `keras.Model`.

    Raises:
        FileNotFoundError: `path` does not exist.
        IsADirectoryError: `path` is a folder.
        ValueError: the file is empty, truncated, corrupt or not a Keras file, uses a
            custom class that is not registered (the message names it), or fails to load
            for another reason (the message gives Keras' first line).

    Example:

    ```python
    teacher = keras_anc.model_files.load_model("runs/t56/teacher.keras", "teacher")
    ```
    """
    path = check_model_file(path, role)
    import keras

    try:
        return keras.saving.load_model(path, **load_kwargs)
    except Exception as e:  # noqa: BLE001 - every failure gets the same kind of message
        raise ValueError(_explain(e, path, role)) from e


def non_finite_weights(variables):
    """Paths of the floating-point variables that hold a NaN or an infinity.

    Args:
        variables: Keras variables (e.g. `model.weights`).

    Returns:
        A list of variable paths; empty when every value is finite.

    Example:

    ```python
    bad = keras_anc.model_files.non_finite_weights(student.weights)  # ["dense/kernel"]
    ```
    """
    from keras import ops

    bad = []
    for variable in variables:
        if "float" not in str(variable.dtype):
            continue
        if not np.all(np.isfinite(ops.convert_to_numpy(variable))):
            bad.append(variable.path)
    return bad


def save_model(model, path, allow_non_finite=False, **save_kwargs):
    """Saves `model` to a `.keras` file atomically, refusing non-finite weights.

    The file is written under a temporary name in the same folder and renamed into place
    (`keras_anc.atomic.atomic_save_model`), so a kill never leaves a partial file.

    Args:
        model: A `keras.Model`.
        path: The final `.keras` path.
        allow_non_finite: Save even if some weights are NaN or infinite. Defaults to
            `False`, which raises a `ValueError` naming them and writes nothing.
        **save_kwargs: Passed to `model.save`.

    Returns:
        The path written, as a `pathlib.Path`.

    Example:

    ```python
    keras_anc.model_files.save_model(distiller.student, "runs/r/student.keras")
    ```
    """
    if not allow_non_finite:
        bad = non_finite_weights(model.weights)
        if bad:
            shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            raise ValueError(
                f"Not saving model '{model.name}' to '{path}': weights {shown} hold NaN or "
                "infinite values (training diverged or the data held NaN/Inf; see "
                "keras_anc.callbacks.NonFiniteGuard). Check the input data and the learning "
                "rate, or pass `allow_non_finite=True` to save it anyway."
            )
    return atomic.atomic_save_model(model, path, **save_kwargs)
