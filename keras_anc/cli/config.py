"""Run configurations of the `keras-anc` command line: options, files, validation.

Each command has a list of `Option`s. The method options of `distill` are not listed
here: they come from `keras_anc.methods.OPTIONS`, which describes every option of every
compression method once, and their defaults are the methods' own (an unset option is
`None` and takes the method's default). Reading a file, parsing a flag and validating a
key all go through the same `Option`, so flags and YAML/TOML files accept the same values.

This module imports no Keras: `keras-anc --help` reads it.
"""

import dataclasses
import difflib
import json
import math
import pathlib

import yaml

from keras_anc import hyperparameters, methods, recipe, teacher_store
from keras_anc.cli import _files
from keras_anc.recipe import DEFAULT_RECIPE


class ConfigError(ValueError):
    """A user error in a run configuration (unknown key, bad value, unreadable file)."""


@dataclasses.dataclass(frozen=True)
class Option:
    """One configuration key of a command.

    Args:
        name: The key (the flag is `--name-with-dashes`).
        default: The value when unset. `None` means "decided elsewhere", see `default_text`.
        type: `int`, `float`, `str`, `bool` or `tuple` (of ints).
        help: One line for `--help`, without the default.
        choices: The allowed values, or `None`.
        default_text: How `--help` describes the default when it is not `default` itself
            (e.g. "the method's"); `None` shows `default` (or nothing when that is `None`).
        minimum: The smallest valid number (each item of a tuple), or `None`.
        exclusive: Whether `minimum` itself is invalid (`learning_rate > 0`).
        maximum: The largest valid number (inclusive), or `None`.
    """

    name: str
    default: object
    type: type
    help: str
    choices: tuple = None
    default_text: str = None
    minimum: float = None
    exclusive: bool = False
    maximum: float = None

    @property
    def flag(self):
        return "--" + self.name.replace("_", "-")

    @property
    def help_text(self):
        """The help line: the option's meaning, its choices and its default, each once."""
        text = self.help
        if self.choices is not None:
            text += f" One of: {', '.join(map(format_value, self.choices))}."
        shown = self.default_text
        if shown is None and self.default is not None:
            shown = format_value(self.default)
        return f"{text} (default: {shown})" if shown is not None else text


def format_value(value):
    """A value as a flag would take it (`128,256,128` for a tuple)."""
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)


def _method_defaults_text(name):
    """'0.1 for anc; 0.0 for anc_noreg, anc_l2' from the registry of methods."""
    groups = {}
    for method in methods.available_methods():
        defaults = methods.method_options(method)
        if name in defaults:
            value = defaults[name]
            shown = "unset" if value is None else format_value(value)
            groups.setdefault(shown, []).append(method)
    return "; ".join(f"{shown} for {', '.join(names)}" for shown, names in groups.items())


_DATA = [
    Option(
        "dataset",
        "mnist_sample",
        str,
        "TFDS name, or mnist_sample (embedded in the package, offline).",
    ),
    Option("data_dir", None, str, "TFDS data directory.", default_text="keras_anc.data's"),
    Option("train_examples", None, int, "Use only the first N training examples.", minimum=1),
    Option("test_examples", None, int, "Use only the first N test examples.", minimum=1),
    Option("batch_size", 128, int, "Batch size.", minimum=1),
    Option("augment", None, bool, "Data augmentation.", default_text="the dataset's standard one"),
    Option(
        "seed",
        0,
        int,
        "Random seed: data order, initialisation, and the method's seed if it takes one.",
        minimum=0,
        maximum=2**32 - 3,  # NumPy's limit, less the offsets the runs add
    ),
]
_OUT = [
    Option(
        "out",
        None,
        str,
        "Output directory.",
        default_text="runs/<command>-<dataset>-<time>",
    ),
    Option("quiet", False, bool, "No progress bars; print only the final summary."),
]
_TRAINING = [
    Option("jit_compile", False, bool, "Compile the training step with XLA."),
    Option("steps_per_execution", 1, int, "Batches per compiled call.", minimum=1),
]

_DISTRIBUTE = [
    Option(
        "distribute",
        None,
        str,
        "Train on several devices: mirrored (tf.distribute, this machine's GPUs), "
        "multi_worker (tf.distribute, TF_CONFIG), data_parallel (JAX keras.distribution). "
        "See docs/distributed.md.",
        choices=("mirrored", "multi_worker", "data_parallel"),
        default_text="one device",
    ),
]

_DISTILL = [
    Option(
        "teacher",
        None,
        str,
        "Trained teacher (.keras).",
        default_text="train --teacher-model, kept in the teacher store",
    ),
    Option("teacher_model", "lenet5", str, "Model-zoo name of the teacher to train if needed."),
    Option("teacher_epochs", 5, int, "Epochs for a teacher trained on the fly.", minimum=1),
    Option(
        "cache_dir",
        None,
        str,
        "Root folder of the store of trained teachers.",
        default_text=str(teacher_store.default_root()),
    ),
    Option("student_model", "lenet_tiny", str, "Model-zoo name of the student."),
    Option(
        "method",
        "anc",
        str,
        "Compression method (see keras_anc.methods).",
        choices=tuple(methods.available_methods()),
    ),
    Option("epochs", 15, int, "Distillation epochs.", minimum=1),
    # The student's recipe (keras_anc.recipe.Recipe); defaults: DEFAULT_RECIPE.
    Option(
        "optimizer",
        DEFAULT_RECIPE.optimizer,
        str,
        "Optimizer of the student (sgd: Nesterov, momentum 0.9).",
        choices=recipe.OPTIMIZERS,
    ),
    Option(
        "learning_rate",
        DEFAULT_RECIPE.learning_rate,
        float,
        "Peak learning rate of the student.",
        minimum=0,
        exclusive=True,
    ),
    Option(
        "schedule",
        DEFAULT_RECIPE.schedule,
        str,
        "Learning-rate schedule of the student: cosine (after a linear warm-up) or constant.",
        choices=recipe.SCHEDULES,
    ),
    Option(
        "warmup_epochs",
        DEFAULT_RECIPE.warmup_epochs,
        float,
        "Epochs of linear warm-up of the cosine schedule.",
        minimum=0,
    ),
    Option(
        "student_weight_decay",
        DEFAULT_RECIPE.weight_decay,
        float,
        "Weight decay of the student's optimizer (adamw and sgd).",
        minimum=0,
    ),
    Option(
        "global_clipnorm",
        DEFAULT_RECIPE.global_clipnorm,
        float,
        "Clip the student's gradients to this global norm (0: no clipping).",
        minimum=0,
    ),
    Option(
        "resume",
        False,
        bool,
        "Continue the interrupted run in --out from its last completed epoch (the same "
        "student as an uninterrupted run). Repeat the interrupted command and add --resume.",
    ),
]

_RUN_KEYS = {o.name for o in _DATA + _OUT + _TRAINING + _DISTRIBUTE + _DISTILL}

# Valid values of the method options (`keras_anc.hyperparameters.RANGES` covers the
# distiller's schedulable hyper-parameters): (minimum, exclusive, maximum).
_METHOD_BOUNDS = {
    "temperature": (0, True, None),
    "alpha": (0, False, 1),
    "weight_decay": (0, False, None),
    "discriminator_steps": (1, False, None),
    "discriminator_units": (1, False, None),
    "discriminator_learning_rate": (0, True, None),
    "kd_weight": (0, False, None),
    "kd_temperature": (0, True, None),
}

# The method options offered as flags: every option of `keras_anc.methods.OPTIONS` except
# those that are also run options (`seed`): the run's value is passed to the methods that
# take one.
METHOD_OPTIONS = [
    Option(
        o.name,
        None,
        o.type,
        o.help,
        choices=o.choices,
        default_text=_method_defaults_text(o.name),
        **dict(zip(("minimum", "exclusive", "maximum"), _METHOD_BOUNDS.get(o.name, ()))),
    )
    for o in methods.OPTIONS.values()
    if o.name not in _RUN_KEYS
]

COMMANDS = {
    "train-teacher": _DATA
    + [
        Option("model", "lenet5", str, "Model-zoo name of the teacher."),
        Option("epochs", 3, int, "Training epochs.", minimum=1),
        Option("learning_rate", 1e-3, float, "Adam learning rate.", minimum=0, exclusive=True),
    ]
    + _TRAINING
    + _OUT,
    "distill": _DATA + _DISTILL + METHOD_OPTIONS + _TRAINING + _DISTRIBUTE + _OUT,
    "evaluate": [
        Option("model", None, str, "A saved model (.keras): student, teacher or distiller."),
        Option("dataset", "mnist_sample", str, "TFDS name, or mnist_sample."),
        Option("data_dir", None, str, "TFDS data directory.", default_text="keras_anc.data's"),
        Option("split", "test", str, "Split to evaluate on."),
        Option("test_examples", None, int, "Use only the first N examples.", minimum=1),
        Option("batch_size", 256, int, "Batch size.", minimum=1),
        Option("quiet", False, bool, "Print only the result."),
    ],
    "export": [
        Option("model", None, str, "The student (.keras) or a run directory holding one."),
        Option("out", "models/student", str, "TF-Serving model base path."),
        Option(
            "version", None, int, "Version number.", default_text="the next free one", minimum=1
        ),
        Option("overwrite", False, bool, "Replace an existing version."),
        Option(
            "dataset",
            None,
            str,
            "Dataset the student was trained on (class names, raw-uint8 preprocessing, "
            "TFLite accuracy).",
            default_text="the run's, from results.json",
        ),
        Option("data_dir", None, str, "TFDS data directory.", default_text="keras_anc.data's"),
        Option("raw_uint8", True, bool, "Bake normalisation in: clients send uint8 images."),
        Option("tflite", True, bool, "Also write float32 and dynamic-range TFLite files."),
        Option(
            "test_examples", None, int, "Evaluate TFLite files on the first N examples.", minimum=1
        ),
        Option("quiet", False, bool, "Print only the summary."),
    ],
}


def options(command):
    """The `Option`s of a command, by name."""
    return {o.name: o for o in COMMANDS[command]}


def defaults(command):
    """The default configuration of a command."""
    return {o.name: o.default for o in COMMANDS[command]}


def _expects(option):
    if option.type is tuple:
        return "a list of integers (e.g. 128,256,128)"
    return option.type.__name__


def _convert(option, value):
    if value is None:
        if option.default is not None:
            raise ConfigError(
                f"Config key '{option.name}' needs a value ({_expects(option)}); leave the key "
                f"out to use the default, {format_value(option.default)}. "
                f"Received: `{option.name}=None`."
            )
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
            if not isinstance(value, (bool, int)):
                raise ValueError(value)
            converted = bool(value)
        elif option.type is tuple:
            items = value.replace(",", " ").split() if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)) or not items:
                raise ValueError(value)
            converted = tuple(_to_int(v) for v in items)
        elif option.type is int:
            converted = _to_int(value)
        else:
            if isinstance(value, (bool, list, tuple, dict)):
                raise ValueError(value)
            converted = option.type(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"Config key '{option.name}' expects {_expects(option)}. "
            f"Received: `{option.name}={value!r}`."
        ) from None
    if option.choices is not None and converted not in option.choices:
        raise ConfigError(
            f"Config key '{option.name}' must be one of {', '.join(map(str, option.choices))}. "
            f"Received: `{option.name}={value!r}`."
        )
    _check_range(option, converted, value)
    return converted


def _range_text(option):
    parts = []
    if option.minimum is not None:
        parts.append(f"{'>' if option.exclusive else '>='} {option.minimum}")
    if option.maximum is not None:
        parts.append(f"<= {option.maximum}")
    return " and ".join(parts)


def _check_range(option, converted, received):
    """Raises a `ConfigError` when a number is non-finite or outside the option's range."""
    if option.type not in (int, float, tuple):
        return
    if option.name in hyperparameters.RANGES:
        try:
            hyperparameters.check_value(option.name, converted)
        except ValueError:
            raise ConfigError(
                f"Config key '{option.name}' must be "
                f"{hyperparameters.describe_range(option.name)}. "
                f"Received: `{option.name}={received!r}`."
            ) from None
        return
    for number in converted if option.type is tuple else (converted,):
        below = option.minimum is not None and (
            number < option.minimum or (option.exclusive and number == option.minimum)
        )
        above = option.maximum is not None and number > option.maximum
        if not math.isfinite(number) or below or above:
            valid = _range_text(option)
            what = {float: "a finite number", int: "an integer", tuple: "a list of integers"}
            valid = (", each " if option.type is tuple else " ") + valid if valid else ""
            raise ConfigError(
                f"Config key '{option.name}' must be {what[option.type]}{valid}. "
                f"Received: `{option.name}={received!r}`."
            )


def _to_int(value):
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value)


def validate(command, config):
    """Checks keys and converts values; unknown keys raise `ConfigError` naming them."""
    known = options(command)
    unknown = sorted(set(config) - set(known))
    if unknown:
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
    """Reads a YAML (`.yaml`/`.yml`/`.json`) or TOML (`.toml`) config file for `command`.

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


def method_options(config):
    """The options a `distill` configuration passes to `keras_anc.methods.make_method`.

    Method options left unset (`None`) are left out, so they take the method's default;
    run options that a method also takes (`seed`) are passed with the run's value.

    Raises:
        ConfigError: if the configuration sets an option the method does not take.
    """
    name = config["method"]
    try:
        accepted = methods.method_options(name)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    unsupported = [
        o.name for o in METHOD_OPTIONS if config.get(o.name) is not None and o.name not in accepted
    ]
    if unsupported:
        received = ", ".join(f"`{k}={config[k]!r}`" for k in unsupported)
        raise ConfigError(
            f"Method '{name}' does not take {', '.join(unsupported)}; its options are "
            f"{', '.join(sorted(accepted)) or 'none'}. Received: {received}."
        )
    return {k: config[k] for k in accepted if config.get(k) is not None}


# Keys that control how a run proceeds, not what it computes: not saved in `config.yaml`.
_NOT_SAVED = ("resume",)


def save(config, path):
    """Writes the configuration as YAML (atomically), so `--config path` re-runs it.

    Run-control keys (`resume`) are left out: they say how the run went, not what it is.
    """
    config = {k: v for k, v in config.items() if k not in _NOT_SAVED}
    return _files.write_text(path, yaml.safe_dump(json.loads(json.dumps(config)), sort_keys=False))
