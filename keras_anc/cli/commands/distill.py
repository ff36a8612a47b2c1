"""`keras-anc distill`: distil a student from a teacher by any registered method."""

import os
import time

import keras
import numpy as np

from keras_anc import methods
from keras_anc.callbacks import NonFiniteGuard
from keras_anc.cli import config as config_lib
from keras_anc.cli import results as results_lib
from keras_anc.cli.commands import _common, _resume
from keras_anc.recipe import DEFAULT_RECIPE, Recipe
from keras_anc.teacher_store import TeacherStore

# The run options that determine a teacher trained on the fly: its key in the store.
TEACHER_KEY_FIELDS = (
    "dataset",
    "teacher_model",
    "teacher_epochs",
    "train_examples",
    "seed",
    "batch_size",
    "augment",
)
TEACHER_LEARNING_RATE = 1e-3


def obtain_teacher(config):
    """The teacher: loaded from `config['teacher']`, from the teacher store, or trained.

    A teacher trained here is saved in the store (`config['cache_dir']`, else the
    store's default root) for the next run with the same key fields; a store that
    cannot be written is not an error.

    Returns:
        `(teacher, path)`, `path` being `None` when the teacher could not be stored.
    """
    if config.get("teacher"):
        return _common.load_model_file(config["teacher"], "teacher"), str(config["teacher"])
    store = TeacherStore(config.get("cache_dir"))
    key = {k: config.get(k) for k in TEACHER_KEY_FIELDS}
    prefix = f"{config['dataset']}-{config['teacher_model']}"
    teacher = store.load(key, prefix=prefix)
    if teacher is not None:
        path = store.path_for(key, prefix=prefix)
        _common.say(config, f"Using the stored teacher {path}")
        return teacher, str(path)
    _common.say(
        config,
        f"Training teacher {config['teacher_model']} on {config['dataset']} with labels "
        f"({config['teacher_epochs']} epochs; stored for later runs) ...",
    )
    teacher, _ = _common.fit_teacher(
        config, config["teacher_model"], config["teacher_epochs"], TEACHER_LEARNING_RATE
    )
    try:
        path = store.save(teacher, key, prefix=prefix)
    except OSError:
        return teacher, None  # an unwritable store is not an error; the run goes on
    return teacher, str(path)


def student_recipe(config):
    """The run's `keras_anc.recipe.Recipe` (the student's optimizer and schedule)."""
    return Recipe(
        optimizer=config.get("optimizer", DEFAULT_RECIPE.optimizer),
        learning_rate=config.get("learning_rate", DEFAULT_RECIPE.learning_rate),
        schedule=config.get("schedule", DEFAULT_RECIPE.schedule),
        warmup_epochs=config.get("warmup_epochs", DEFAULT_RECIPE.warmup_epochs),
        weight_decay=config.get("student_weight_decay", DEFAULT_RECIPE.weight_decay),
        # 0 turns clipping off.
        global_clipnorm=config.get("global_clipnorm", DEFAULT_RECIPE.global_clipnorm) or None,
    )


def build_method(config, teacher, student, steps_per_epoch):
    """The compiled model that trains `student` by `config['method']`.

    Every method is built by `keras_anc.methods.make_method`, with the method options the
    configuration sets (the others take the method's defaults), and the student's optimizer
    from the run's recipe (`student_recipe`), scheduled over `steps_per_epoch` x `epochs`.

    Returns:
        `(model, labels_needed)`.
    """
    model = methods.make_method(
        config["method"],
        teacher,
        student,
        optimizer=student_recipe(config).student_optimizer(steps_per_epoch, config["epochs"]),
        metrics=["accuracy"],
        jit_compile=config.get("jit_compile", False),
        steps_per_execution=config.get("steps_per_execution", 1),
        **config_lib.method_options(config),
    )
    return model, methods.uses_labels(config["method"])


def run(config):
    """Distils a student from a teacher by `config['method']` and reports the comparison.

    With `distribute`, everything (teacher, student, method, training) runs inside that
    distribution engine's scope (`keras_anc.distribution`).

    Returns:
        The results dict, also written to `results.json`.
    """
    if not config.get("distribute"):
        return _distill(config)
    from keras_anc import distribution

    # First, before any TensorFlow work: multi-worker set-up must precede it.
    strategy = distribution.make_strategy(config["distribute"])
    with distribution.strategy_scope(strategy):
        return _distill(config)


def _distill(config):
    start = time.perf_counter()
    config_lib.method_options(config)  # fail on options the method lacks before any work
    # Data set prepared, model names, teacher file, --out: before a teacher or a folder.
    _common.check_run(config, "distill")
    if config.get("resume") and not config.get("out"):
        raise config_lib.ConfigError("--resume needs --out: the folder of the interrupted run.")
    out = _common.prepare_output_dir(config, "distill")
    checkpoint = _resume.open_checkpoint(config, out, lambda line: _common.say(config, line))
    info = _common.dataset_info(config)
    student = _common.build_zoo_model(config["student_model"], info, "student", config["seed"] + 1)
    teacher, teacher_path = obtain_teacher(config)
    _check_classes(teacher, info.num_classes, teacher_path)
    test_ds = _common.test_stream(config)
    architecture = teacher.name if config.get("teacher") else config["teacher_model"]
    teacher_facts = _common.model_facts(teacher, architecture)
    labels = _labels(test_ds)
    teacher_pred = _predicted_classes(teacher, test_ds)
    teacher_facts["accuracy"] = _share_equal(teacher_pred, labels)
    student_before = _share_equal(_predicted_classes(student, test_ds), labels)

    # Re-seed: the method's own initialisation (e.g. the discriminator's) must not depend
    # on whether the teacher was just trained or loaded from the store.
    keras.utils.set_random_seed(config["seed"] + 2)
    train_ds = _common.train_stream(config, labels=methods.uses_labels(config["method"]))
    steps_per_epoch = int(train_ds.cardinality())
    if steps_per_epoch <= 0:  # unknown length: count the batches once
        steps_per_epoch = max(1, sum(1 for _ in train_ds))
    model, labels_needed = build_method(config, teacher, student, steps_per_epoch)
    _common.say(
        config,
        f"Distilling {config['student_model']} from the teacher by '{config['method']}' "
        f"({'with' if labels_needed else 'without'} labels, {config['epochs']} epochs) ...",
    )
    initial_epoch, train_ds, steps = _resume.restore(
        checkpoint,
        model,
        train_ds,
        lambda line: _common.say(config, line),
    )
    try:
        model.fit(
            train_ds,
            epochs=config["epochs"],
            steps_per_epoch=steps,
            initial_epoch=initial_epoch,
            validation_data=test_ds,
            verbose=_common.fit_verbosity(config),
            shuffle=False,  # the tf.data pipeline shuffles
            # The guard first: the checkpoint never records a failing step.
            callbacks=[NonFiniteGuard(), checkpoint],
        )
    except FloatingPointError as e:
        raise ValueError(f"{e} No model or results were written to {out}.") from None
    history = checkpoint.history  # every epoch's logs, restored ones included
    # Refuses (one line, nothing written) a student with NaN or infinite weights.
    student_path = _common.save_model(student, out / "student.keras")
    student_facts = _common.model_facts(student, config["student_model"])
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
        "student_path": str(student_path),
        "history": {k: [float(v) for v in vals] for k, vals in history.items()},
        "wall_time_s": round(time.perf_counter() - start, 2),
    }
    _common.write_run_files(
        config,
        out,
        results,
        history,
        f"{config['method']}: {config['student_model']} from {teacher_facts['architecture']}"
        f" on {config['dataset']}",
    )
    checkpoint.delete()  # the results are written: nothing left to resume
    return results


def _check_classes(teacher, num_classes, path):
    """One line when the teacher's logits do not match the data set's classes."""
    width = teacher.outputs[0].shape[-1] if getattr(teacher, "outputs", None) else None
    if width is not None and width != num_classes:
        raise config_lib.ConfigError(
            f"The teacher ({path}) outputs {width} classes but the data set has {num_classes}. "
            "Pass the --dataset the teacher was trained on, or another --teacher."
        )


def _predicted_classes(model, test_ds):
    """Argmax predictions over a labelled dataset: one inference pass."""
    return np.argmax(model.predict(test_ds.map(lambda x, y: x), verbose=0), axis=-1)


def _labels(test_ds):
    return np.concatenate([np.asarray(y) for _, y in test_ds]).reshape(-1)


def _share_equal(a, b):
    return float(np.mean(a == b))


def print_summary(results):
    """Prints the teacher / untrained student / trained student table and the verdict."""
    print()
    print(results_lib.comparison_table(results))
    print()
    print(results_lib.verdict(results))
    print(
        f"Outputs in {os.path.dirname(results['student_path'])}/ (took "
        f"{results['wall_time_s']:.0f} s)."
    )
