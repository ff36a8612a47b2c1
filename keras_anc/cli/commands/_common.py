"""What the commands share: the output folder, data streams, zoo models, evaluation."""

import datetime
import os
import pathlib

import keras

from keras_anc import data as data_lib
from keras_anc import models as zoo
from keras_anc.cli import _files, results
from keras_anc.cli import config as config_lib


def fit_verbosity(config):
    """`verbose` for `fit`: progress bars unless the run is quiet."""
    return 0 if config.get("quiet") else "auto"


def say(config, *lines):
    """Prints progress lines unless the run is quiet."""
    if not config.get("quiet"):
        for line in lines:
            print(line, flush=True)


def prepare_output_dir(config, command):
    """Creates (and checks we can write) the run's output directory; sets `config["out"]`."""
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
    history = model.fit(
        train_stream(config, labels=True),
        epochs=epochs,
        validation_data=validation_data,
        verbose=fit_verbosity(config),
        shuffle=False,  # the tf.data pipeline shuffles
    )
    return model, history


def evaluate_classifier(model, test_ds):
    """Accuracy and loss of a logits classifier on a labelled dataset (model unchanged)."""
    view = keras.Model(model.inputs, model.outputs, name=f"{model.name}_eval")
    view.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    result = view.evaluate(test_ds, verbose=0, return_dict=True)
    return {"accuracy": float(result["accuracy"]), "loss": float(result["loss"])}


def model_facts(model, architecture):
    """Architecture name, parameter count and MACs of a model, for `results.json`."""
    facts = {"architecture": architecture, "params": int(model.count_params())}
    try:
        facts["macs"] = int(zoo.macs(model))
    except Exception:  # noqa: BLE001 - MACs are a nice-to-have for exotic layers
        facts["macs"] = None
    return facts


def load_model_file(path, role):
    """Loads a `.keras` file, with a one-line `ConfigError` that says what went wrong."""
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


def save_model(model, path):
    """Saves a model of the run atomically."""
    return _files.save_model(model, path)


def write_run_files(config, out, run_results, history, title):
    """Writes `results.json`, `summary.md`, `curves.png` (with a history) and `config.yaml`."""
    results.write_json(run_results, out / "results.json")
    _files.write_text(out / "summary.md", results.summary_markdown(run_results))
    if history is not None:
        results.plot_history(history, out / "curves.png", title=title)
    config_lib.save(config, out / "config.yaml")
