"""Backends benchmark: ANC against `keras.distillation.Distiller`, per Keras backend.

Training throughput (images per second) of one epoch over random 32x32x3 images held in
memory, resnet32 (teacher) -> resnet8 (student), for three configurations on each of
TensorFlow, JAX and PyTorch:

- `anc`: `AdversarialDistiller` (label-free, the `anc` method's defaults);
- `keras_distiller`: `keras.distillation.Distiller` with `LogitsDistillation(T=4)` and
  the label term (the `hinton_kd` method);
- `student_labels`: the student alone on labels (the floor of any distillation step
  but the teacher's inference).

The backend is fixed per process, so the script starts itself once per backend
(`--worker`). Within a backend the configurations run in alternation, `--repeats` times
each after one untimed (compiling) epoch, and the median is reported; the ratio ANC /
Keras Distiller is therefore measured side by side in one process. Every backend uses its
usual compilation: `jit_compile=True` on JAX (XLA; eager JAX is far slower), none on
TensorFlow (`tf.function` graphs; XLA did not help on CPU, see docs/benchmarks.md) and
none on PyTorch (`torch.compile` takes minutes to compile here).

Usage:

```
python -m benchmarks.backends --out docs/benchmark_results/backends
python -m benchmarks.backends --smoke --out /tmp/backends_smoke
```
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

BACKENDS = ("tensorflow", "jax", "torch")
CONFIGS = ("anc", "keras_distiller", "student_labels")
JIT_COMPILE = {"tensorflow": False, "jax": True, "torch": False}


# ---------------------------------------------------------------------- worker


def _build(config, teacher, student, backend):
    import keras

    from keras_anc.methods import make_method

    method = {"anc": "anc", "keras_distiller": "hinton_kd", "student_labels": "labels"}[config]
    options = {"seed": 0} if method == "anc" else {}
    return make_method(
        method,
        teacher,
        student,
        keras.optimizers.Adam(1e-3),
        metrics=None,
        jit_compile=JIT_COMPILE[backend],
        **options,
    )


def _epoch_seconds(model, x, y, batch_size):
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    return time.perf_counter() - start


def run_worker(backend, size, repeats, batch_size, out):
    """Measures the configurations on this process's backend; writes JSON to `out`."""
    import keras
    import numpy as np

    from keras_anc.models import get_model

    if keras.backend.backend() != backend:
        raise SystemExit(f"KERAS_BACKEND is {keras.backend.backend()!r}, expected {backend!r}")
    rng = np.random.default_rng(0)
    x = rng.random((size, 32, 32, 3), dtype="float32")
    y = rng.integers(0, 10, size)
    keras.utils.set_random_seed(0)
    teacher = get_model("resnet32", input_shape=(32, 32, 3), name="teacher")
    models, compile_seconds = {}, {}
    for config in CONFIGS:
        keras.utils.set_random_seed(1)
        student = get_model("resnet8", input_shape=(32, 32, 3), name="student")
        models[config] = _build(config, teacher, student, backend)
        compile_seconds[config] = _epoch_seconds(models[config], x, y, batch_size)
    seconds = {config: [] for config in CONFIGS}
    for _ in range(repeats):
        for config in CONFIGS:
            seconds[config].append(_epoch_seconds(models[config], x, y, batch_size))
    version = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    result = {
        "backend": backend,
        "backend_version": __import__(version).__version__,
        "keras": keras.__version__,
        "jit_compile": JIT_COMPILE[backend],
        "first_epoch_seconds": compile_seconds,
        "epoch_seconds": seconds,
        "images_per_second": {
            config: size / statistics.median(values) for config, values in seconds.items()
        },
    }
    _write(out, json.dumps(result, indent=1))


# ---------------------------------------------------------------------- driver


def _write(path, text):
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def run(backends, size, repeats, batch_size, log=print):
    """Runs one worker process per backend, in turn; returns their results by backend."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            out = pathlib.Path(tmp) / f"{backend}.json"
            env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
            command = [
                sys.executable,
                "-m",
                "benchmarks.backends",
                "--worker",
                backend,
                "--size",
                str(size),
                "--repeats",
                str(repeats),
                "--batch-size",
                str(batch_size),
                "--json",
                str(out),
            ]
            start = time.perf_counter()
            proc = subprocess.run(command, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"The {backend} run failed:\n{proc.stderr[-4000:]}")
            results[backend] = json.loads(out.read_text())
            log(f"{backend}: done in {time.perf_counter() - start:.0f}s")
    return results


def table(results):
    """Markdown table: images/s per configuration and the ratios, one row per backend."""
    reference = results.get("tensorflow", {}).get("images_per_second", {}).get("anc")
    lines = [
        "| backend | compile | ANC img/s | Keras Distiller img/s | student alone img/s "
        "| ANC / Keras Distiller | ANC / ANC on TensorFlow |",
        "|---|---|---|---|---|---|---|",
    ]
    for backend, result in results.items():
        ips = result["images_per_second"]
        compile_mode = "XLA (`jit_compile=True`)" if result["jit_compile"] else "default"
        versus_tf = f"{ips['anc'] / reference:.2f}" if reference else "n/a"
        lines.append(
            f"| {backend} {result['backend_version']} | {compile_mode} | {ips['anc']:.0f} "
            f"| {ips['keras_distiller']:.0f} | {ips['student_labels']:.0f} "
            f"| {ips['anc'] / ips['keras_distiller']:.2f} | {versus_tf} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, help="folder for results.json/.md")
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--size", type=int, default=1024, help="images per epoch")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per config")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to test the script")
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.size, args.repeats, args.batch_size = 64, 1, 32
    if args.worker:
        run_worker(args.worker, args.size, args.repeats, args.batch_size, args.json)
        return
    results = run(args.backends, args.size, args.repeats, args.batch_size)
    settings = {
        "size": args.size,
        "repeats": args.repeats,
        "batch_size": args.batch_size,
        "teacher": "resnet32",
        "student": "resnet8",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    text = table(results)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        payload = {"settings": settings, "results": results}
        _write(args.out / "results.json", json.dumps(payload, indent=1))
        _write(args.out / "results.md", text + "\n")


if __name__ == "__main__":
    main()
