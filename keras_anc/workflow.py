"""End-to-end runs behind the `keras-anc` command line: train a teacher, distil, evaluate.

Each function takes a full configuration dict (see `keras_anc.config`) and writes its
outputs into `config["out"]`: the trained model (`.keras`), `results.json`, a Markdown
summary, a PNG of the training curves and the `config.yaml` that re-runs it.
"""

import datetime
import hashlib
import json
import os
import pathlib
import time

import keras
import numpy as np

from keras_anc import config as config_lib
from keras_anc import data as data_lib
from keras_anc import models as zoo
from keras_anc import report


def _verbose(config):
    return 0 if config.get("quiet") else "auto"


def _say(config, *lines):
    if not config.get("quiet"):
        for line in lines:
            print(line, flush=True)


def prepare_output_dir(config, command):
    """Creates (and checks we can write) the run's output directory."""
    out = config.get("out")
    if not out:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = os.path.join("runs", f"{command}-{config.get('dataset', 'run')}-{stamp}")
    out = pathlib.Path(out)
    if out.exists() and not out.is_dir():
        raise config_lib.ConfigError(f"Output path {out} exists and is not a directory.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise config_lib.ConfigError(
            f"Cannot write to output directory {out}: {e.strerror or e}. Choose another --out."
        ) from None
    config["out"] = str(out)
    return out


def _dataset_info(config):
    return data_lib.info(config["dataset"], data_dir=config.get("data_dir"))


def _train_stream(config, labels):
    return data_lib.load(
        config["dataset"],
        "train",
        batch_size=config["batch_size"],
        training=True,
        labels=labels,
        augment=config.get("augment"),
        seed=config["seed"],
        data_dir=config.get("data_dir"),
        take=config.get("train_examples"),
    )


def _test_stream(config, split="test", take_key="test_examples"):
    return data_lib.load(
        config["dataset"],
        split,
        batch_size=max(256, config.get("batch_size", 256)),
        training=False,
        labels=True,
        seed=config.get("seed", 0),
        data_dir=config.get("data_dir"),
        take=config.get(take_key),
    )


def _build_zoo_model(name, info, model_name, seed):
    keras.utils.set_random_seed(seed)
    return zoo.get_model(
        name, input_shape=info.image_shape, num_classes=info.num_classes, name=model_name
    )


def evaluate_classifier(model, test_ds):
    """Accuracy of a logits classifier on a labelled dataset (the model is not changed)."""
    clone_free = keras.Model(model.inputs, model.outputs, name=f"{model.name}_eval")
    clone_free.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    result = clone_free.evaluate(test_ds, verbose=0, return_dict=True)
    return {"accuracy": float(result["accuracy"]), "loss": float(result["loss"])}


def _model_facts(model, architecture):
    facts = {"architecture": architecture, "params": int(model.count_params())}
    try:
        facts["macs"] = int(zoo.macs(model))
    except Exception:  # noqa: BLE001 - MACs are a nice-to-have for exotic layers
        facts["macs"] = None
    return facts


def _finish(config, out, results, history, title):
    report.write_json(results, out / "results.json")
    (out / "summary.md").write_text(report.summary_markdown(results))
    if history is not None:
        report.plot_history(history, out / "curves.png", title=title)
    config_lib.save(config, out / "config.yaml")


# ---------------------------------------------------------------------------- teacher


def _fit_teacher(config, model_name, epochs, learning_rate, validation_data=None):
    """Builds zoo model `model_name` and trains it with labels on the run's dataset."""
    info = _dataset_info(config)
    model = _build_zoo_model(model_name, info, "teacher", config["seed"])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=config.get("jit_compile", False),
        steps_per_execution=config.get("steps_per_execution", 1),
    )
    history = model.fit(
        _train_stream(config, labels=True),
        epochs=epochs,
        validation_data=validation_data,
        verbose=_verbose(config),
        shuffle=False,  # the tf.data pipeline shuffles
    )
    return model, history


def train_teacher(config):
    """Trains a zoo model with labels; writes `teacher.keras` and a report into `out`."""
    start = time.perf_counter()
    out = prepare_output_dir(config, "train-teacher")
    test_ds = _test_stream(config)
    _say(config, f"Training teacher {config['model']} on {config['dataset']} ...")
    model, history = _fit_teacher(
        config, config["model"], config["epochs"], config["learning_rate"], test_ds
    )
    model.save(out / "teacher.keras")
    facts = _model_facts(model, config["model"])
    facts.update(evaluate_classifier(model, test_ds))
    results = {
        "command": "train-teacher",
        "dataset": config["dataset"],
        "teacher": facts,
        "wall_time_s": round(time.perf_counter() - start, 2),
        "teacher_path": str(out / "teacher.keras"),
    }
    _finish(config, out, results, history, f"teacher {config['model']} on {config['dataset']}")
    return results


def _cache_dir(config):
    root = config.get("cache_dir") or os.environ.get("KERAS_ANC_CACHE")
    if not root:
        root = os.path.join(os.path.expanduser("~"), ".cache", "keras_anc")
    return pathlib.Path(root) / "teachers"


def _teacher_key(config):
    fields = {
        k: config.get(k)
        for k in (
            "dataset",
            "teacher_model",
            "teacher_epochs",
            "train_examples",
            "seed",
            "batch_size",
            "augment",
        )
    }
    digest = hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]
    return f"{config['dataset']}-{config['teacher_model']}-{digest}.keras"


def load_model_file(path, role):
    """Loads a `.keras` file with an error that says what went wrong."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise config_lib.ConfigError(f"The {role} file {path} does not exist.")
    try:
        return keras.saving.load_model(path)
    except Exception as e:  # noqa: BLE001 - any failure to load is a user error here
        raise config_lib.ConfigError(
            f"Cannot load the {role} from {path}: {type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''} "
            "(expected a model saved with model.save('....keras'))."
        ) from None


def obtain_teacher(config):
    """The teacher: loaded from `config['teacher']`, from the cache, or trained and cached."""
    if config.get("teacher"):
        teacher = load_model_file(config["teacher"], "teacher")
        return teacher, str(config["teacher"])
    path = _cache_dir(config) / _teacher_key(config)
    if path.is_file():
        _say(config, f"Using cached teacher {path}")
        return load_model_file(path, "cached teacher"), str(path)
    _say(
        config,
        f"Training teacher {config['teacher_model']} on {config['dataset']} with labels "
        f"({config['teacher_epochs']} epochs; cached for later runs) ...",
    )
    teacher, _ = _fit_teacher(config, config["teacher_model"], config["teacher_epochs"], 1e-3)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        teacher.save(path)
    except OSError:
        path = None  # an unwritable cache is not an error; the run goes on
    return teacher, str(path) if path else None


# ---------------------------------------------------------------------------- distill


_ANC_KEYS = (
    "teacher_layer",
    "student_layer",
    "mimic_loss",
    "mimic_weight",
    "adversarial_weight",
    "adversarial_sample_rate",
    "input_noise_stddev",
    "input_dropout_rate",
    "discriminator_steps",
)


def build_method(config, teacher, student):
    """A compiled model that trains `student` by `config['method']`.

    `anc` is the full `AdversarialDistiller`, every option settable; the other methods
    come from `keras_anc.baselines`, with the options the user set (unset options, None,
    take the method's defaults). Returns `(model, labels_needed)`.
    """
    from keras_anc import baselines
    from keras_anc.distiller import AdversarialDistiller

    compile_kwargs = {
        "jit_compile": config.get("jit_compile", False),
        "steps_per_execution": config.get("steps_per_execution", 1),
        "metrics": ["accuracy"],
    }
    student_optimizer = keras.optimizers.Adam(config["learning_rate"])
    method = config["method"]
    if method == "anc":
        kwargs = {k: config[k] for k in _ANC_KEYS if config.get(k) is not None}
        model = AdversarialDistiller(teacher, student, seed=config["seed"], **kwargs)
        model.compile(
            student_optimizer=student_optimizer,
            discriminator_optimizer=keras.optimizers.Adam(config["discriminator_learning_rate"]),
            **compile_kwargs,
        )
        return model, False
    allowed = baselines.method_options(method)  # raises on unknown names, listing them
    options = {k: config[k] for k in allowed if k in config and config[k] is not None}
    if "discriminator_optimizer" in allowed:
        options["discriminator_optimizer"] = keras.optimizers.Adam(
            config["discriminator_learning_rate"]
        )
    if "seed" in allowed:
        options["seed"] = config["seed"]
    ignored = sorted(
        k
        for k in _ANC_KEYS + ("temperature", "alpha", "weight_decay")
        if config.get(k) is not None and k not in allowed
    )
    if ignored:
        raise config_lib.ConfigError(
            f"Method '{method}' does not use {', '.join(ignored)}; its options are "
            f"{', '.join(sorted(allowed)) or 'none'}."
        )
    model = baselines.make_method(
        method, teacher, student, optimizer=student_optimizer, **options, **compile_kwargs
    )
    return model, baselines.uses_labels(method)


def distill(config):
    """Distils a student from a teacher by `config['method']` and reports the comparison."""
    start = time.perf_counter()
    out = prepare_output_dir(config, "distill")
    info = _dataset_info(config)
    # Fail on bad names before spending minutes on a teacher.
    student = _build_zoo_model(config["student_model"], info, "student", config["seed"] + 1)
    teacher, teacher_path = obtain_teacher(config)
    test_ds = _test_stream(config)
    architecture = teacher.name if config.get("teacher") else config["teacher_model"]
    teacher_facts = _model_facts(teacher, architecture)
    labels = _labels(test_ds)
    teacher_pred = _predicted_classes(teacher, test_ds)
    teacher_facts["accuracy"] = _share_equal(teacher_pred, labels)
    student_before = _share_equal(_predicted_classes(student, test_ds), labels)

    model, labels_needed = build_method(config, teacher, student)
    _say(
        config,
        f"Distilling {config['student_model']} from the teacher by '{config['method']}' "
        f"({'with' if labels_needed else 'without'} labels, {config['epochs']} epochs) ...",
    )
    history = model.fit(
        _train_stream(config, labels=labels_needed),
        epochs=config["epochs"],
        validation_data=test_ds,
        verbose=_verbose(config),
        shuffle=False,  # the tf.data pipeline shuffles
    )
    student.save(out / "student.keras")
    student_facts = _model_facts(student, config["student_model"])
    student_pred = _predicted_classes(student, test_ds)
    student_facts["accuracy"] = _share_equal(student_pred, labels)
    student_facts["accuracy_before"] = student_before
    student_facts["teacher_agreement"] = _share_equal(student_pred, teacher_pred)

    results = {
        "command": "distill",
        "method": config["method"],
        "dataset": config["dataset"],
        "labels_used": bool(labels_needed),
        "teacher": teacher_facts,
        "student": student_facts,
        "compression_ratio": round(teacher_facts["params"] / student_facts["params"], 2),
        "accuracy_gap": teacher_facts["accuracy"] - student_facts["accuracy"],
        "teacher_path": teacher_path,
        "student_path": str(out / "student.keras"),
        "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
        "wall_time_s": round(time.perf_counter() - start, 2),
    }
    _finish(
        config,
        out,
        results,
        history,
        f"{config['method']}: {config['student_model']} from {teacher_facts['architecture']}"
        f" on {config['dataset']}",
    )
    return results


def _predicted_classes(model, test_ds):
    """Argmax predictions over a labelled dataset: one inference pass."""
    return np.argmax(model.predict(test_ds.map(lambda x, y: x), verbose=0), axis=-1)


def _labels(test_ds):
    return np.concatenate([np.asarray(y) for _, y in test_ds]).reshape(-1)


def _share_equal(a, b):
    return float(np.mean(a == b))


# ---------------------------------------------------------------------------- evaluate


def evaluate(config):
    """Evaluates a saved model (a student, a teacher, or a whole distiller) on a split."""
    model = load_model_file(config["model"], "model")
    test_ds = _test_stream(config, split=config["split"])
    results = {
        "command": "evaluate",
        "model": str(config["model"]),
        "split": config["split"],
        "dataset": config["dataset"],
    }
    if hasattr(model, "student") and hasattr(model, "teacher"):
        results["student"] = evaluate_classifier(model.student, test_ds)
        results["teacher"] = evaluate_classifier(model.teacher, test_ds)
    else:
        results.update(evaluate_classifier(model, test_ds))
        results["params"] = int(model.count_params())
    return results


# ---------------------------------------------------------------------------- export


def export(config):
    """Exports a student for TF-Serving (and TFLite), with a size/accuracy report."""
    from keras_anc import export as export_lib

    model_path = pathlib.Path(config["model"])
    run_dir = None
    if model_path.is_dir():
        run_dir = model_path
        model_path = model_path / "student.keras"
    model = load_model_file(model_path, "student")
    if hasattr(model, "student"):
        model = model.student
    run_dir = run_dir or model_path.parent
    dataset = config.get("dataset")
    run_results_path = run_dir / "results.json"
    run_results = {}
    if run_results_path.is_file():
        run_results = json.loads(run_results_path.read_text())
        dataset = dataset or run_results.get("dataset")
    kwargs = {"version": config.get("version"), "overwrite": config.get("overwrite", False)}
    if not dataset:
        path = export_lib.export_student(model, config["out"], **kwargs)
        return {"command": "export", "saved_model": {"path": str(path)}}

    info = data_lib.info(dataset, data_dir=config.get("data_dir"))
    if info.class_names:
        kwargs["class_names"] = list(info.class_names)
    if config.get("raw_uint8", True):
        kwargs["preprocessing"] = {"mean": list(info.mean), "std": list(info.std)}
        test = data_lib.raw(
            dataset, "test", take=config.get("test_examples"), data_dir=config.get("data_dir")
        )
    else:
        test = data_lib.load(
            dataset,
            "test",
            training=False,
            take=config.get("test_examples"),
            data_dir=config.get("data_dir"),
        )
    base = pathlib.Path(config["out"])
    if not config.get("tflite", True):
        path = export_lib.export_student(model, base, **kwargs)
        return {"command": "export", "saved_model": {"path": str(path)}}
    deployment = export_lib.export_report(
        model, test, base.parent / f"{base.name}_tflite", saved_model_path=base, **kwargs
    )
    if run_results_path.is_file():
        run_results["deployment"] = deployment
        report.write_json(run_results, run_results_path)
    return {"command": "export", "dataset": dataset, **deployment}
