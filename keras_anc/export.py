"""Deployment export for a trained student: TF-Serving SavedModels and TFLite files.

Only the student is exported. The teacher and the discriminator are training-time machinery and
never reach the deployed artefact.

The public entry points are:

- `export_student()`: a versioned TensorFlow SavedModel laid out the way TensorFlow Serving
  watches a model base path (`path/<version>/saved_model.pb`), with a `serving_default`
  signature that has named inputs and outputs and, optionally, baked-in preprocessing and a
  TF-Serving warm-up file.
- `export_tflite()`: a `.tflite` flatbuffer (float32, dynamic-range quantised or float16) with the
  same signature.
- `evaluate_tflite()`: accuracy of a `.tflite` file on labelled images, run through the TFLite
  interpreter.
- `export_report()`: exports the SavedModel and the TFLite variants and measures their sizes and
  accuracies against the Keras model, as a JSON-ready dict.

Serving contract (the same for the SavedModel and the TFLite files):

- Signature key `"serving_default"`, one input named `"images"` of shape `(batch, H, W, C)`
  (the model's input shape; the batch dimension is dynamic).
- Input dtype: without `preprocessing` it is the model's input dtype (normally `float32`) and the
  client sends exactly what the Keras model was trained on. With `preprocessing` it is `uint8`
  (raw pixels in `[0, 255]`) unless `input_dtype` says otherwise.
- Outputs: `"logits"` (`float32`, `(batch, num_classes)`), `"probabilities"` (`float32`, softmax
  of the logits), `"class_id"` (`int64`, `(batch,)`, argmax) and, when `class_names` are given,
  `"class_name"` (`string`, `(batch,)`).

See `docs/deployment.md` for TF-Serving REST/gRPC requests, `saved_model_cli` commands and
TFLite usage.
"""

import math
import numbers
import os
import pathlib
import re
import shutil
import tempfile
import uuid
import warnings

import keras
import numpy as np

SIGNATURE_KEY = "serving_default"
INPUT_NAME = "images"
WARMUP_FILENAME = "tf_serving_warmup_requests"
WARMUP_DIRNAME = "assets.extra"
TFLITE_QUANTIZATIONS = (None, "dynamic_range", "float16")

_MAX_WARMUP_RECORDS = 1000  # TF-Serving refuses warm-up files with more records.
_VERSION_RE = re.compile(r"[0-9]+")
_PREPROCESSING_KEYS = ("mean", "std", "scale")
_SERVING_EXTRA_HINT = (
    "Install it with `pip install keras-anc[serving]` (or `pip install tensorflow-serving-api`)."
)


def _tf():
    # Imported lazily so that `import keras_anc` stays cheap for users who never export.
    import tensorflow as tf

    return tf


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


def _check_backend():
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "keras_anc.export needs the TensorFlow backend (SavedModel and TFLite are TensorFlow "
            f"formats), but the active Keras backend is '{keras.backend.backend()}'. Save the "
            "student with `student.save('student.keras')`, then reload and export it in a "
            "process started with `KERAS_BACKEND=tensorflow`."
        )


def _check_model(model):
    if hasattr(model, "teacher") and hasattr(model, "student"):
        raise ValueError(
            f"`export_student()` received a distiller ({type(model).__name__}) that holds a "
            "teacher and a student. Only the student is deployed: pass `distiller.student` "
            "(or call `distiller.export_student(path)`)."
        )
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Expected a Keras model (`keras.Model`) to export. "
            f"Received: model={model!r} of type {type(model).__name__}."
        )
    if not model.built:
        raise ValueError(
            f"Model '{model.name}' has not been built, so its input shape and weights are "
            "unknown and it cannot be exported. Build it first: start a Sequential/Functional "
            "model with `keras.Input(shape=...)`, call `model.build((None, H, W, C))`, or call "
            "the model once on a batch of images."
        )


def _model_input_spec(model, input_shape):
    """Returns `(shape_with_batch, dtype)` of the model's single image input."""
    try:
        inputs = model.inputs
    except AttributeError:  # Subclassed models have no symbolic inputs.
        inputs = None
    if inputs and len(inputs) != 1:
        raise ValueError(
            f"Model '{model.name}' has {len(inputs)} inputs; export supports image "
            "classifiers with exactly one image input."
        )
    dtype = inputs[0].dtype if inputs else None
    if input_shape is not None:
        shape = (None, *tuple(input_shape))
    else:
        shape = None
        if inputs:
            shape = tuple(inputs[0].shape)
        else:
            build_shapes = getattr(model, "_build_shapes_dict", None) or {}
            if len(build_shapes) == 1:
                built_shape = next(iter(build_shapes.values()))
                if isinstance(built_shape, (tuple, list)) and all(
                    d is None or isinstance(d, int) for d in built_shape
                ):
                    shape = (None, *tuple(built_shape)[1:])
        if shape is None:
            raise ValueError(
                f"Cannot infer the input shape of model '{model.name}'. Pass it explicitly, "
                "without the batch dimension, e.g. `input_shape=(32, 32, 3)`."
            )
    if any(d is None for d in shape[1:]):
        raise ValueError(
            f"The input shape {shape} of model '{model.name}' has unknown dimensions besides the "
            "batch dimension. Pass the training image size explicitly, e.g. "
            "`input_shape=(32, 32, 3)`."
        )
    return shape, dtype or "float32"


def _validate_version(version):
    if isinstance(version, bool) or not isinstance(version, (numbers.Integral, str)):
        raise ValueError(
            "`version` must be a positive integer (TF-Serving loads numeric version "
            f"directories), or None to use the next free version. Received: version={version!r}."
        )
    if isinstance(version, str):
        if not _VERSION_RE.fullmatch(version):
            raise ValueError(
                "`version` must be a positive integer such as 1 or '3', or None to use the "
                f"next free version. Received: version={version!r}."
            )
        version = int(version)
    version = int(version)
    if version <= 0:
        raise ValueError(
            "`version` must be a positive integer (1, 2, ...), or None to use the next free "
            f"version. Received: version={version}."
        )
    return version


def existing_versions(path):
    """Lists the numeric version directories under a TF-Serving model base path.

    Args:
        path: the model base path (the directory that holds `1/`, `2/`, ...).

    Returns:
        Sorted list of ints; empty if `path` does not exist. Non-numeric entries (including
        the hidden temporary directories used while exporting) are ignored, as TF-Serving
        ignores them.
    """
    path = pathlib.Path(path)
    if not path.is_dir():
        return []
    return sorted(
        int(p.name) for p in path.iterdir() if p.is_dir() and _VERSION_RE.fullmatch(p.name)
    )


def _check_class_names(class_names, num_classes):
    if class_names is None:
        return None
    if isinstance(class_names, (str, bytes)):
        raise ValueError(
            "`class_names` must be a list of strings, one per class, not a single string. "
            f"Received: class_names={class_names!r}."
        )
    class_names = list(class_names)
    if not all(isinstance(name, str) for name in class_names):
        raise ValueError(
            "`class_names` must contain only strings (e.g. `ds_info.features['label'].names`). "
            f"Received types: {sorted({type(n).__name__ for n in class_names})}."
        )
    if len(class_names) != num_classes:
        raise ValueError(
            f"`class_names` has {len(class_names)} entries but the model predicts {num_classes} "
            f"classes. Pass exactly one name per output unit, in class-id order."
        )
    return class_names


def _check_preprocessing(preprocessing, channels):
    """Validates `preprocessing` and returns `(kind, payload)`."""
    if preprocessing is None:
        return None
    if isinstance(preprocessing, dict):
        unknown = sorted(set(preprocessing) - set(_PREPROCESSING_KEYS))
        if unknown:
            raise ValueError(
                f"Unknown `preprocessing` keys {unknown}. Supported keys: 'mean', 'std' "
                "(per-channel, applied after scaling) and 'scale' (default 255.0), e.g. "
                "`preprocessing={'mean': [0.4914, 0.4822, 0.4465], 'std': [0.247, 0.243, 0.261]}`."
            )
        stats = {}
        for key, default in (("mean", 0.0), ("std", 1.0)):
            value = np.asarray(preprocessing.get(key, default), dtype="float32").reshape(-1)
            if value.size not in (1, channels) or not np.all(np.isfinite(value)):
                raise ValueError(
                    f"`preprocessing['{key}']` must be one finite number or a list of "
                    f"{channels} (one per input channel). Received: {preprocessing.get(key)!r}."
                )
            stats[key] = value
        if np.any(stats["std"] <= 0):
            raise ValueError(
                "`preprocessing['std']` must be strictly positive. "
                f"Received: {preprocessing['std']!r}."
            )
        scale = preprocessing.get("scale", 255.0)
        if (
            isinstance(scale, bool)
            or not isinstance(scale, numbers.Real)
            or not math.isfinite(scale)
            or scale <= 0
        ):
            raise ValueError(
                "`preprocessing['scale']` must be a positive number (the raw value that maps "
                f"to 1.0, 255.0 for uint8 images). Received: {scale!r}."
            )
        stats["scale"] = float(scale)
        return ("stats", stats)
    if callable(preprocessing):
        return ("callable", preprocessing)
    raise ValueError(
        "`preprocessing` must be None, a dict like `{'mean': [...], 'std': [...]}`, or a Keras "
        f"layer / callable of TensorFlow ops. Received: {preprocessing!r}."
    )


# --------------------------------------------------------------------------------------------
# Serving function
# --------------------------------------------------------------------------------------------


class _ServingPlan:
    """Everything needed to build the `serving_default` function of one model."""

    def __init__(
        self,
        model,
        *,
        class_names=None,
        preprocessing=None,
        input_dtype=None,
        input_shape=None,
        from_logits=True,
    ):
        _check_backend()
        _check_model(model)
        tf = _tf()
        self.model = model
        shape, self.model_dtype = _model_input_spec(model, input_shape)
        self.preprocessing = _check_preprocessing(preprocessing, channels=shape[-1])
        if input_dtype is None:
            input_dtype = "uint8" if self.preprocessing is not None else self.model_dtype
        try:
            input_dtype = tf.dtypes.as_dtype(input_dtype)
        except TypeError as e:
            raise ValueError(
                "`input_dtype` must be a dtype name such as 'uint8' or 'float32'. "
                f"Received: input_dtype={input_dtype!r}."
            ) from e
        if not (input_dtype.is_floating or input_dtype.is_integer):
            raise ValueError(
                "`input_dtype` must be a numeric dtype such as 'uint8' or 'float32'. "
                f"Received: input_dtype={input_dtype.name!r}."
            )
        self.input_spec = tf.TensorSpec(shape, input_dtype, name=INPUT_NAME)
        self.from_logits = bool(from_logits)
        self.preprocessing_layer = None
        if self.preprocessing is not None and self.preprocessing[0] == "callable":
            layer = self.preprocessing[1]
            if isinstance(layer, keras.layers.Layer):
                if not layer.built:
                    layer(np.zeros((1, *shape[1:]), dtype="float32"))
                self.preprocessing_layer = layer
        self.num_classes = self._infer_num_classes()
        self.class_names = _check_class_names(class_names, self.num_classes)

    def _infer_num_classes(self):
        tf = _tf()
        spec = tf.TensorSpec(self.input_spec.shape, tf.float32)
        fn = tf.function(lambda x: self.model(self._preprocess(x), training=False))
        outputs = fn.get_concrete_function(spec).structured_outputs
        if not isinstance(outputs, tf.Tensor) or outputs.shape.rank != 2:
            raise ValueError(
                f"Model '{self.model.name}' must return one tensor of shape "
                f"(batch, num_classes) to be exported as a classifier. Received output "
                f"structure: {outputs!r}."
            )
        num_classes = outputs.shape[-1]
        if num_classes is None:
            raise ValueError(
                f"The number of classes of model '{self.model.name}' is unknown (last output "
                "dimension is None); end the model with a Dense layer of fixed size."
            )
        return int(num_classes)

    def _preprocess(self, x):
        """Raw float32 images -> what the model expects (model input dtype)."""
        tf = _tf()
        if self.preprocessing is not None:
            kind, payload = self.preprocessing
            if kind == "stats":
                x = x / payload["scale"]
                x = (x - tf.constant(payload["mean"])) / tf.constant(payload["std"])
            else:
                x = payload(x)
        return tf.cast(x, self.model_dtype)

    def serve(self, images):
        """The `serving_default` function: raw images -> dict of named outputs."""
        tf = _tf()
        x = tf.cast(images, tf.float32) if self.preprocessing is not None else images
        x = self._preprocess(x)
        outputs = tf.cast(self.model(x, training=False), tf.float32)
        if self.from_logits:
            logits = outputs
            probabilities = tf.nn.softmax(logits, axis=-1)
        else:
            probabilities = outputs
            logits = tf.math.log(tf.maximum(probabilities, 1e-12))
        class_id = tf.argmax(logits, axis=-1, output_type=tf.int64)
        result = {"logits": logits, "probabilities": probabilities, "class_id": class_id}
        if self.class_names is not None:
            result["class_name"] = tf.gather(tf.constant(self.class_names), class_id)
        return result

    def write_saved_model(self, directory):
        """Writes the SavedModel (student variables only) into `directory`."""
        tf = _tf()
        archive = keras.export.ExportArchive()
        tracked = [self.model]
        if self.preprocessing_layer is not None:
            tracked.append(self.preprocessing_layer)
        for layer in tracked:
            archive.track(layer)

        # `track()` lists the Keras variable wrappers while the endpoint captures the
        # `tf.Variable`s inside them; both would be written to the checkpoint, doubling the
        # size of `variables/`. List the wrapped `tf.Variable`s so each weight is stored once.
        def unwrap(v):
            value = getattr(v, "value", None)
            return value if isinstance(value, tf.Variable) else v

        for collection in ("variables", "trainable_variables", "non_trainable_variables"):
            archive.add_variable_collection(
                collection, [unwrap(v) for layer in tracked for v in getattr(layer, collection)]
            )
        archive.add_endpoint(SIGNATURE_KEY, self.serve, input_signature=[self.input_spec])
        archive.write_out(str(directory), verbose=False)


# --------------------------------------------------------------------------------------------
# TF-Serving warm-up
# --------------------------------------------------------------------------------------------


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


def _warmup_batches(plan, warmup_examples, num_records, batch_size):
    """Yields `num_records` numpy batches matching the signature input."""
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
                f"to match the signature input '{INPUT_NAME}'. Received shape {examples.shape}."
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
                    f"not already-normalised floats. Received dtype {examples.dtype}."
                )
        examples = examples.astype(dtype.as_numpy_dtype)
    for i in range(num_records):
        idx = [(i * batch_size + j) % len(examples) for j in range(batch_size)]
        yield examples[idx]


def _write_warmup(plan, version_dir, model_name, warmup_examples, num_records, batch_size):
    tf = _tf()
    predict_pb2, prediction_log_pb2 = _import_serving_apis()
    extra = pathlib.Path(version_dir) / WARMUP_DIRNAME
    extra.mkdir(parents=True, exist_ok=True)
    filename = extra / WARMUP_FILENAME
    with tf.io.TFRecordWriter(str(filename)) as writer:
        for batch in _warmup_batches(plan, warmup_examples, num_records, batch_size):
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


def _resolve_warmup(warmup, warmup_examples, num_warmup_records, warmup_batch_size):
    """Returns True if a warm-up file must be written, False to skip it."""
    for name, value in (
        ("num_warmup_records", num_warmup_records),
        ("warmup_batch_size", warmup_batch_size),
    ):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}.")
    if num_warmup_records > _MAX_WARMUP_RECORDS:
        raise ValueError(
            f"TF-Serving reads at most {_MAX_WARMUP_RECORDS} warm-up records. "
            f"Received: num_warmup_records={num_warmup_records}."
        )
    if warmup is False:
        if warmup_examples is not None:
            raise ValueError(
                "`warmup_examples` was given but `warmup=False`. Drop `warmup_examples`, or "
                "set `warmup=True` to write the TF-Serving warm-up file."
            )
        return False
    if warmup not in (None, True):
        raise ValueError(f"`warmup` must be None, True or False. Received: warmup={warmup!r}.")
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


# --------------------------------------------------------------------------------------------
# SavedModel export
# --------------------------------------------------------------------------------------------


def _check_base_path(path):
    path = pathlib.Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(
            f"Export path '{path}' exists and is a file. `path` is the model base directory "
            "that TF-Serving watches (versions are written to `path/1`, `path/2`, ...): pass a "
            "directory path, or remove the file."
        )
    return path


def export_student(
    model,
    path,
    version=None,
    *,
    overwrite=False,
    class_names=None,
    preprocessing=None,
    input_dtype=None,
    input_shape=None,
    from_logits=True,
    warmup=None,
    warmup_examples=None,
    num_warmup_records=10,
    warmup_batch_size=1,
):
    """Exports a student model as a versioned SavedModel for TensorFlow Serving.

    The SavedModel is written to `path/<version>/` (`saved_model.pb`, `variables/` and,
    with warm-up, `assets.extra/tf_serving_warmup_requests`), the layout TF-Serving polls for
    new versions. It is written to a hidden temporary directory beside the target and renamed
    into place, so a watching server never sees a half-written version. Only the variables of
    `model` (and of a `preprocessing` layer, if any) are saved; a teacher or discriminator that
    trained it is not part of the artefact.

    Input contract of the `serving_default` signature (input name `"images"`, shape
    `(batch, H, W, C)` with the model's training size, dynamic batch):

    - `preprocessing=None`: the input dtype is the model's input dtype (normally `float32`) and
      the client sends exactly what the Keras model was fed during training.
    - `preprocessing={"mean": m, "std": s, "scale": 255.0}`: the client sends raw pixels
      (`uint8` by default). The signature computes `x = float32(images) / scale` and then
      `(x - mean) / std`, per channel (`mean`/`std` are one number or one per channel;
      defaults `mean=0`, `std=1`, `scale=255`). So `{"mean": 0, "std": 1}` maps `uint8` to
      `[0, 1]`.
    - `preprocessing=<keras Layer or callable>`: it receives the raw input cast to `float32`
      (values still in `[0, 255]` for uint8 images) and must return the model's input, e.g.
      `keras.layers.Rescaling(1 / 255)`. A layer's variables are saved with the model.

    Outputs: `"logits"` (float32, `(batch, num_classes)`), `"probabilities"` (float32,
    softmax), `"class_id"` (int64 argmax) and, with `class_names`, `"class_name"` (string).

    Args:
        model: a built Keras classifier (the student) with one image input and one
            `(batch, num_classes)` output. Pass `distiller.student`, not the distiller.
        path: model base directory, e.g. `"models/student"`. Created if missing. Must not be a
            file.
        version: positive integer version. Defaults to `None`: one more than the largest
            numeric version directory in `path`, or 1.
        overwrite: if the version already exists, replace it (atomically: the new version is
            written beside it first). Defaults to `False`, which raises `FileExistsError`.
        class_names: optional list of `num_classes` strings; adds the `"class_name"` output.
        preprocessing: optional preprocessing baked into the signature (see above).
        input_dtype: dtype of the signature input. Defaults to `"uint8"` with `preprocessing`,
            else the model's input dtype. Without preprocessing, a different dtype is only
            cast to the model's dtype.
        input_shape: input shape without the batch dimension, e.g. `(28, 28, 1)`. Needed only
            for subclassed models whose input shape cannot be inferred.
        from_logits: whether the model outputs logits (default). If `False` the model outputs
            probabilities; they are passed through as `"probabilities"` and `"logits"` is their
            log.
        warmup: whether to write the TF-Serving warm-up file. `None` (default) writes it when
            `tensorflow-serving-api` is installed and warns otherwise; `True` requires it;
            `False` skips it.
        warmup_examples: optional array of example inputs, shape `(N, H, W, C)` in the
            signature's dtype (raw `uint8` images when preprocessing is baked in), used for
            the warm-up requests. Defaults to zeros.
        num_warmup_records: number of warm-up requests. Defaults to 10.
        warmup_batch_size: batch size of each warm-up request. Defaults to 1.

    Returns:
        `pathlib.Path` of the exported version directory, e.g. `models/student/3`.

    Raises:
        ValueError: the model is not built, is a distiller, or is not a `(batch, classes)`
            classifier; `version` is not a positive integer; `class_names`, `preprocessing` or
            the warm-up options are inconsistent with the model.
        FileExistsError: `path/<version>` exists and `overwrite=False`.
        NotADirectoryError: `path` is an existing file.
        ImportError: a warm-up file was requested but `tensorflow-serving-api` is missing.

    Example:

    ```python
    version_dir = keras_anc.export.export_student(
        distiller.student,
        "models/cifar_student",
        class_names=ds_info.features["label"].names,
        preprocessing={"mean": [0.4914, 0.4822, 0.4465], "std": [0.247, 0.243, 0.261]},
        warmup_examples=raw_test_images[:10],
    )
    # docker run -p 8501:8501 -v $PWD/models/cifar_student:/models/student \\
    #     -e MODEL_NAME=student tensorflow/serving
    ```
    """
    path = _check_base_path(path)
    if version is not None:
        version = _validate_version(version)
    write_warmup = _resolve_warmup(warmup, warmup_examples, num_warmup_records, warmup_batch_size)
    plan = _ServingPlan(
        model,
        class_names=class_names,
        preprocessing=preprocessing,
        input_dtype=input_dtype,
        input_shape=input_shape,
        from_logits=from_logits,
    )
    if write_warmup:
        # Validate the examples before anything is written.
        next(_warmup_batches(plan, warmup_examples, 1, 1))
    if version is None:
        version = max(existing_versions(path), default=0) + 1
    target = path / str(version)
    if target.exists() and not overwrite:
        raise FileExistsError(
            f"Version {version} already exists at '{target}'. Pass `version=None` to export "
            "the next free version, another `version`, or `overwrite=True` to replace it."
        )

    path.mkdir(parents=True, exist_ok=True)
    # A hidden, non-numeric name: TF-Serving ignores it until it is renamed to `<version>`.
    # (Not `tempfile.mkdtemp`: its 0700 mode would hide the version from a server running
    # as another user; `os.mkdir` honours the umask.)
    tmp_dir = path / f".tmp-export-{version}-{uuid.uuid4().hex[:8]}"
    os.mkdir(tmp_dir)
    try:
        plan.write_saved_model(tmp_dir)
        if write_warmup:
            _write_warmup(
                plan,
                tmp_dir,
                model_name=path.resolve().name,
                warmup_examples=warmup_examples,
                num_records=int(num_warmup_records),
                batch_size=int(warmup_batch_size),
            )
        _move_into_place(tmp_dir, target, overwrite=overwrite)
    finally:
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir, ignore_errors=True)
    return target


def _move_into_place(tmp_dir, target, overwrite):
    if target.exists():
        if not overwrite:  # Appeared while we were exporting.
            raise FileExistsError(
                f"Version directory '{target}' was created by someone else during the export. "
                "Export again with `version=None` or `overwrite=True`."
            )
        old = target.parent / f".old-{target.name}-{uuid.uuid4().hex[:8]}"
        os.rename(target, old)
        os.rename(tmp_dir, target)
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        os.rename(tmp_dir, target)
    except OSError as e:
        raise FileExistsError(
            f"Could not move the export into '{target}' ({e}). Another process may have "
            "created it; export again with `version=None` or `overwrite=True`."
        ) from e


# --------------------------------------------------------------------------------------------
# TFLite
# --------------------------------------------------------------------------------------------


def export_tflite(
    model,
    path,
    *,
    quantization=None,
    class_names=None,
    preprocessing=None,
    input_dtype=None,
    input_shape=None,
    from_logits=True,
    overwrite=True,
):
    """Converts a student model to a TFLite flatbuffer with a named `serving_default` signature.

    The `.tflite` file carries the same signature as `export_student()`: input `"images"`
    (dynamic batch) and outputs `"logits"`, `"probabilities"`, `"class_id"` and, with
    `class_names`, `"class_name"`; `preprocessing` and `input_dtype` follow the same contract.

    Args:
        model: a built Keras classifier (the student).
        path: output file, e.g. `"student_int8.tflite"`. Parent directories are created.
        quantization: `None` for float32 weights, `"dynamic_range"` for post-training
            dynamic-range quantisation (int8 weights, float activations; no calibration data
            needed; about 4x smaller) or `"float16"` (float16 weights, about 2x smaller).
        class_names: optional list of `num_classes` strings.
        preprocessing: optional preprocessing baked in, as in `export_student()`.
        input_dtype: dtype of the `"images"` input, as in `export_student()`.
        input_shape: input shape without batch, for subclassed models.
        from_logits: whether the model outputs logits (default) or probabilities.
        overwrite: whether to replace an existing file. Defaults to `True`.

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
    tf = _tf()
    if quantization not in TFLITE_QUANTIZATIONS:
        raise ValueError(
            f"Unknown `quantization` {quantization!r}. Use one of {list(TFLITE_QUANTIZATIONS)}: "
            "None (float32), 'dynamic_range' (int8 weights) or 'float16'."
        )
    path = pathlib.Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"TFLite path '{path}' is a directory. Pass a file name such as "
            f"'{path / 'student.tflite'}'."
        )
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"'{path}' already exists. Pass `overwrite=True` or another file name."
        )
    plan = _ServingPlan(
        model,
        class_names=class_names,
        preprocessing=preprocessing,
        input_dtype=input_dtype,
        input_shape=input_shape,
        from_logits=from_logits,
    )
    with tempfile.TemporaryDirectory(prefix="keras_anc_tflite_") as tmp:
        plan.write_saved_model(tmp)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=[SIGNATURE_KEY])
        if quantization is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantization == "float16":
            converter.target_spec.supported_types = [tf.float16]
        flatbuffer = converter.convert()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_file = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        tmp_file.write_bytes(flatbuffer)
        os.replace(tmp_file, path)
    finally:
        if tmp_file.exists():
            tmp_file.unlink()
    return path


def _make_interpreter(tflite_path, num_threads=None):
    """A TFLite interpreter: `ai_edge_litert` when installed, else `tf.lite.Interpreter`."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = None
    if Interpreter is not None:
        return Interpreter(model_path=str(tflite_path), num_threads=num_threads)
    tf = _tf()
    with warnings.catch_warnings():
        # TF 2.21 warns that tf.lite.Interpreter moves to the separate `ai_edge_litert`
        # package; it still works, and we prefer that package when it is installed.
        warnings.filterwarnings(
            "ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated", category=UserWarning
        )
        return tf.lite.Interpreter(model_path=str(tflite_path), num_threads=num_threads)


def _labelled_batches(data, batch_size, example_rank):
    """Yields `(x, y)` numpy batches from arrays or a `tf.data.Dataset`.

    `data` is `(x, y)` arrays, or a dataset of `(x, y)` tuples or of TFDS dicts with
    `"image"` and `"label"`, batched or not (`example_rank` tells them apart). One-hot labels
    are turned into class ids.
    """
    tf = _tf()

    def labels(y):
        y = np.asarray(y)
        return y.argmax(-1) if y.ndim == 2 else y.reshape(-1)

    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        if isinstance(spec, dict):
            if "image" not in spec or "label" not in spec:
                raise ValueError(
                    "A dataset of dicts must have 'image' and 'label' keys (as TFDS returns); "
                    f"found keys {sorted(spec)}. Or map it to (image, label) tuples."
                )
            data = data.map(lambda d: (d["image"], d["label"]))
            spec = data.element_spec
        if not isinstance(spec, tuple) or len(spec) < 2:
            raise ValueError(
                "The dataset must yield (images, labels) tuples or TFDS dicts with 'image' and "
                "'label' (e.g. `tfds.load(..., as_supervised=True)`)."
            )
        if len(spec) > 2:
            data = data.map(lambda *e: (e[0], e[1]))
        if spec[0].shape.rank == example_rank:
            data = data.batch(batch_size)
        for x, y in data.as_numpy_iterator():
            yield np.asarray(x), labels(y)
        return
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = np.asarray(data[0]), labels(data[1])
        if len(x) != len(y):
            raise ValueError(
                f"`data` has {len(x)} images but {len(y)} labels; pass matching (x, y) arrays."
            )
        for start in range(0, len(x), batch_size):
            yield x[start : start + batch_size], y[start : start + batch_size]
        return
    raise ValueError(
        "`data` must be a tuple `(images, labels)` of arrays or a `tf.data.Dataset` of "
        f"(image, label) pairs. Received: {type(data).__name__}."
    )


class _TFLiteRunner:
    """Runs a `.tflite` file batch by batch and returns its class ids (and logits, if any)."""

    def __init__(self, tflite_path, num_threads=None):
        self.interpreter = _make_interpreter(tflite_path, num_threads=num_threads)
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
    runner = _TFLiteRunner(tflite_path, num_threads=num_threads)
    correct = total = 0
    for x, y in _labelled_batches(data, batch_size, runner.example_rank):
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


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _dir_size(path):
    return sum(f.stat().st_size for f in pathlib.Path(path).rglob("*") if f.is_file())


def _score(class_ids, logits, labels, reference):
    """Accuracy, agreement with the Keras predictions and max logit deviation."""
    class_ids = np.concatenate(class_ids)
    result = {
        "accuracy": float(np.mean(class_ids == labels)),
        "agreement_with_keras": float(np.mean(class_ids == reference["class_ids"])),
    }
    if logits and logits[0] is not None:
        diff = np.abs(np.concatenate(logits) - reference["logits"])
        result["max_abs_logit_diff"] = float(diff.max())
    return result


def export_report(
    model,
    test_data,
    out_dir,
    *,
    version=None,
    overwrite=False,
    class_names=None,
    preprocessing=None,
    input_dtype=None,
    input_shape=None,
    from_logits=True,
    warmup=None,
    warmup_examples=None,
    tflite_quantizations=(None, "dynamic_range"),
    batch_size=256,
    saved_model_path=None,
):
    """Exports the student for deployment and measures every artefact on a test split.

    Writes `out_dir/saved_model/<version>/` (via `export_student()`) and one `.tflite` file
    per entry of `tflite_quantizations` (`out_dir/student_float32.tflite`,
    `out_dir/student_dynamic_range.tflite`, ...), then runs the Keras model, the reloaded
    SavedModel signature and each TFLite file on `test_data` and reports file sizes and
    accuracies. `test_data` is in the *signature's* input format: raw images when
    `preprocessing` is baked in (the Keras model then gets the same preprocessing first).

    Args:
        model: a built Keras classifier (the student).
        test_data: labelled test images, as for `evaluate_tflite()`.
        out_dir: directory for the artefacts. Created if missing.
        version, overwrite, class_names, preprocessing, input_dtype, input_shape,
            from_logits, warmup, warmup_examples: passed to `export_student()` (and the
            preprocessing/signature options to `export_tflite()`).
        tflite_quantizations: the TFLite variants to write, from `None` (float32),
            `"dynamic_range"` and `"float16"`. Defaults to float32 and dynamic range.
        batch_size: evaluation batch size. Defaults to 256.
        saved_model_path: TF-Serving base path for the SavedModel versions. Defaults to
            `out_dir/saved_model`.

    Returns:
        A JSON-serialisable dict, e.g.
        `{"keras": {"accuracy", "num_examples", "num_params"},
        "saved_model": {"path", "version", "size_bytes", "accuracy", "agreement_with_keras",
        "max_abs_logit_diff"}, "tflite_float32": {"path", "size_bytes", "accuracy",
        "agreement_with_keras", "max_abs_logit_diff", "size_ratio_to_float32"},
        "tflite_dynamic_range": {...}}`, ready to merge into a `results.json`.

    Example:

    ```python
    test = tfds.load("cifar10", split="test", as_supervised=True)
    report = keras_anc.export.export_report(
        student, test, "artefacts/", preprocessing={"mean": MEAN, "std": STD}
    )
    results.update({"deployment": report})
    ```
    """
    tf = _tf()
    out_dir = pathlib.Path(out_dir)
    signature_options = dict(
        class_names=class_names,
        preprocessing=preprocessing,
        input_dtype=input_dtype,
        input_shape=input_shape,
        from_logits=from_logits,
    )
    for quantization in tflite_quantizations:
        if quantization not in TFLITE_QUANTIZATIONS:
            raise ValueError(
                f"Unknown entry {quantization!r} in `tflite_quantizations`; use values from "
                f"{list(TFLITE_QUANTIZATIONS)}."
            )
    plan = _ServingPlan(model, **signature_options)
    example_rank = len(plan.input_spec.shape) - 1

    # Read the test data once, so that a dataset that reshuffles on every pass cannot pair
    # one artefact's predictions with another pass's labels.
    batches = list(_labelled_batches(test_data, batch_size, example_rank))
    if not batches:
        raise ValueError("`test_data` is empty; pass at least one labelled example.")
    if plan.input_spec.dtype.is_integer and not np.issubdtype(batches[0][0].dtype, np.integer):
        raise ValueError(
            f"The exported signature takes raw {plan.input_spec.dtype.name} images (preprocessing "
            f"is baked in), but `test_data` holds {batches[0][0].dtype} values. Pass the raw, "
            "un-normalised test images."
        )

    version_dir = export_student(
        model,
        saved_model_path if saved_model_path is not None else out_dir / "saved_model",
        version,
        overwrite=overwrite,
        warmup=warmup,
        warmup_examples=warmup_examples,
        **signature_options,
    )

    # Keras reference: preprocessing (as baked into the signature) + the model itself.
    preprocess = tf.function(lambda x: plan._preprocess(tf.cast(x, tf.float32)))
    labels, keras_logits = [], []
    for x, y in batches:
        x_model = preprocess(x) if plan.preprocessing is not None else x
        out = np.asarray(model.predict_on_batch(x_model), dtype="float32")
        if not from_logits:
            out = np.log(np.maximum(out, 1e-12))
        keras_logits.append(out)
        labels.append(y)
    labels = np.concatenate(labels)
    keras_logits = np.concatenate(keras_logits)
    reference = {"class_ids": keras_logits.argmax(-1), "logits": keras_logits}
    report = {
        "keras": {
            "accuracy": float(np.mean(reference["class_ids"] == labels)),
            "num_examples": int(len(labels)),
            "num_params": int(model.count_params()),
        }
    }

    serving = tf.saved_model.load(str(version_dir)).signatures[SIGNATURE_KEY]
    ids, logits = [], []
    for x, _ in batches:
        outputs = serving(**{INPUT_NAME: tf.constant(x, dtype=plan.input_spec.dtype)})
        ids.append(outputs["class_id"].numpy())
        logits.append(outputs["logits"].numpy())
    report["saved_model"] = {
        "path": str(version_dir),
        "version": int(version_dir.name),
        "size_bytes": _dir_size(version_dir),
        **_score(ids, logits, labels, reference),
    }

    float32_size = None
    for quantization in tflite_quantizations:
        name = quantization or "float32"
        tflite_path = export_tflite(
            model,
            out_dir / f"student_{name}.tflite",
            quantization=quantization,
            **signature_options,
        )
        runner = _TFLiteRunner(tflite_path)
        ids, logits = [], []
        for x, _ in batches:
            class_id, batch_logits = runner(x)
            ids.append(class_id)
            logits.append(batch_logits)
        size = tflite_path.stat().st_size
        if quantization is None:
            float32_size = size
        entry = {
            "path": str(tflite_path),
            "size_bytes": size,
            **_score(ids, logits, labels, reference),
        }
        report[f"tflite_{name}"] = entry
    if float32_size:
        for quantization in tflite_quantizations:
            entry = report[f"tflite_{quantization or 'float32'}"]
            entry["size_ratio_to_float32"] = entry["size_bytes"] / float32_size
    return report
