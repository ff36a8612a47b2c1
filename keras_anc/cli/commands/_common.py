"""What the commands share: the output folder, data streams, zoo models, evaluation."""

import sys

import keras

from keras_anc import data as data_lib
from keras_anc import model_files
from keras_anc import models as zoo
from keras_anc.callbacks import NonFiniteGuard
from keras_anc.cli import _files, results, run_dir
from keras_anc.cli import config as config_lib
from keras_anc.cli import data_dir as data_dir_lib


def fit_verbosity(config):
    """`verbose` for `fit`: a progress bar on a terminal, one line per epoch in a log file.

    Returns `0` for a quiet run, `1` (progress bar) when standard output is a terminal and
    `2` (one line per epoch) otherwise, so a redirected log holds no progress-bar frames.
    """
    if config.get("quiet"):
        return 0
    isatty = getattr(sys.stdout, "isatty", None)
    return 1 if isatty is not None and isatty() else 2


def say(config, *lines):
    """Prints progress lines unless the run is quiet."""
    if not config.get("quiet"):
        for line in lines:
            print(line, flush=True)


def prepare_output_dir(config, command):
    """Creates the run's folder (a new one unless `--out`; never a finished run's).

    Sets `config["out"]` and returns the folder; see `keras_anc.cli.run_dir.create`.
    """
    return run_dir.create(config, command)


def require_data(name, data_dir=None):
    """Fails with one line, in CLI terms, unless data set `name` is prepared.

    The folder check needs no TensorFlow; `keras_anc.data.require_prepared` then checks the
    version and splits TFDS expects (and tells an unknown name from an unprepared one).
    """
    data_dir_lib.check(name, data_dir)
    try:
        data_lib.require_prepared(name, data_dir=data_dir)
    except data_lib.DatasetNotPreparedError:
        raise config_lib.ConfigError(data_dir_lib.not_prepared_message(name, data_dir)) from None
    except ValueError as e:
        if data_dir_lib.is_unknown_name_error(e):
            raise config_lib.ConfigError(data_dir_lib.unknown_name_message(name)) from None
        raise


def _check_model_name(name, flag):
    try:
        zoo.default_input_shape(name)
    except ValueError as e:
        raise config_lib.ConfigError(f"{flag}: {e} Received: `{flag} {name}`.") from None


def check_run(config, command):
    """Checks every name of a `train-teacher` or `distill` run before any work is done.

    The data set must be prepared, the model names known, the teacher file (if any)
    loadable-looking, and `--out` must not hold a finished run: all before a teacher is
    trained or the run's folder is created.

    Example:

    ```python
    check_run(config, "distill")
    ```
    """
    require_data(config["dataset"], config.get("data_dir"))
    if command == "train-teacher":
        _check_model_name(config["model"], "--model")
    else:
        _check_model_name(config["student_model"], "--student-model")
        if config.get("teacher"):
            model_files.check_model_file(config["teacher"], "teacher")
        else:
            _check_model_name(config["teacher_model"], "--teacher-model")
    run_dir.check_out(config.get("out"))


def dataset_info(config):
    """The `keras_anc.data.DatasetInfo` of the run's dataset."""
    return data_lib.info(config["dataset"], data_dir=config.get("data_dir"))


def train_stream(config, labels):
    """The shuffled (and, by default, augmented) training stream of the run."""
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


def test_stream(config, split="test"):
    """A labelled evaluation stream of `split`, in a fixed order."""
    return data_lib.load(
        config["dataset"],
        split,
        batch_size=max(256, config.get("batch_size", 256)),
        training=False,
        labels=True,
        seed=config.get("seed", 0),
        data_dir=config.get("data_dir"),
        take=config.get("test_examples"),
    )


def build_zoo_model(name, info, model_name, seed):
    """Model-zoo network `name` for the dataset, initialised from `seed`."""
    keras.utils.set_random_seed(seed)
    return zoo.get_model(
        name, input_shape=info.image_shape, num_classes=info.num_classes, name=model_name
    )


def fit_teacher(config, model_name, epochs, learning_rate, validation_data=None):
    """Builds zoo model `model_name` and trains it with labels on the run's dataset."""
    info = dataset_info(config)
    model = build_zoo_model(model_name, info, "teacher", config["seed"])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=config.get("jit_compile", False),
        steps_per_execution=config.get("steps_per_execution", 1),
    )
    try:
        history = model.fit(
            train_stream(config, labels=True),
            epochs=epochs,
            validation_data=validation_data,
            verbose=fit_verbosity(config),
            shuffle=False,  # the tf.data pipeline shuffles
            callbacks=[NonFiniteGuard()],  # stops at the first NaN/Inf, with its batch
        )
    except FloatingPointError as e:
        raise ValueError(f"Training the teacher: {e} Nothing was saved.") from None
    return model, history


def evaluate_classifier(model, test_ds):
    """Accuracy and loss of a logits classifier on a labelled dataset (model unchanged)."""
    view = keras.Model(model.inputs, model.outputs, name=f"{model.name}_eval")
    view.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    try:
        result = view.evaluate(test_ds, verbose=0, return_dict=True)
    except Exception:
        _check_label_range(model, test_ds)  # the usual cause, in one line
        raise
    return {"accuracy": float(result["accuracy"]), "loss": float(result["loss"])}


def _check_label_range(model, test_ds):
    """A `ConfigError` when the data's labels exceed the model's classes (else nothing)."""
    width = model.outputs[0].shape[-1]
    highest = max(int(keras.ops.max(y)) for _, y in test_ds)
    if width is not None and highest >= width:
        raise config_lib.ConfigError(
            f"The model '{model.name}' outputs {width} classes but the data set's labels go up "
            f"to {highest}: it was not trained on this data set. Pass the --dataset it was "
            "trained on."
        ) from None


def model_facts(model, architecture):
    """Architecture name, parameter count and MACs of a model, for `results.json`."""
    facts = {"architecture": architecture, "params": int(model.count_params())}
    try:
        facts["macs"] = int(zoo.macs(model))
    except Exception:  # noqa: BLE001 - MACs are a nice-to-have for exotic layers
        facts["macs"] = None
    return facts


def load_model_file(path, role):
    """Loads a `.keras` file, with a one-line error that says what went wrong.

    See `keras_anc.model_files.load_model`: a missing, empty, truncated or garbage file, or
    a custom class that is not registered, each get a message naming the file and the fix.
    """
    return model_files.load_model(path, role)


def save_model(model, path):
    """Saves a model of the run atomically."""
    return _files.save_model(model, path)


def write_run_files(config, out, run_results, history, title, title_model="student"):
    """Writes `summary.md`, `curves.png` (with a history), `config.yaml`, then `results.json`.

    `title_model` names the trained model in the plot's panel titles ("Student objective").
    The saved `config.yaml` holds every option but `out` and `resume`.
    """
    _files.write_text(out / "summary.md", results.summary_markdown(run_results, out))
    if history is not None:
        results.plot_history(history, out / "curves.png", title=title, model=title_model)
    # Without `out` (and `resume`, which needs it): `--config <run>/config.yaml` re-runs the
    # same job into a new folder.
    saved = {k: v for k, v in config.items() if k not in ("out", "resume")}
    config_lib.save(saved, out / "config.yaml")
    # Last: a folder with `results.json` counts as a finished run (see `run_dir`), so a kill
    # before this line never leaves a "finished" run without its other files.
    results.write_json(run_results, out / "results.json")
