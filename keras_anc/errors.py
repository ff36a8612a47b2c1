"""The exception types keras-anc raises beyond Keras' own."""

import keras


class UnsupportedBackendError(NotImplementedError):
    """A feature was used on a Keras backend that cannot run it.

    Raised, for example, when SavedModel export is asked for without TensorFlow
    installed. The message names the backend and what to do.

    Example:

    ```python
    try:
        keras_anc.export.export_student(student, "models/student")
    except keras_anc.errors.UnsupportedBackendError as e:
        print(e)
    ```
    """


def require_tensorflow(feature):
    """Imports and returns `tensorflow`, or raises a clear error naming `feature`.

    Args:
        feature: What needs TensorFlow, as a short phrase for the message
            (e.g. `"keras_anc.data (tf.data pipelines)"`).

    Returns:
        The `tensorflow` module.
    """
    try:
        import tensorflow as tf
    except ImportError:
        raise UnsupportedBackendError(
            f"{feature} needs TensorFlow, which is not installed (Keras backend: "
            f"{keras.backend.backend()!r}). Install it with `pip install tensorflow` "
            "(or `pip install keras-anc` for the full install)."
        ) from None
    return tf
