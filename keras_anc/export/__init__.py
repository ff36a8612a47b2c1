"""Deployment export for a trained student: TF-Serving SavedModels and TFLite files.

Only the student is exported. The teacher and the discriminator are training-time machinery and
never reach the deployed artefact. The modules are organised by format, as `keras.export` is:

- `export_student()` (`saved_model`): a versioned TensorFlow SavedModel laid out the way
  TensorFlow Serving watches a model base path (`path/<version>/saved_model.pb`), with a
  `serving_default` signature and, optionally, a TF-Serving warm-up file (`warmup`).
- `export_tflite()` and `evaluate_tflite()` (`tflite`): a `.tflite` flatbuffer (float32,
  dynamic-range quantised or float16) with the same signature, and its accuracy on labelled
  images through the TFLite interpreter.
- `export_report()` (`report`): exports the SavedModel and the TFLite variants and measures their
  sizes and accuracies against the Keras model, as a JSON-ready dict.
- `ServingSignature` (`signature`): the serving contract shared by all of them.

Serving contract (the same for the SavedModel and the TFLite files):

- Signature key `"serving_default"`, one input named `"images"` of shape `(batch, H, W, C)`
  (the model's input shape; the batch dimension is dynamic).
- Input dtype: without preprocessing it is the model's input dtype (normally `float32`) and the
  client sends exactly what the Keras model was trained on. With preprocessing it is `uint8`
  (raw pixels in `[0, 255]`) unless `input_dtype` says otherwise.
- Outputs: `"logits"` (`float32`, `(batch, num_classes)`), `"probabilities"` (`float32`, softmax
  of the logits), `"class_id"` (`int64`, `(batch,)`, argmax) and, when `class_names` are given,
  `"class_name"` (`string`, `(batch,)`).

Importing this package needs Keras and NumPy only; TensorFlow (`pip install tensorflow`) is
imported when an export function runs, and the export functions need the TensorFlow backend.
See `docs/deployment.md` for TF-Serving REST/gRPC requests, `saved_model_cli` commands and
TFLite usage.

Example:

```python
from keras_anc.export import ServingSignature, export_student, export_tflite

signature = ServingSignature(class_names=[str(i) for i in range(10)],
                             preprocessing={"mean": [0.1307], "std": [0.3081]})
export_student(distiller.student, "models/mnist_student", signature=signature)
export_tflite(distiller.student, "student.tflite", signature=signature,
              quantization="dynamic_range")
```
"""

from keras_anc.export.report import export_report
from keras_anc.export.saved_model import existing_versions, export_student
from keras_anc.export.signature import INPUT_NAME, SIGNATURE_KEY, ServingSignature
from keras_anc.export.tflite import TFLITE_QUANTIZATIONS, evaluate_tflite, export_tflite
from keras_anc.export.warmup import WARMUP_DIRNAME, WARMUP_FILENAME

__all__ = [
    "INPUT_NAME",
    "SIGNATURE_KEY",
    "TFLITE_QUANTIZATIONS",
    "WARMUP_DIRNAME",
    "WARMUP_FILENAME",
    "ServingSignature",
    "evaluate_tflite",
    "existing_versions",
    "export_report",
    "export_student",
    "export_tflite",
]
