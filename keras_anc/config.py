"""Run configurations of the `keras-anc` command line: defaults, files, validation."""

import dataclasses
import json
import pathlib

import yaml


class ConfigError(ValueError):
    """A user error in a run configuration (unknown key, bad value, unreadable file)."""


@dataclasses.dataclass(frozen=True)
class Option:
    """One configuration key: its default, type and help text."""

    name: str
    default: object
    type: type
    help: str

    @property
    def flag(self):
        return "--" + self.name.replace("_", "-")


_DATA = [
    Option("dataset", "mnist_sample", str, "TFDS name, or mnist_sample (embedded, offline)."),
    Option("data_dir", None, str, "TFDS data directory (default: TFDS_DATA_DIR or ~)."),
    Option("train_examples", None, int, "Use only the first N training examples."),
    Option("test_examples", None, int, "Use only the first N test examples."),
    Option("batch_size", 128, int, "Batch size."),
    Option("augment", None, bool, "Data augmentation (default: the dataset's standard)."),
    Option("seed", 0, int, "Random seed (data order, initialisation, discriminator)."),
]
_OUT = [
    Option("out", None, str, "Output directory (default: runs/<command>-<dataset>-<time>)."),
    Option("quiet", False, bool, "No progress bars; print only the final summary."),
]
_TRAINING = [
    Option("jit_compile", False, bool, "Compile the training step with XLA."),
    Option("steps_per_execution", 1, int, "Batches per compiled call."),
]

COMMANDS = {
    "train-teacher": _DATA
    + [
        Option("model", "lenet5", str, "Model zoo name of the teacher."),
        Option("epochs", 3, int, "Training epochs."),
        Option("learning_rate", 1e-3, float, "Adam learning rate."),
    ]
    + _TRAINING
    + _OUT,
    "distill": _DATA
    + [
        Option("teacher", None, str, "Trained teacher (.keras). Default: train one, cached."),
        Option("teacher_model", "lenet5", str, "Zoo name of the teacher to train if needed."),
        Option("teacher_epochs", 5, int, "Epochs for a teacher trained on the fly."),
        Option("student_model", "lenet_tiny", str, "Model zoo name of the student."),
        Option("method", "anc", str, "Method: anc, or a baseline (see keras_anc.baselines)."),
        Option("epochs", 15, int, "Distillation epochs."),
        Option("learning_rate", 3e-3, float, "Student learning rate (Adam)."),
        Option("discriminator_learning_rate", 1e-4, float, "Discriminator learning rate."),
        Option("mimic_loss", None, str, "l2 or l1 (default: the method's, l2)."),
        Option("mimic_weight", None, float, "Weight of the mimic term (default 1)."),
        Option("adversarial_weight", None, float, "Weight of the adversarial term (default 1)."),
        Option(
            "adversarial_sample_rate",
            None,
            float,
            "Share of adversarial samples (default 0.1 for anc).",
        ),
        Option("input_noise_stddev", None, float, "Noise on the discriminator's input."),
        Option("input_dropout_rate", None, float, "Dropout on the discriminator's input."),
        Option("discriminator_steps", None, int, "Discriminator updates per batch (default 1)."),
        Option("teacher_layer", None, str, "Teacher layer the discriminator (or hint) sees."),
        Option("student_layer", None, str, "Student layer the discriminator (or hint) sees."),
        Option("temperature", None, float, "Softmax temperature (hinton_kd)."),
        Option("alpha", None, float, "Weight of the label loss (hinton_kd, fitnets)."),
        Option("weight_decay", None, float, "L2 on the discriminator's kernels (anc_l2)."),
        Option("cache_dir", None, str, "Where trained teachers are cached."),
    ]
    + _TRAINING
    + _OUT,
    "evaluate": [
        Option("model", None, str, "A saved model (.keras): student, teacher or distiller."),
        Option("dataset", "mnist_sample", str, "TFDS name, or mnist_sample."),
        Option("data_dir", None, str, "TFDS data directory."),
        Option("split", "test", str, "Split to evaluate on."),
        Option("test_examples", None, int, "Use only the first N examples."),
        Option("batch_size", 256, int, "Batch size."),
        Option("quiet", False, bool, "Print only the result."),
    ],
    "export": [
        Option("model", None, str, "The student (.keras) or a run directory holding one."),
        Option("out", "models/student", str, "TF-Serving model base path."),
        Option("version", None, int, "Version number (default: next free)."),
        Option("overwrite", False, bool, "Replace an existing version."),
        Option(
            "dataset",
            None,
            str,
            "Dataset the student was trained on (class names, "
            "raw-uint8 preprocessing, TFLite accuracy).",
        ),
        Option("data_dir", None, str, "TFDS data directory."),
        Option("raw_uint8", True, bool, "Bake normalisation in: clients send uint8 images."),
        Option("tflite", True, bool, "Also write float32 and dynamic-range TFLite files."),
        Option("test_examples", None, int, "Evaluate TFLite files on the first N examples."),
        Option("quiet", False, bool, "Print only the summary."),
    ],
}


def options(command):
    """The `Option`s of a command, by name."""
    return {o.name: o for o in COMMANDS[command]}


def defaults(command):
    """The default configuration of a command."""
    return {o.name: o.default for o in COMMANDS[command]}


def _convert(option, value):
    if value is None:
        return None
    try:
        if option.type is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered in ("true", "yes", "1", "on"):
                    return True
                if lowered in ("false", "no", "0", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if option.type is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return option.type(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"Config key '{option.name}' expects {option.type.__name__}, got {value!r}."
        ) from None


def validate(command, config):
    """Checks keys and converts values; unknown keys raise `ConfigError` naming them."""
    known = options(command)
    unknown = sorted(set(config) - set(known))
    if unknown:
        import difflib

        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1)
            hints.append(f"'{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise ConfigError(
            f"Unknown config key{'s' if len(unknown) > 1 else ''} for '{command}': "
            f"{', '.join(hints)}. Valid keys: {', '.join(sorted(known))}."
        )
    return {key: _convert(known[key], value) for key, value in config.items()}


def read_file(path, command):
    """Reads a YAML (`.yaml`/`.yml`) or TOML (`.toml`) config file for `command`.

    A file may hold the keys at top level, or under a table named after the command
    (e.g. `[distill]`), so one file can configure several commands.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file not found: {path}.")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml", ".json"):
            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"Config file {path} must end in .yaml, .yml, .toml or .json.")
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - parser errors of two libraries
        raise ConfigError(f"Cannot parse config file {path}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {path} must hold a mapping of keys to values.")
    if command in data and isinstance(data[command], dict):
        data = data[command]
    return validate(command, data)


def resolve(command, file_config=None, overrides=None):
    """Defaults, then the config file, then explicit flags: the full configuration."""
    config = defaults(command)
    config.update(file_config or {})
    config.update(validate(command, overrides or {}))
    return config


def save(config, path):
    """Writes the configuration as YAML, so `--config path` re-runs it exactly."""
    path = pathlib.Path(path)
    path.write_text(yaml.safe_dump(json.loads(json.dumps(config)), sort_keys=False))
    return path
