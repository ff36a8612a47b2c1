"""One call that exports every deployment artefact of a student and measures it.

`export_report()` writes the TF-Serving SavedModel and the TFLite variants, runs the Keras model,
the reloaded SavedModel signature and each `.tflite` file on the same test images, and returns
their sizes and accuracies as a JSON-ready dict (the `"deployment"` entry of a `results.json`).
"""

import pathlib

import numpy as np

from keras_anc.errors import require_tensorflow
from keras_anc.export._data import labelled_batches
from keras_anc.export.saved_model import export_student
from keras_anc.export.signature import INPUT_NAME, SIGNATURE_KEY, ServingPlan, resolve_signature
from keras_anc.export.tflite import TFLiteRunner, check_quantization, export_tflite


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
    signature=None,
    version=None,
    overwrite=False,
    warmup=None,
    warmup_examples=None,
    tflite_quantizations=(None, "dynamic_range"),
    batch_size=256,
    saved_model_path=None,
    **signature_options,
):
    """Exports the student for deployment and measures every artefact on a test split.

    Writes `out_dir/saved_model/<version>/` (via `export_student()`) and one `.tflite` file
    per entry of `tflite_quantizations` (`out_dir/student_float32.tflite`,
    `out_dir/student_dynamic_range.tflite`, ...), then runs the Keras model, the reloaded
    SavedModel signature and each TFLite file on `test_data` and reports file sizes and
    accuracies. `test_data` is in the *signature's* input format: raw images when
    preprocessing is baked in (the Keras model then gets the same preprocessing first).

    Args:
        model: a built Keras classifier (the student).
        test_data: labelled test images, as for `evaluate_tflite()`.
        out_dir: directory for the artefacts. Created if missing.
        signature: a `keras_anc.export.ServingSignature`, shared by the SavedModel and the
            TFLite files. Defaults to `None`: the signature built from `**signature_options`.
        version, overwrite, warmup, warmup_examples: passed to `export_student()`.
        tflite_quantizations: the TFLite variants to write, from `None` (float32),
            `"dynamic_range"` and `"float16"`. Defaults to float32 and dynamic range.
        batch_size: evaluation batch size. Defaults to 256.
        saved_model_path: TF-Serving base path for the SavedModel versions. Defaults to
            `out_dir/saved_model`.
        **signature_options: the `ServingSignature` fields (`class_names`, `preprocessing`,
            `input_dtype`, `input_shape`, `from_logits`), as a shorthand for
            `signature=ServingSignature(...)`. Cannot be combined with `signature`.

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
        student,
        test,
        "artefacts/",
        signature=keras_anc.export.ServingSignature(preprocessing={"mean": MEAN, "std": STD}),
    )
    results.update({"deployment": report})
    ```
    """
    signature = resolve_signature(signature, signature_options, "export_report")
    out_dir = pathlib.Path(out_dir)
    tflite_quantizations = tuple(tflite_quantizations)
    for quantization in tflite_quantizations:
        check_quantization(
            quantization,
            received=f"`tflite_quantizations={tflite_quantizations!r}`",
        )
    plan = ServingPlan(model, signature)
    tf = require_tensorflow("`export_report()`")
    example_rank = len(plan.input_spec.shape) - 1

    # Read the test data once, so that a dataset that reshuffles on every pass cannot pair
    # one artefact's predictions with another pass's labels.
    batches = list(labelled_batches(test_data, batch_size, example_rank))
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
        signature=signature,
        overwrite=overwrite,
        warmup=warmup,
        warmup_examples=warmup_examples,
    )

    # Keras reference: preprocessing (as baked into the signature) + the model itself.
    preprocess = tf.function(lambda x: plan.preprocess(tf.cast(x, tf.float32)))
    labels, keras_logits = [], []
    for x, y in batches:
        x_model = preprocess(x) if plan.preprocessing is not None else x
        out = np.asarray(model.predict_on_batch(x_model), dtype="float32")
        if not signature.from_logits:
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
            signature=signature,
            quantization=quantization,
        )
        runner = TFLiteRunner(tflite_path)
        ids, logits = [], []
        for x, _ in batches:
            class_id, batch_logits = runner(x)
            ids.append(class_id)
            logits.append(batch_logits)
        size = tflite_path.stat().st_size
        if quantization is None:
            float32_size = size
        report[f"tflite_{name}"] = {
            "path": str(tflite_path),
            "size_bytes": size,
            **_score(ids, logits, labels, reference),
        }
    if float32_size:
        for quantization in tflite_quantizations:
            entry = report[f"tflite_{quantization or 'float32'}"]
            entry["size_ratio_to_float32"] = entry["size_bytes"] / float32_size
    return report
