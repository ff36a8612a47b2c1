"""The serving signature of an exported student: what a client sends and what it gets back.

`ServingSignature` holds the options that shape the `serving_default` signature (input shape and
dtype, baked-in preprocessing, class names, logits or probabilities). The same object is passed
to `export_student()`, `export_tflite()` and `export_report()`, so every artefact of one student
has the same contract.

`ServingPlan` (internal to `keras_anc.export`) binds a `ServingSignature` to a built model: it
infers the input spec and the number of classes, validates the options against them and holds
the TensorFlow function that TF-Serving and the TFLite interpreter run.
"""

import dataclasses
import math
import numbers

import keras
import numpy as np

from keras_anc.errors import UnsupportedBackendError, require_tensorflow

SIGNATURE_KEY = "serving_default"
INPUT_NAME = "images"

_PREPROCESSING_KEYS = ("mean", "std", "scale")
_FEATURE = "`keras_anc.export` (SavedModel and TFLite are TensorFlow formats)"


def _tf():
    # Imported lazily: `import keras_anc.export` must not need TensorFlow.
    return require_tensorflow(_FEATURE)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServingSignature:
    """The `serving_default` contract of an exported student.

    The exported function takes one input named `"images"` of shape `(batch, H, W, C)` (the
    model's training size, dynamic batch) and returns `"logits"` (`float32`,
    `(batch, num_classes)`), `"probabilities"` (`float32`, softmax of the logits),
    `"class_id"` (`int64`, argmax) and, when `class_names` is given, `"class_name"` (`string`).

    What the client sends depends on `preprocessing`:

    - `None`: exactly what the Keras model was trained on, in the model's input dtype
      (normally `float32`).
    - `{"mean": m, "std": s, "scale": 255.0}`: raw pixels (`uint8` by default). The signature
      computes `x = float32(images) / scale`, then `(x - mean) / std` per channel (`mean` and
      `std` are one number or one per channel; defaults `mean=0`, `std=1`, `scale=255`).
    - a Keras layer or callable of TensorFlow ops: it receives the raw input cast to `float32`
      (still in `[0, 255]` for `uint8` images) and returns the model's input, e.g.
      `keras.layers.Rescaling(1 / 255)`. A layer's variables are saved with the model.

    Values are validated on construction; the checks that need the model (number of classes,
    number of channels) run when the signature is exported.

    Args:
        class_names: optional sequence of `num_classes` strings, in class-id order; adds the
            `"class_name"` output. Stored as a tuple.
        preprocessing: optional preprocessing baked into the signature (see above). A dict is
            copied, with `mean`/`std` stored as tuples of floats and `scale` as a float.
        input_dtype: dtype of the `"images"` input, e.g. `"uint8"` or `"float32"`. Defaults to
            `None`: `"uint8"` with `preprocessing`, else the model's input dtype. Without
            preprocessing, another dtype is only cast to the model's dtype.
        input_shape: input shape without the batch dimension, e.g. `(28, 28, 1)`. Defaults to
            `None`: the model's input shape. Needed only for subclassed models whose input shape
            cannot be inferred.
        from_logits: whether the model outputs logits (default). If `False` the model outputs
            probabilities; they are passed through as `"probabilities"` and `"logits"` is their
            log.

    Example:

    ```python
    signature = keras_anc.export.ServingSignature(
        class_names=ds_info.features["label"].names,
        preprocessing={"mean": [0.4914, 0.4822, 0.4465], "std": [0.247, 0.243, 0.261]},
    )
    keras_anc.export.export_student(student, "models/cifar_student", signature=signature)
    keras_anc.export.export_tflite(student, "student.tflite", signature=signature)
    ```
    """

    class_names: tuple | None = None
    preprocessing: object = None
    input_dtype: str | None = None
    input_shape: tuple | None = None
    from_logits: bool = True

    def __post_init__(self):
        def set_field(name, value):  # The dataclass is frozen.
            object.__setattr__(self, name, value)

        set_field("class_names", _check_class_names(self.class_names))
        set_field("preprocessing", _normalise_preprocessing(self.preprocessing))
        set_field("input_dtype", _check_input_dtype(self.input_dtype))
        set_field("input_shape", _check_input_shape(self.input_shape))
        if not isinstance(self.from_logits, (bool, np.bool_)):
            raise ValueError(
                "`from_logits` must be True (the model outputs logits) or False (it outputs "
                f"probabilities). Received: `from_logits={self.from_logits!r}`."
            )
        set_field("from_logits", bool(self.from_logits))


SIGNATURE_FIELDS = tuple(field.name for field in dataclasses.fields(ServingSignature))


def resolve_signature(signature, options, caller):
    """Returns the `ServingSignature` given to an export function.

    `signature` is the `signature=` argument, `options` the other keyword arguments: the
    `ServingSignature` fields as a shorthand (`class_names=...` and so on). Exactly one of the
    two forms may be used.
    """
    unknown = sorted(set(options) - set(SIGNATURE_FIELDS))
    if unknown:
        raise TypeError(
            f"`{caller}()` got unexpected keyword arguments {unknown}. Besides its own "
            f"arguments it accepts the `ServingSignature` fields {list(SIGNATURE_FIELDS)}."
        )
    if signature is None:
        return ServingSignature(**options)
    if not isinstance(signature, ServingSignature):
        raise TypeError(
            "`signature` must be a `keras_anc.export.ServingSignature`. "
            f"Received: `signature={signature!r}` of type {type(signature).__name__}."
        )
    if options:
        raise ValueError(
            f"Pass the serving options to `{caller}()` either as "
            "`signature=ServingSignature(...)` or as keyword arguments, not both. Received: "
            f"`signature={signature!r}` and {sorted(options)}. Put them in the signature, e.g. "
            "`dataclasses.replace(signature, class_names=...)`."
        )
    return signature


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _check_class_names(class_names):
    if class_names is None:
        return None
    if isinstance(class_names, (str, bytes)):
        raise ValueError(
            "`class_names` must be a list of strings, one per class, not a single string. "
            f"Received: `class_names={class_names!r}`."
        )
    try:
        class_names = tuple(class_names)
    except TypeError:
        raise ValueError(
            "`class_names` must be a list of strings, one per class. "
            f"Received: `class_names={class_names!r}`."
        ) from None
    if not all(isinstance(name, str) for name in class_names):
        raise ValueError(
            "`class_names` must contain only strings (e.g. `ds_info.features['label'].names`). "
            f"Received types: {sorted({type(n).__name__ for n in class_names})}."
        )
    return tuple(str(name) for name in class_names)


def _check_num_class_names(class_names, num_classes):
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(
            f"`class_names` has {len(class_names)} entries but the model predicts {num_classes} "
            "classes. Pass exactly one name per output unit, in class-id order."
        )


def _preprocessing_stats(preprocessing, channels=None):
    """Validates a preprocessing dict; returns `{"mean", "std", "scale"}` (float64 arrays, float).

    `channels=None` skips the per-channel length check (the model is not known yet).
    """
    unknown = sorted(set(preprocessing) - set(_PREPROCESSING_KEYS))
    if unknown:
        raise ValueError(
            f"Unknown `preprocessing` keys {unknown}. Supported keys: 'mean', 'std' "
            "(per-channel, applied after scaling) and 'scale' (default 255.0), e.g. "
            "`preprocessing={'mean': [0.4914, 0.4822, 0.4465], 'std': [0.247, 0.243, 0.261]}`."
        )
    stats = {}
    for key, default in (("mean", 0.0), ("std", 1.0)):
        raw = preprocessing.get(key, default)
        try:
            value = np.asarray(raw, dtype="float64").reshape(-1)
        except (TypeError, ValueError):
            value = np.asarray([np.nan])
        sizes = (1,) if channels is None else (1, channels)
        if (
            value.size == 0
            or (channels is not None and value.size not in sizes)
            or not np.all(np.isfinite(value))
        ):
            count = "a list of numbers" if channels is None else f"a list of {channels}"
            raise ValueError(
                f"`preprocessing['{key}']` must be one finite number or {count} (one per input "
                f"channel). Received: `preprocessing['{key}']={raw!r}`."
            )
        stats[key] = value
    if np.any(stats["std"] <= 0):
        raise ValueError(
            "`preprocessing['std']` must be strictly positive. "
            f"Received: `preprocessing['std']={preprocessing['std']!r}`."
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
            f"to 1.0, 255.0 for uint8 images). Received: `preprocessing['scale']={scale!r}`."
        )
    stats["scale"] = float(scale)
    return stats


def _normalise_preprocessing(preprocessing):
    if preprocessing is None:
        return None
    if isinstance(preprocessing, dict):
        stats = _preprocessing_stats(preprocessing)
        normalised = {key: tuple(float(v) for v in stats[key]) for key in ("mean", "std")}
        normalised["scale"] = stats["scale"]
        return normalised
    if callable(preprocessing):
        return preprocessing
    raise ValueError(
        "`preprocessing` must be None, a dict like `{'mean': [...], 'std': [...]}`, or a Keras "
        f"layer / callable of TensorFlow ops. Received: `preprocessing={preprocessing!r}`."
    )


def _check_input_dtype(input_dtype):
    if input_dtype is None:
        return None
    try:
        dtype = keras.backend.standardize_dtype(input_dtype)
    except (TypeError, ValueError) as e:
        raise ValueError(
            "`input_dtype` must be a dtype name such as 'uint8' or 'float32'. "
            f"Received: `input_dtype={input_dtype!r}`."
        ) from e
    if not (keras.backend.is_float_dtype(dtype) or keras.backend.is_int_dtype(dtype)):
        raise ValueError(
            "`input_dtype` must be a numeric dtype such as 'uint8' or 'float32'. "
            f"Received: `input_dtype={dtype!r}`."
        )
    return dtype


def _check_input_shape(input_shape):
    if input_shape is None:
        return None
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if (
        not shape
        or isinstance(input_shape, str)
        or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in shape)
        or any(d <= 0 for d in shape)
    ):
        raise ValueError(
            "`input_shape` must be the image shape without the batch dimension, as positive "
            f"integers, e.g. `input_shape=(32, 32, 3)`. Received: `input_shape={input_shape!r}`."
        )
    return tuple(int(d) for d in shape)


def check_backend():
    """Raises unless TensorFlow is installed and is the active Keras backend."""
    _tf()
    if keras.backend.backend() != "tensorflow":
        raise UnsupportedBackendError(
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
            f"Received: `model={model!r}` of type {type(model).__name__}."
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


# --------------------------------------------------------------------------------------------
# Serving function
# --------------------------------------------------------------------------------------------


class ServingPlan:
    """A `ServingSignature` bound to a built model: the `serving_default` function and its spec.

    Args:
        model: a built Keras classifier with one image input and one `(batch, num_classes)`
            output.
        signature: a `ServingSignature`.
    """

    def __init__(self, model, signature):
        check_backend()
        _check_model(model)
        tf = _tf()
        self.model = model
        self.signature = signature
        shape, self.model_dtype = _model_input_spec(model, signature.input_shape)
        self.preprocessing = None
        if isinstance(signature.preprocessing, dict):
            stats = _preprocessing_stats(signature.preprocessing, channels=shape[-1])
            for key in ("mean", "std"):
                stats[key] = stats[key].astype("float32")
            self.preprocessing = ("stats", stats)
        elif signature.preprocessing is not None:
            self.preprocessing = ("callable", signature.preprocessing)
        input_dtype = signature.input_dtype
        if input_dtype is None:
            input_dtype = "uint8" if self.preprocessing is not None else self.model_dtype
        self.input_spec = tf.TensorSpec(shape, tf.dtypes.as_dtype(input_dtype), name=INPUT_NAME)
        self.from_logits = signature.from_logits
        self.preprocessing_layer = None
        if self.preprocessing is not None and self.preprocessing[0] == "callable":
            layer = self.preprocessing[1]
            if isinstance(layer, keras.layers.Layer):
                if not layer.built:
                    layer(np.zeros((1, *shape[1:]), dtype="float32"))
                self.preprocessing_layer = layer
        self.num_classes = self._infer_num_classes()
        _check_num_class_names(signature.class_names, self.num_classes)
        self.class_names = signature.class_names

    def _infer_num_classes(self):
        tf = _tf()
        spec = tf.TensorSpec(self.input_spec.shape, tf.float32)
        fn = tf.function(lambda x: self.model(self.preprocess(x), training=False))
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

    def preprocess(self, x):
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
        x = self.preprocess(x)
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
            result["class_name"] = tf.gather(tf.constant(list(self.class_names)), class_id)
        return result
