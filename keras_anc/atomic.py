"""Atomic file writes: a temporary name in the same folder, then `os.replace`.

A process killed while writing (SIGKILL, out of memory, a pre-empted machine) leaves either
the previous file or the complete new one under the final name, never a partial one that
breaks the next run. The temporary name is hidden (`.tmp-<pid>-<random>.<name>`) and ends
with the final name, so writers that check a suffix (`model.save` wants `.keras`,
`save_weights` wants `.weights.h5`, `savefig` reads the format from it) accept it. The data
are flushed to disk (`fsync`) before the rename and the folder after it, so the guarantee
also holds across a power loss on file systems that honour `fsync`.

A process killed mid-write may leave its hidden temporary file behind; it is never read
under the final name and can be deleted at any time.
"""

import contextlib
import os
import pathlib
import secrets

TEMP_PREFIX = ".tmp-"


def temporary_name(path):
    """A unique hidden path beside `path` that ends with `path`'s name (not created).

    Args:
        path: The final path.

    Returns:
        A `pathlib.Path` in the same folder, e.g. `.tmp-4242-1f2e3d4c.student.keras`.

    Example:

    ```python
    temporary_name("runs/r/student.keras")  # runs/r/.tmp-4242-1f2e3d4c.student.keras
    ```
    """
    path = pathlib.Path(path)
    return path.parent / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}.{path.name}"


def _fsync_file(path):
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_folder(folder):
    # Not possible on every platform (Windows cannot open a folder): best effort.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path to write; moves it onto `path` when the block succeeds.

    The block writes a regular file at the yielded path (with any writer). On success the
    file is flushed to disk and renamed onto `path` in one step (`os.replace`); if the block
    raises, the temporary file is removed, `path` is left as it was, and the error is
    raised. The folder of `path` must exist.

    Args:
        path: The final path of the file.

    Yields:
        The temporary path, as a `str`.

    Example:

    ```python
    with keras_anc.atomic.atomic_path("runs/r/curves.png") as tmp:
        figure.savefig(tmp)
    ```
    """
    path = pathlib.Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"Cannot write a file over the directory '{path}'. Pass a file path. "
            f"Received: `path='{path}'`."
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"The folder of '{path}' does not exist. Create '{path.parent}' first. "
            f"Received: `path='{path}'`."
        )
    # Not created here (as `tempfile.mkstemp` would, with mode 0600): the writer creates
    # it with the usual permissions.
    tmp = temporary_name(path)
    try:
        yield str(tmp)
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(path.parent)


def atomic_write_bytes(path, data):
    """Writes `data` (bytes) to `path` atomically and returns the path.

    Example:

    ```python
    keras_anc.atomic.atomic_write_bytes("student.tflite", flatbuffer)
    ```
    """
    with atomic_path(path) as tmp, open(tmp, "xb") as f:
        f.write(data)
    return pathlib.Path(path)


def atomic_write_text(path, text, encoding="utf-8"):
    """Writes `text` to `path` atomically and returns the path.

    Example:

    ```python
    keras_anc.atomic.atomic_write_text("runs/r/results.json", json.dumps(results))
    ```
    """
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_save_model(model, path, **save_kwargs):
    """Saves a Keras model to `path` (`.keras`) atomically and returns the path.

    Args:
        model: A `keras.Model`.
        path: The final `.keras` path.
        **save_kwargs: Passed to `model.save` (e.g. `include_optimizer=False`).

    Example:

    ```python
    keras_anc.atomic.atomic_save_model(distiller.student, "runs/r/student.keras")
    ```
    """
    with atomic_path(path) as tmp:
        model.save(tmp, **save_kwargs)
    return pathlib.Path(path)
