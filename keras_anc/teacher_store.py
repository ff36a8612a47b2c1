"""`TeacherStore`: trained teachers kept on disk, keyed by how they were trained.

Not to be confused with `keras_anc.teacher_outputs`, which holds a teacher's *outputs* in
memory for one training run.
"""

import contextlib
import hashlib
import json
import os
import pathlib
import re
import warnings

from keras_anc import model_files

# Keras is imported when a model is loaded: the command line reads `default_root()` for
# its `--help` without loading Keras.

ENV_VAR = "KERAS_ANC_CACHE"


def default_root():
    """The store's default root: `$KERAS_ANC_CACHE`, else `~/.cache/keras_anc`."""
    root = os.environ.get(ENV_VAR)
    if not root:
        root = os.path.join(os.path.expanduser("~"), ".cache", "keras_anc")
    return pathlib.Path(root)


class TeacherStore:
    """Trained teachers on disk, one `.keras` file per training configuration.

    Distillation needs a trained teacher, and training the same one again for every run
    wastes minutes. The store keeps each teacher as `<root>/teachers/<prefix>-<digest>.keras`,
    where the digest hashes `key_fields`: everything that determines the trained weights
    (data set, architecture, epochs, seed, ...). Writes are atomic (a temporary file in the
    same folder, then `os.replace`), so a crash never leaves a partial file under the
    final name. A stored file that cannot be loaded (emptied, truncated, written by an
    incompatible Keras) is reported with a warning, deleted and treated as absent, so the
    caller trains the teacher again instead of failing on every later run.

    Args:
        root: Root folder of the store; teachers live in its `teachers/` subfolder.
            Defaults to `default_root()`: `$KERAS_ANC_CACHE`, else `~/.cache/keras_anc`.

    Example:

    ```python
    store = keras_anc.teacher_store.TeacherStore()
    key = {"dataset": "mnist", "model": "lenet5", "epochs": 5, "seed": 0}
    teacher = store.load(key, prefix="mnist-lenet5")
    if teacher is None:
        teacher = train_teacher()  # your training code
        store.save(teacher, key, prefix="mnist-lenet5")
    ```
    """

    def __init__(self, root=None):
        self.root = pathlib.Path(root) if root else default_root()
        self.directory = self.root / "teachers"

    def path_for(self, key_fields, prefix="teacher"):
        """The file that holds the teacher trained with `key_fields`.

        Args:
            key_fields: A dict of JSON values that determines the trained teacher.
            prefix: A readable start of the file name (e.g. `"mnist-lenet5"`); characters
                other than letters, digits, `.`, `_` and `-` become `_`.

        Returns:
            A `pathlib.Path` ending in `.keras`; the file may not exist.
        """
        if not isinstance(key_fields, dict):
            raise ValueError(
                "`key_fields` must be a dict of JSON values (str, int, float, bool, None, "
                f"lists). Received: `key_fields={key_fields!r}`."
            )
        try:
            text = json.dumps(key_fields, sort_keys=True)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"`key_fields` must hold JSON values only ({e}). "
                f"Received: `key_fields={key_fields!r}`."
            ) from None
        digest = hashlib.sha1(text.encode()).hexdigest()[:10]
        safe_prefix = re.sub(r"[^A-Za-z0-9._-]", "_", str(prefix)).lstrip(".") or "teacher"
        return self.directory / f"{safe_prefix}-{digest}.keras"

    def load(self, key_fields, prefix="teacher", compile=False):
        """Loads the stored teacher of `key_fields`, or returns `None` if there is none.

        A stored file that fails to load is deleted (with a warning) and `None` is
        returned, so that the caller trains and saves the teacher again.

        Args:
            key_fields: As for `path_for()`.
            prefix: As for `path_for()`.
            compile: Passed to `keras.saving.load_model`. Defaults to `False`: a teacher
                is only run forward.

        Returns:
            The `keras.Model`, or `None`.
        """
        path = self.path_for(key_fields, prefix)
        if not path.is_file():
            return None
        try:
            return model_files.load_model(path, "stored teacher", compile=compile)
        except Exception as e:  # noqa: BLE001 - any unreadable file is rebuilt the same way
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            warnings.warn(
                f"The stored teacher {path} cannot be loaded ({reason}); "
                "deleting it so that the teacher is trained again.",
                stacklevel=2,
            )
            with contextlib.suppress(OSError):
                path.unlink()
            return None

    def save(self, model, key_fields, prefix="teacher"):
        """Saves `model` as the teacher of `key_fields`, atomically.

        The model is written to a temporary `.keras` file in the store's folder and moved
        to its final name with `os.replace` once complete; on failure the temporary file is
        removed and the error raised, and no file appears under the final name.

        Args:
            model: The trained `keras.Model`.
            key_fields: As for `path_for()`.
            prefix: As for `path_for()`.

        Returns:
            The path written.
        """
        path = self.path_for(key_fields, prefix)
        path.parent.mkdir(parents=True, exist_ok=True)
        return model_files.save_model(model, path)
