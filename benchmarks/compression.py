"""Compression strategies: the teacher quantized to int8 vs the distilled student, float and int8.

Six rows, one table: the teacher and the student (distilled by `anc` with the default recipe)
each as a float32 `.keras` file, as a Keras int8 `.keras` file (`model.quantize("int8")`) and
as a TFLite full-integer `.tflite` file (int8 weights and activations, int8 input and output,
calibrated on training images). Columns: parameters, bytes on disk, test accuracy, CPU latency
per image at batch 1 and throughput at batch 256, and both speeds as a ratio to the teacher
float32 measured side by side.

What `model.quantize("int8")` quantizes (checked on Keras 3.15.1): only layers with a
`quantize` method, i.e. `Dense`, `EinsumDense`, `Embedding` and `ReversibleEmbedding`. Their
kernel becomes int8 with a per-output-channel float scale (abs-max), and at call time their
input is quantized per row on the fly, so the matmul runs int8 x int8 -> int32 (TF backend).
`Conv2D` has no `quantize` in 3.15.1: Keras warns and leaves convolutions, biases and pooling
in float32. The TFLite rows are converted with `tf.lite` directly (SavedModel from
`model.export`, then `TFLiteConverter` with a representative data set and
`TFLITE_BUILTINS_INT8` only), because `keras_anc.export.export_tflite` offers float32,
dynamic-range and float16 but not full-integer quantization.

Timing (one process, all six models loaded from the files measured): Keras models run
`tf.function(lambda x: model(x, training=False))`, traced once per batch size (the compiled
forward pass without `predict_on_batch`'s per-call data handling); TFLite models run
`tf.lite.Interpreter.invoke()` on an interpreter allocated once per batch size, and the timed
call includes quantizing the float input to int8 with the input tensor's scale and zero point,
so every row goes from the same float32 images to scores. TF and the interpreters use the same
number of threads (`--threads`). Each round times every model in turn (the order rotates
between rounds): `calls_b1` calls at batch 1, then `calls_b256` calls at batch 256. Reported:
the median over rounds, and the median over rounds of the ratio to the teacher float32 of
the same round. Absolute times on a shared machine drift; the same-round ratios are the
numbers to compare.

Usage:

```
python -m benchmarks.compression --preset cpu --out docs/benchmark_results/compression
python -m benchmarks.compression --smoke --out /tmp/compression_smoke
# re-time an already distilled student (e.g. one kept by --save-student):
python -m benchmarks.compression --student student.keras --out /tmp/compression
```
"""

import argparse
import json
import pathlib
import statistics
import tempfile
import time
import warnings

from benchmarks.common import environment, load_arrays, write_text

PRESETS = {
    # Fashion-MNIST, the accuracy benchmark's full-data teacher (reused from the teacher
    # store) and an `anc` student trained here for a few epochs with the default recipe.
    "cpu": {
        "dataset": "fashion_mnist",
        "teacher": "lenet5_wide",
        "student": "lenet_tiny",
        "train": "train",
        "test": "test",
        "teacher_epochs": 12,
        "epochs": 4,
        "batch_size": 128,
        "seed": 0,
        "representative_size": 500,
        "rounds": 15,
        "calls_b1": 100,
        "calls_b256": 5,
    },
    # Seconds, for CI: a slice of MNIST, a one-epoch teacher, few timing calls.
    "smoke": {
        "dataset": "mnist",
        "teacher": "lenet_tiny",
        "student": "lenet_tiny",
        "train": "train[:512]",
        "test": "test[:256]",
        "teacher_epochs": 1,
        "epochs": 1,
        "batch_size": 64,
        "seed": 0,
        "representative_size": 32,
        "rounds": 2,
        "calls_b1": 3,
        "calls_b256": 1,
    },
}

ROWS = (
    ("teacher_float32", "teacher", "keras_float32"),
    ("teacher_keras_int8", "teacher", "keras_int8"),
    ("teacher_tflite_int8", "teacher", "tflite_int8"),
    ("student_float32", "student", "keras_float32"),
    ("student_keras_int8", "student", "keras_int8"),
    ("student_tflite_int8", "student", "tflite_int8"),
)
REFERENCE = "teacher_float32"
FORMAT_LABELS = {
    "keras_float32": "float32 `.keras`",
    "keras_int8": 'Keras int8 `.keras` (`quantize("int8")`)',
    "tflite_int8": "TFLite full-integer int8 `.tflite`",
}
BATCH = 256
RESULT_KEYS = ("preset", "environment", "settings", "models", "rows", "wall_seconds")


def keras_int8_file(float_path, path):
    """Loads a float `.keras` file, applies `quantize("int8")`, saves it to `path`.

    Returns `(path, quantized_layer_names, skipped_layer_types)`: the layers Keras quantized and
    the types of the layers with weights it left in float (it warns once per such layer).
    """
    import keras

    model = keras.saving.load_model(float_path, compile=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*does not have a `quantize` method")
        model.quantize("int8")
    quantized = [layer.name for layer in model.layers if _quantization_mode(layer) == "int8"]
    skipped = sorted(
        {
            type(layer).__name__
            for layer in model.layers
            if layer.weights and _quantization_mode(layer) != "int8"
        }
    )
    model.save(path)
    return path, quantized, skipped


def _quantization_mode(layer):
    return getattr(layer, "quantization_mode", None)


def tflite_int8_file(model, path, representative_images):
    """Converts `model` to a full-integer TFLite file (int8 ops, int8 input and output).

    `tf.lite` is used directly: `keras_anc.export.export_tflite` has no full-integer mode.
    Conversion fails rather than keeping float ops (`TFLITE_BUILTINS_INT8` only).
    """
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="compression_sm_") as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]

        def representative():
            for image in representative_images:
                yield [image[None].astype("float32")]

        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        flatbuffer = converter.convert()
    pathlib.Path(path).write_bytes(flatbuffer)
    return path


class KerasPredictor:
    """A `.keras` file run as `tf.function(lambda x: model(x, training=False))`.

    The compiled forward pass, traced once per batch size, output copied to NumPy.
    `predict_on_batch` would add Keras' per-call data handling (about 3 ms per call on the
    benchmark machine), which dominates batch-1 latency of small models.
    """

    def __init__(self, path):
        import keras

        self.model = keras.saving.load_model(path, compile=False)
        self._functions = {}

    def predictor(self, batch_size):
        import tensorflow as tf

        if batch_size not in self._functions:
            model = self.model
            spec = tf.TensorSpec((batch_size, *model.input_shape[1:]), "float32")
            forward = tf.function(lambda x: model(x, training=False), input_signature=[spec])
            self._functions[batch_size] = lambda x: forward(x).numpy()
        return self._functions[batch_size]


class TFLitePredictor:
    """A full-integer `.tflite` file: float images in (quantized inside the call), scores out.

    One interpreter per batch size, allocated once, so timed calls never re-allocate.
    """

    def __init__(self, path, num_threads):
        self.path = str(path)
        self.num_threads = num_threads
        self._interpreters = {}

    def predictor(self, batch_size):
        import numpy as np

        from keras_anc.export.tflite import make_interpreter

        if batch_size not in self._interpreters:
            interpreter = make_interpreter(self.path, num_threads=self.num_threads)
            detail = interpreter.get_input_details()[0]
            interpreter.resize_tensor_input(detail["index"], (batch_size, *detail["shape"][1:]))
            interpreter.allocate_tensors()
            self._interpreters[batch_size] = interpreter
        interpreter = self._interpreters[batch_size]
        detail = interpreter.get_input_details()[0]
        scale, zero_point = detail["quantization"]
        info = np.iinfo(detail["dtype"])
        input_index = detail["index"]
        output_index = interpreter.get_output_details()[0]["index"]

        def predict(x):
            q = np.clip(np.round(x / scale) + zero_point, info.min, info.max)
            interpreter.set_tensor(input_index, q.astype(detail["dtype"]))
            interpreter.invoke()
            return interpreter.get_tensor(output_index)

        return predict


def accuracy(predictor, x, y):
    """Test accuracy with batches of `BATCH` (the last batch padded, padding discarded)."""
    import numpy as np

    predict = predictor.predictor(BATCH)
    correct = 0
    for start in range(0, len(x), BATCH):
        batch = x[start : start + BATCH]
        n = len(batch)
        if n < BATCH:
            batch = np.concatenate([batch, np.repeat(batch[-1:], BATCH - n, axis=0)])
        scores = np.asarray(predict(batch))[:n]
        correct += int(np.sum(np.argmax(scores, axis=-1) == y[start : start + n]))
    return correct / len(x)


def measure_speed(predictors, x, rounds, calls_b1, calls_b256, warmup=3):
    """Interleaved timing of every predictor; returns per-round seconds per call.

    Args:
        predictors: dict row name -> object with `predictor(batch_size)`.
        x: float images, at least `BATCH` of them.
        rounds: number of rounds; in each, every predictor is timed once per batch size.
        calls_b1: consecutive batch-1 calls per timing.
        calls_b256: consecutive batch-`BATCH` calls per timing.
        warmup: untimed calls per predictor and batch size before the first round.

    Returns:
        Dict row name -> `{"b1": [s per call per round], "b256": [...]}`.
    """
    x1, xb = x[:1], x[:BATCH]
    fns = {name: (p.predictor(1), p.predictor(BATCH)) for name, p in predictors.items()}
    for f1, fb in fns.values():
        for _ in range(warmup):
            f1(x1)
            fb(xb)
    times = {name: {"b1": [], "b256": []} for name in fns}
    names = list(fns)
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            f1, fb = fns[name]
            start = time.perf_counter()
            for _ in range(calls_b1):
                f1(x1)
            times[name]["b1"].append((time.perf_counter() - start) / calls_b1)
            start = time.perf_counter()
            for _ in range(calls_b256):
                fb(xb)
            times[name]["b256"].append((time.perf_counter() - start) / calls_b256)
    return times


def summarize_speed(times, reference=REFERENCE):
    """Medians and same-round speed-ups over `reference` (>1: faster than the reference)."""
    out = {}
    ref = times[reference]
    for name, t in times.items():
        out[name] = {
            "latency_ms_b1": 1e3 * statistics.median(t["b1"]),
            "throughput_b256": BATCH / statistics.median(t["b256"]),
            "speedup_b1": statistics.median(r / v for r, v in zip(ref["b1"], t["b1"])),
            "speedup_b256": statistics.median(r / v for r, v in zip(ref["b256"], t["b256"])),
            "seconds_per_call_b1": t["b1"],
            "seconds_per_call_b256": t["b256"],
        }
    return out


def _student(config, teacher, train, student_path, log):
    """The distilled student: loaded from `student_path`, or trained by `anc` here."""
    import keras

    from benchmarks.accuracy import fit_student
    from keras_anc.model_files import load_model
    from keras_anc.models import get_model
    from keras_anc.recipe import DEFAULT_RECIPE

    if student_path:
        log(f"student from {student_path}")
        return load_model(student_path, "student", compile=False), 0.0
    keras.utils.set_random_seed(config["seed"])
    student = get_model(
        config["student"], input_shape=train[0].shape[1:], num_classes=10, name="student"
    )
    seconds, _ = fit_student(
        "anc",
        teacher,
        student,
        train,
        config["batch_size"],
        config["epochs"],
        config["seed"],
        DEFAULT_RECIPE,
    )
    log(f"trained student {config['student']} by anc, {config['epochs']} epochs, {seconds:.0f}s")
    return student, seconds


def run(
    preset,
    out,
    cache_dir=None,
    student_path=None,
    threads=2,
    log=print,
    save_student=None,
    **overrides,
):
    """Runs the benchmark and writes `results.json` and `results.md` to `out`.

    `student_path` loads the student instead of training it; `save_student` keeps the
    trained student as a `.keras` file (to re-time it later with `student_path`).
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from benchmarks.accuracy import TEACHER_BATCH_SIZE, TEACHER_LEARNING_RATE, stored_teacher
    from keras_anc.recipe import DEFAULT_RECIPE

    config = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError as e:  # TF already initialized in this process
        warnings.warn(f"Could not set TF intra-op threads to {threads}: {e}", stacklevel=2)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    name = config["dataset"]
    x_train, y_train = load_arrays(name, config["train"])
    x_test, y_test = load_arrays(name, config["test"])
    if len(x_test) < BATCH:
        raise ValueError(
            f"The test split must hold at least {BATCH} images for the batch-{BATCH} timing. "
            f"Received: `test={config['test']!r}` ({len(x_test)} images)."
        )
    spec = {k: config[k] for k in ("teacher", "train", "teacher_epochs")}
    teacher, teacher_path, teacher_seconds = stored_teacher(
        name,
        spec,
        (x_train, y_train),
        TEACHER_BATCH_SIZE,
        TEACHER_LEARNING_RATE,
        cache_dir,
        log,
    )
    student, student_seconds = _student(config, teacher, (x_train, y_train), student_path, log)
    if save_student and not student_path:
        from keras_anc.model_files import save_model

        log(f"student saved to {save_model(student, save_student)}")
    rng = np.random.default_rng(config["seed"])
    representative = x_train[rng.permutation(len(x_train))[: config["representative_size"]]]
    results = {
        "preset": preset,
        "environment": environment(),
        "settings": {
            **config,
            "threads": threads,
            "batch_throughput": BATCH,
            "train_size": len(x_train),
            "test_size": len(x_test),
            "student_method": "anc",
            "student_recipe": DEFAULT_RECIPE.to_dict() if not student_path else None,
            "student_path": str(student_path) if student_path else None,
            "keras_timing": "tf.function(lambda x: model(x, training=False))(x).numpy()",
            "tflite_timing": "quantize input + tf.lite.Interpreter invoke",
        },
        "models": {},
        "rows": {},
    }
    with tempfile.TemporaryDirectory(prefix="compression_models_") as tmp:
        tmp = pathlib.Path(tmp)
        predictors = {}
        for role, model in (("teacher", teacher), ("student", student)):
            float_path = tmp / f"{role}_float32.keras"
            # An uncompiled copy, so that no optimizer state is saved with a model trained
            # in this process: the file holds the network only, like the int8 ones.
            bare = keras.models.clone_model(model)
            bare.set_weights(model.get_weights())
            bare.save(float_path)
            _, quantized, skipped = keras_int8_file(float_path, tmp / f"{role}_int8.keras")
            tflite_int8_file(model, tmp / f"{role}_int8.tflite", representative)
            results["models"][role] = {
                "architecture": config[role],
                "params": int(model.count_params()),
                "keras_int8_quantized_layers": quantized,
                "keras_int8_float_layer_types": skipped,
                "keras_int8_quantized_params": int(
                    sum(
                        sum(int(np.prod(w.shape)) for w in model.get_layer(n).weights)
                        for n in quantized
                    )
                ),
            }
            log(f"{role}: Keras int8 quantized {quantized}; left in float: {skipped}")
            paths = {
                "keras_float32": float_path,
                "keras_int8": tmp / f"{role}_int8.keras",
                "tflite_int8": tmp / f"{role}_int8.tflite",
            }
            for row, row_role, fmt in ROWS:
                if row_role != role:
                    continue
                path = paths[fmt]
                predictor = (
                    TFLitePredictor(path, threads) if fmt == "tflite_int8" else KerasPredictor(path)
                )
                predictors[row] = predictor
                acc = accuracy(predictor, x_test, y_test)
                results["rows"][row] = {
                    "model": role,
                    "format": fmt,
                    "params": results["models"][role]["params"],
                    "file_bytes": path.stat().st_size,
                    "accuracy": acc,
                }
                log(f"{row:22s} {path.stat().st_size:>9,d} bytes  accuracy {acc:.4f}")
        log(f"timing: {config['rounds']} rounds, interleaved")
        times = measure_speed(
            predictors, x_test, config["rounds"], config["calls_b1"], config["calls_b256"]
        )
    ref_bytes = results["rows"][REFERENCE]["file_bytes"]
    for row, speed in summarize_speed(times).items():
        results["rows"][row].update(speed)
        results["rows"][row]["size_vs_teacher_float32"] = (
            results["rows"][row]["file_bytes"] / ref_bytes
        )
    results["teacher_path"] = teacher_path
    results["teacher_train_seconds"] = teacher_seconds
    results["student_train_seconds"] = student_seconds
    results["wall_seconds"] = time.perf_counter() - started
    write_text(out / "results.json", json.dumps(results, indent=1))
    write_text(out / "results.md", markdown_table(results))
    log(f"wrote {out}/results.json and results.md ({results['wall_seconds']:.0f}s)")
    return results


def markdown_table(results):
    """The results as Markdown: one table, the six rows, and how they were measured."""
    s = results["settings"]
    env = results["environment"]
    lines = [
        f"### {s['dataset']}: {s['teacher']} (teacher) vs {s['student']} (student, anc)",
        "",
        "| row | format | params | file (bytes) | size vs teacher f32 | test accuracy (%) "
        "| batch-1 latency (ms) | speed-up b1 | batch-256 (img/s) | speed-up b256 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row, _, _ in ROWS:
        r = results["rows"][row]
        lines.append(
            f"| {row} | {FORMAT_LABELS[r['format']]} | {r['params']:,} | {r['file_bytes']:,} | "
            f"{r['size_vs_teacher_float32']:.3f}x | {r['accuracy'] * 100:.2f} | "
            f"{r['latency_ms_b1']:.3f} | {r['speedup_b1']:.2f}x | "
            f"{r['throughput_b256']:,.0f} | {r['speedup_b256']:.2f}x |"
        )
    quantized = "; ".join(
        f"{role}: {', '.join(m['keras_int8_quantized_layers']) or 'none'} "
        f"({m['keras_int8_quantized_params']:,} of {m['params']:,} params), float: "
        f"{', '.join(m['keras_int8_float_layer_types']) or 'none'}"
        for role, m in results["models"].items()
    )
    student = (
        f"loaded from `{s['student_path']}`"
        if s.get("student_path")
        else f"distilled by `anc` with the default recipe, {s['epochs']} epochs on "
        f"`{s['train']}` ({s['train_size']} images, no labels)"
    )
    lines += [
        "",
        f"Test split `{s['test']}` ({s['test_size']} images). Teacher: the teacher store's "
        f"{s['teacher']} ({s['teacher_epochs']} epochs on `{s['train']}`). Student: {student}. "
        f"TFLite rows: full-integer (int8 ops, int8 input/output), calibrated on "
        f"{s['representative_size']} training images. Keras int8 (Keras {env['keras']}) "
        f"quantized {quantized}.",
        "",
        f"Speed: one process, {s['threads']} threads for TF and TFLite, "
        f"{env['cpu_count']} CPUs ({env['processor']}), TF {env['tensorflow']}. Keras rows: "
        f"`{s['keras_timing']}`; TFLite rows: {s['tflite_timing']} (the float->int8 input "
        f"quantization is inside the timed call). {s['rounds']} interleaved rounds, each "
        f"{s['calls_b1']} batch-1 calls and {s['calls_b256']} batch-{s['batch_throughput']} "
        "calls per row; medians over rounds. Speed-up: median over rounds of "
        "(teacher float32 time / row time) in the same round; > 1 is faster. Absolute times "
        "on a shared machine drift between runs; the same-round ratios are the comparison.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--smoke", action="store_true", help="alias of --preset smoke")
    parser.add_argument("--out", default="docs/benchmark_results/compression")
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="root of the teacher store (default: keras_anc.teacher_store's default root)",
    )
    parser.add_argument(
        "--student", default=None, help="a distilled student `.keras` file (default: train one)"
    )
    parser.add_argument(
        "--save-student", default=None, help="also save the trained student to this `.keras` file"
    )
    parser.add_argument("--epochs", type=int, help="override the preset's student epochs")
    parser.add_argument("--rounds", type=int, help="override the preset's timing rounds")
    parser.add_argument("--threads", type=int, default=2, help="TF and TFLite threads")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite results.md from --out/results.json"
    )
    args = parser.parse_args(argv)
    if args.render:
        out = pathlib.Path(args.out)
        results = json.loads((out / "results.json").read_text())
        write_text(out / "results.md", markdown_table(results))
        return

    def log(message):
        print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)

    run(
        "smoke" if args.smoke else args.preset,
        args.out,
        args.cache_dir,
        args.student,
        args.threads,
        log,
        save_student=args.save_student,
        epochs=args.epochs,
        rounds=args.rounds,
    )


if __name__ == "__main__":
    main()
