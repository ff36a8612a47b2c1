"""TFLite (LiteRT) export of a student, and accuracy of a `.tflite` file.

`export_tflite()` writes a `.tflite` flatbuffer (float32, dynamic-range quantised or float16
weights) whose `serving_default` signature is the one `export_student()` gives TF-Serving: input
`"images"`, outputs `"logits"`, `"probabilities"`, `"class_id"` and optionally `"class_name"`,
with the same baked-in preprocessing. `evaluate_tflite()` runs a file through the TFLite
interpreter on labelled images.

Why not `model.export(path, format="litert")`: Keras 3.15.1 (checked) has that format, and it
takes the same route as this module (`keras.export.ExportArchive` -> SavedModel ->
`tf.lite.TFLiteConverter.from_saved_model`), but it exports the bare `model.__call__`. Its
signature's input is named after the Keras input tensor (e.g. `"keras_tensor"`, which changes
with the model) and its only output is `"output_0"`; there is no place for the
`probabilities`/`class_id`/`class_name` outputs, for preprocessing baked in behind a raw `uint8`
input, or for a signature identical to the SavedModel's. Quantisation is not what it lacks
(converter attributes such as `optimizations=[tf.lite.Optimize.DEFAULT]` pass through), but it
also enables `SELECT_TF_OPS`, so a model with an op outside the TFLite builtins silently becomes a
file that needs the Flex delegate instead of failing at conversion, and it writes the file in
place rather than atomically. So this module keeps Keras' route and gives it the serving function
of `keras_anc.export.signature`.

Reference:
    [LiteRT post-training quantization](https://ai.google.dev/edge/litert/models/post_training_quantization)
"""

import pathlib
import tempfile
import warnings

import numpy as np

from keras_anc import atomic
from keras_anc.errors import require_tensorflow
from keras_anc.export._data import labelled_batches
from keras_anc.export.saved_model import write_saved_model
from keras_anc.export.signature import SIGNATURE_KEY, ServingPlan, resolve_signature

TFLITE_QUANTIZATIONS = (None, "dynamic_range", "float16")


def check_quantization(quantization, received=None):
    """Raises unless `quantization` is one of `TFLITE_QUANTIZATIONS`.

    Args:
        quantization: the value to check.
        received: how the message shows the value. Defaults to `` `quantization=...` ``.

    Example:

    ```python
    check_quantization("dynamic_range")
    ```
    """
    if quantization not in TFLITE_QUANTIZATIONS:
        raise ValueError(
            f"Unknown TFLite quantization. Use one of {list(TFLITE_QUANTIZATIONS)}: None "
            "(float32), 'dynamic_range' (int8 weights) or 'float16'. "
            f"Received: {received or f'`quantization={quantization!r}`'}."
        )


def export_tflite(
    model,
    path,
    *,
    signature=None,
    quantization=None,
    overwrite=True,
    **signature_options,
):
    """Converts a student model to a TFLite flatbuffer with a named `serving_default` signature.

    The `.tflite` file carries the same signature as `export_student()`: input `"images"`
    (dynamic batch) and outputs `"logits"`, `"probabilities"`, `"class_id"` and, with
    `class_names`, `"class_name"`; preprocessing and input dtype follow the same
    `ServingSignature` contract. The file is written under a temporary name and renamed into
    place.

    Args:
        model: a built Keras classifier (the student).
        path: output file, e.g. `"student_int8.tflite"`. Parent directories are created.
        signature: a `keras_anc.export.ServingSignature`. Defaults to `None`: the signature
            built from `**signature_options`.
        quantization: `None` for float32 weights, `"dynamic_range"` for post-training
            dynamic-range quantisation (int8 weights, float activations; no calibration data
            needed; about 4x smaller) or `"float16"` (float16 weights, about 2x smaller).
        overwrite: whether to replace an existing file. Defaults to `True`.
        **signature_options: the `ServingSignature` fields (`class_names`, `preprocessing`,
            `input_dtype`, `input_shape`, `from_logits`), as a shorthand for
            `signature=ServingSignature(...)`. Cannot be combined with `signature`.

    Returns:
        `pathlib.Path` of the written `.tflite` file.

    Example:

    ```python
    path = keras_anc.export.export_tflite(
        student, "student_dr.tflite", quantization="dynamic_range"
    )
    keras_anc.export.evaluate_tflite(path, (x_test, y_test))  # {"accuracy": ..., ...}
    ```
    """
    signature = resolve_signature(signature, signature_options, "export_tflite")
    check_quantization(quantization)
    path = pathlib.Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"TFLite path '{path}' is a directory. Pass a file name such as "
            f"'{path / 'student.tflite'}'. Received: `path='{path}'`."
        )
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"'{path}' already exists. Pass `overwrite=True` or another file name."
        )
    plan = ServingPlan(model, signature)
    tf = require_tensorflow("`export_tflite()`")
    with tempfile.TemporaryDirectory(prefix="keras_anc_tflite_") as tmp:
        write_saved_model(plan, tmp)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=[SIGNATURE_KEY])
        if quantization is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantization == "float16":
            converter.target_spec.supported_types = [tf.float16]
        flatbuffer = converter.convert()
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic.atomic_write_bytes(path, flatbuffer)


def make_interpreter(tflite_path, num_threads=None):
    """A TFLite interpreter: `ai_edge_litert` when installed, else `tf.lite.Interpreter`.

    Args:
        tflite_path: path of the `.tflite` file.
        num_threads: interpreter threads; defaults to the runtime's choice.

    Returns:
        An interpreter, not yet allocated.

    Example:

    ```python
    runner = make_interpreter("student.tflite").get_signature_runner("serving_default")
    outputs = runner(images=raw_images)
    ```
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = None
    if Interpreter is not None:
        return Interpreter(model_path=str(tflite_path), num_threads=num_threads)
    tf = require_tensorflow("Running a `.tflite` file without `ai-edge-litert` installed")
    with warnings.catch_warnings():
        # TF 2.21 warns that tf.lite.Interpreter moves to the separate `ai_edge_litert`
        # package; it still works, and we prefer that package when it is installed.
        warnings.filterwarnings(
            "ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated", category=UserWarning
        )
        return tf.lite.Interpreter(model_path=str(tflite_path), num_threads=num_threads)


class TFLiteRunner:
    """Runs a `.tflite` classifier batch by batch; returns its class ids (and logits, if any).

    Files from `export_tflite()` run through their `serving_default` signature and its
    `"class_id"` output; other single-input files through their first signature (or raw
    tensors) and the argmax of their output.

    Args:
        tflite_path: path of the `.tflite` file.
        num_threads: interpreter threads; defaults to the runtime's choice.

    Example:

    ```python
    class_id, logits = TFLiteRunner("student.tflite")(x_batch)
    ```
    """

    def __init__(self, tflite_path, num_threads=None):
        self.interpreter = make_interpreter(tflite_path, num_threads=num_threads)
        signatures = self.interpreter.get_signature_list()
        if signatures:
            key = SIGNATURE_KEY if SIGNATURE_KEY in signatures else next(iter(signatures))
            self.runner = self.interpreter.get_signature_runner(key)
            details = self.runner.get_input_details()
            if len(details) != 1:
                raise ValueError(
                    f"'{tflite_path}' has {len(details)} inputs; only single-image-input "
                    "classifiers can be evaluated."
                )
            self.input_name, detail = next(iter(details.items()))
        else:
            self.runner = None
            detail = self.interpreter.get_input_details()[0]
        self.input_dtype = np.dtype(detail["dtype"])
        self.example_rank = len(detail["shape_signature"]) - 1

    def __call__(self, x):
        x = np.asarray(x)
        if np.issubdtype(self.input_dtype, np.integer) and not np.issubdtype(x.dtype, np.integer):
            raise ValueError(
                f"This TFLite model takes raw {self.input_dtype} images (preprocessing is baked "
                f"in), but the data holds {x.dtype} values. Pass the raw, un-normalised images."
            )
        x = x.astype(self.input_dtype)
        if self.runner is not None:
            outputs = self.runner(**{self.input_name: x})
        else:
            interp = self.interpreter
            index = interp.get_input_details()[0]["index"]
            interp.resize_tensor_input(index, x.shape)
            interp.allocate_tensors()
            interp.set_tensor(index, x)
            interp.invoke()
            outputs = {"output_0": interp.get_tensor(interp.get_output_details()[0]["index"])}
        logits = outputs.get("logits")
        if "class_id" in outputs:
            class_id = np.asarray(outputs["class_id"]).reshape(-1)
        else:
            scores = next(
                (outputs[k] for k in ("logits", "probabilities") if k in outputs),
                next(iter(outputs.values())),
            )
            class_id = np.argmax(scores, axis=-1)
        return class_id, logits


def evaluate_tflite(tflite_path, data, *, batch_size=256, num_threads=None):
    """Measures the accuracy of a `.tflite` classifier with the TFLite interpreter.

    Uses `ai_edge_litert` when installed, else `tf.lite.Interpreter` (its TF 2.21 deprecation
    warning is silenced). Files from `export_tflite()` are run through their `serving_default`
    signature and its `"class_id"` output; other single-input files through their first
    signature (or raw tensors) and the argmax of their output.

    Args:
        tflite_path: path of the `.tflite` file.
        data: labelled test images: a tuple `(images, labels)` of arrays, or a
            `tf.data.Dataset` of `(image, label)` pairs or TFDS dicts (`"image"`, `"label"`),
            batched or not. Images must be in the model's input format: raw `uint8` pixels
            when preprocessing is baked in, otherwise already preprocessed. Labels are class
            ids or one-hot vectors.
        batch_size: batch size for arrays and unbatched datasets. Defaults to 256.
        num_threads: interpreter threads; defaults to the runtime's choice.

    Returns:
        Dict `{"accuracy": float, "num_examples": int, "size_bytes": int}`.

    Example:

    ```python
    ds = tfds.load("mnist", split="test", as_supervised=True)
    keras_anc.export.evaluate_tflite("student.tflite", ds)
    ```
    """
    runner = TFLiteRunner(tflite_path, num_threads=num_threads)
    correct = total = 0
    for x, y in labelled_batches(data, batch_size, runner.example_rank):
        class_id, _ = runner(x)
        correct += int(np.sum(class_id == y))
        total += len(y)
    if total == 0:
        raise ValueError("`data` is empty; pass at least one labelled example.")
    return {
        "accuracy": correct / total,
        "num_examples": total,
        "size_bytes": pathlib.Path(tflite_path).stat().st_size,
    }
