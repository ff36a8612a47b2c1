"""Atomic file writes for the command line: a temporary name in the same folder, then
`os.replace`, so a crash never leaves a partial file under the final name."""

import contextlib
import os
import pathlib
import secrets


@contextlib.contextmanager
def replacing(path):
    """Yields a temporary path beside `path` (same suffix); moves it onto `path` on success.

    Example:

    ```python
    with replacing("out/student.keras") as tmp:
        student.save(tmp)
    ```
    """
    path = pathlib.Path(path)
    # Not created here (as `tempfile.mkstemp` would, mode 0600): the writer creates it with
    # the usual permissions.
    tmp = str(path.parent / f".{path.stem}-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path, text):
    """Writes `text` to `path` atomically and returns the path."""
    with replacing(path) as tmp, open(tmp, "x") as f:
        f.write(text)
    return pathlib.Path(path)


def save_model(model, path):
    """Saves a `keras.Model` to a `.keras` `path` atomically and returns the path."""
    with replacing(path) as tmp:
        model.save(tmp)
    return pathlib.Path(path)
