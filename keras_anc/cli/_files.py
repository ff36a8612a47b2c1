"""Atomic file writes for the command line (thin names over `keras_anc.atomic`): a temporary
name in the same folder, then `os.replace`, so a crash never leaves a partial file under the
final name."""

from keras_anc import atomic, model_files


def replacing(path):
    """Yields a temporary path beside `path` (ending with its name); moves it onto `path`.

    Example:

    ```python
    with replacing("out/curves.png") as tmp:
        figure.savefig(tmp)
    ```
    """
    return atomic.atomic_path(path)


def write_text(path, text):
    """Writes `text` to `path` atomically and returns the path."""
    return atomic.atomic_write_text(path, text)


def save_model(model, path):
    """Saves a `keras.Model` to a `.keras` `path` atomically and returns the path.

    Refuses (with a `ValueError` naming the variables) a model with NaN or infinite
    weights: such a file would load, but predict nonsense.
    """
    return model_files.save_model(model, path)
