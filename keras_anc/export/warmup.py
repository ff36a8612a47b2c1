"""The TF-Serving warm-up file of an exported SavedModel version.

TF-Serving replays `<version>/assets.extra/tf_serving_warmup_requests`, a TFRecord file of
`tensorflow.serving.PredictionLog` protos, when it loads a version, so that the first real request
does not pay for graph initialisation. Writing it needs the optional `tensorflow-serving-api`
package (`pip install keras-anc[serving]`).

`export_student()` calls these helpers; they are not part of the public API.

Reference:
    [TF-Serving: SavedModel warm-up](https://www.tensorflow.org/tfx/serving/saved_model_warmup)
"""

import numbers
import pathlib
import warnings

import numpy as np

from keras_anc.errors import require_tensorflow
from keras_anc.export.signature import INPUT_NAME, SIGNATURE_KEY

WARMUP_FILENAME = "tf_serving_warmup_requests"
WARMUP_DIRNAME = "assets.extra"

MAX_WARMUP_RECORDS = 1000  # TF-Serving refuses warm-up files with more records.
_SERVING_EXTRA_HINT = (
    "Install it with `pip install keras-anc[serving]` (or `pip install tensorflow-serving-api`)."
)


def _import_serving_apis():
    try:
        from tensorflow_serving.apis import (
            model_pb2,  # noqa: F401
            predict_pb2,
            prediction_log_pb2,
        )
    except ImportError:
        return None
    return predict_pb2, prediction_log_pb2


def resolve_warmup(warmup, warmup_examples, num_warmup_records, warmup_batch_size):
    """Validates the warm-up options; returns whether a warm-up file must be written.

    Args:
        warmup: `None` (write it when `tensorflow-serving-api` is installed, warn otherwise),
            `True` (require it) or `False` (skip it).
        warmup_examples: optional example inputs, or `None` for zeros.
        num_warmup_records: number of warm-up requests, at most 1000.
        warmup_batch_size: batch size of each request.

    Returns:
        `True` if the file must be written, `False` to skip it.

    Example:

    ```python
    if resolve_warmup(None, None, 10, 1):
        write_warmup_file(plan, version_dir, "student", None, 10, 1)
    ```
    """
    for name, value in (
        ("num_warmup_records", num_warmup_records),
        ("warmup_batch_size", warmup_batch_size),
    ):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
            raise ValueError(f"`{name}` must be a positive integer. Received: `{name}={value!r}`.")
    if num_warmup_records > MAX_WARMUP_RECORDS:
        raise ValueError(
            f"TF-Serving reads at most {MAX_WARMUP_RECORDS} warm-up records. "
            f"Received: `num_warmup_records={num_warmup_records}`."
        )
    if warmup is False:
        if warmup_examples is not None:
            raise ValueError(
                "`warmup_examples` was given but `warmup=False`. Drop `warmup_examples`, or "
                "set `warmup=True` to write the TF-Serving warm-up file."
            )
        return False
    if warmup not in (None, True):
        raise ValueError(f"`warmup` must be None, True or False. Received: `warmup={warmup!r}`.")
    explicit = warmup is True or warmup_examples is not None
    if _import_serving_apis() is None:
        if explicit:
            raise ImportError(
                "Writing the TF-Serving warm-up file needs the `tensorflow-serving-api` package, "
                f"which is not installed. {_SERVING_EXTRA_HINT} Or pass `warmup=False`."
            )
        warnings.warn(
            "Skipping the TF-Serving warm-up file (assets.extra/tf_serving_warmup_requests): "
            f"`tensorflow-serving-api` is not installed. {_SERVING_EXTRA_HINT} Pass "
            "`warmup=False` to silence this warning.",
            UserWarning,
            stacklevel=3,
        )
        return False
    return True


def warmup_batches(plan, warmup_examples, num_records, batch_size):
    """Yields `num_records` numpy batches matching the signature input of `plan`.

    The examples are validated before the first batch is yielded, so
    `next(warmup_batches(plan, examples, 1, 1))` checks them without writing anything.

    Args:
        plan: the `ServingPlan` of the export.
        warmup_examples: array of shape `(N, H, W, C)` (or one `(H, W, C)` example) in the
            signature's dtype, or `None` for zeros.
        num_records: number of batches.
        batch_size: examples per batch, cycling through `warmup_examples`.

    Example:

    ```python
    batch = next(warmup_batches(plan, raw_images[:4], num_records=1, batch_size=2))
    ```
    """
    dtype = plan.input_spec.dtype
    example_shape = tuple(plan.input_spec.shape[1:])
    if warmup_examples is None:
        examples = np.zeros((1, *example_shape), dtype=dtype.as_numpy_dtype)
    else:
        examples = np.asarray(warmup_examples)
        if examples.shape == example_shape:
            examples = examples[None]
        if examples.ndim != len(example_shape) + 1 or tuple(examples.shape[1:]) != example_shape:
            raise ValueError(
                f"`warmup_examples` must have shape (N, {', '.join(map(str, example_shape))}) "
                f"to match the signature input '{INPUT_NAME}'. "
                f"Received: `warmup_examples` of shape {examples.shape}."
            )
        if len(examples) == 0:
            raise ValueError("`warmup_examples` is empty; pass at least one example or None.")
        if dtype.is_integer:
            info = np.iinfo(dtype.as_numpy_dtype)
            if not np.issubdtype(examples.dtype, np.integer) or (
                examples.min() < info.min or examples.max() > info.max
            ):
                raise ValueError(
                    f"The signature input '{INPUT_NAME}' is {dtype.name} (raw pixels), so "
                    f"`warmup_examples` must be integer images in [{info.min}, {info.max}], "
                    "not already-normalised floats. "
                    f"Received: `warmup_examples` of dtype {examples.dtype}."
                )
        examples = examples.astype(dtype.as_numpy_dtype)
    for i in range(num_records):
        idx = [(i * batch_size + j) % len(examples) for j in range(batch_size)]
        yield examples[idx]


def write_warmup_file(plan, version_dir, model_name, warmup_examples, num_records, batch_size):
    """Writes `version_dir/assets.extra/tf_serving_warmup_requests`.

    `version_dir` is the hidden temporary directory of an export in progress; it is renamed into
    place as a whole, so the file appears atomically with its version.

    Args:
        plan: the `ServingPlan` of the export.
        version_dir: the SavedModel directory.
        model_name: `model_spec.name` of the requests (the model base directory's name).
        warmup_examples: as for `warmup_batches()`.
        num_records: number of `PredictRequest`s.
        batch_size: batch size of each request.

    Returns:
        `pathlib.Path` of the written file.

    Example:

    ```python
    write_warmup_file(plan, tmp_dir, "mnist_student", raw_images[:4], 10, 1)
    ```
    """
    tf = require_tensorflow("Writing the TF-Serving warm-up file")
    predict_pb2, prediction_log_pb2 = _import_serving_apis()
    extra = pathlib.Path(version_dir) / WARMUP_DIRNAME
    extra.mkdir(parents=True, exist_ok=True)
    filename = extra / WARMUP_FILENAME
    with tf.io.TFRecordWriter(str(filename)) as writer:
        for batch in warmup_batches(plan, warmup_examples, num_records, batch_size):
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model_name
            request.model_spec.signature_name = SIGNATURE_KEY
            request.inputs[INPUT_NAME].CopyFrom(
                tf.make_tensor_proto(batch, dtype=plan.input_spec.dtype)
            )
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return filename
