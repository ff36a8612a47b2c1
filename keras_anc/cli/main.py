"""The `keras-anc` command line: train-teacher, distill, evaluate, export, data.

Every command takes its settings from flags or from a YAML/TOML file (`--config`), with
flags winning; the full configuration of each run is saved beside its results, so
`keras-anc distill --config runs/<run>/config.yaml` re-runs it (into a new folder: a
finished run is never overwritten).

`keras-anc distill` with no arguments is the embedded default: offline, on a few thousand
real MNIST images shipped with the package, it trains (or takes from the teacher store) a
LeNet-5 teacher, distils a much smaller student without labels and prints the comparison.

Parsing, `--help`, `keras-anc data list` and the checks that fail fast (a data set that is
not prepared, an `--out` that holds a finished run, a missing model file) load no Keras or
TensorFlow: a command's module is imported only when the command runs. TensorFlow's log
lines and the warnings of the libraries under it are hidden unless `--verbose`.
"""

import argparse
import contextlib
import json
import logging
import os
import pathlib
import re
import sys
import tempfile

from keras_anc.cli import config as config_lib
from keras_anc.cli import data_dir as data_dir_lib
from keras_anc.cli import run_dir

DESCRIPTIONS = {
    "train-teacher": "Train a model-zoo teacher with labels.",
    "distill": "Distil a student from a teacher (default: the embedded MNIST demo).",
    "evaluate": "Evaluate a saved model (or a run folder's model) on a dataset split.",
    "export": "Export a student for TF-Serving (and TFLite).",
    "data": "Prepare TFDS data sets (also offline, from downloaded files); list them.",
}
DATA_ACTIONS = {
    "prepare": "Prepare a TFDS data set in the TFDS data directory: from files downloaded "
    "by hand (--from, works offline) or by download.",
    "list": "List the data sets prepared in the TFDS data directory.",
}

_USER_ERRORS = (config_lib.ConfigError, ValueError, OSError, ImportError)
# What TensorFlow prints while it loads, before its log level applies: absl's C++ log lines
# (`I0000 00:00:1712.5  123 cudart_stub.cc:31] ...`), absl's notice about them and the
# continuation of the CPU-feature line.
_IMPORT_NOISE = re.compile(
    r"^([IWE]\d{4} [\d:.]+\s+\d+ \S+:\d+\] .*"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called .*"
    r"|To enable the following instructions: .*)$"
)


def _add_options(parser, command):
    parser.add_argument(
        "--config", metavar="FILE", help="YAML or TOML file with any of the options below."
    )
    _add_verbose(parser)
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="Keras backend to run on (default: the KERAS_BACKEND environment variable, "
        "else tensorflow). SavedModel/TFLite export needs tensorflow.",
    )
    for option in config_lib.COMMANDS[command]:
        if option.type is bool:
            parser.add_argument(
                option.flag,
                dest=option.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=option.help_text,
            )
        else:
            metavar = "INTS" if option.type is tuple else option.type.__name__.upper()
            parser.add_argument(
                option.flag,
                dest=option.name,
                type=str,
                default=None,
                metavar=metavar,
                help=option.help_text,
            )


def _add_verbose(parser):
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="Show TensorFlow's log and the warnings of the libraries under keras-anc "
        "(hidden by default).",
    )


def _add_data_parser(sub):
    description = DESCRIPTIONS["data"]
    parser = sub.add_parser("data", help=description, description=description)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    data_dir_help = (
        "TFDS data directory (default: the TFDS_DATA_DIR environment variable, else "
        f"{data_dir_lib.DEFAULT_DIR})."
    )
    prepare = actions.add_parser(
        "prepare", help=DATA_ACTIONS["prepare"], description=DATA_ACTIONS["prepare"]
    )
    prepare.add_argument("name", metavar="NAME", help="TFDS name, e.g. mnist or cifar10.")
    prepare.add_argument(
        "--from",
        dest="manual_dir",
        metavar="FOLDER",
        help="Folder holding the data set's files as published (e.g. for mnist the four "
        "*-ubyte.gz files), downloaded by hand: prepares without network. Without it, TFDS "
        "downloads them.",
    )
    prepare.add_argument("--data-dir", metavar="DIR", help=data_dir_help)
    _add_verbose(prepare)
    listing = actions.add_parser(
        "list", help=DATA_ACTIONS["list"], description=DATA_ACTIONS["list"]
    )
    listing.add_argument("--data-dir", metavar="DIR", help=data_dir_help)
    _add_verbose(listing)
    return parser


def build_parser():
    """The `argparse` parser of `keras-anc` and its commands."""
    parser = argparse.ArgumentParser(
        prog="keras-anc",
        description="Adversarial network compression for Keras: label-free distillation "
        "of a teacher into a small student (Belagiannis et al., arXiv:1803.10750).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, description in DESCRIPTIONS.items():
        if command == "data":
            _add_data_parser(sub)
        else:
            parser_ = sub.add_parser(command, help=description, description=description)
            _add_options(parser_, command)
    return parser


def configuration(args):
    """The full, validated configuration of parsed `args` (defaults < file < flags).

    For `evaluate`, a run folder given as `--model` stands for its model file, and the
    run's data set is the default `--dataset`.
    """
    command = args.command
    if command == "data":
        return {
            "action": args.action,
            "name": getattr(args, "name", None),
            "manual_dir": getattr(args, "manual_dir", None),
            "data_dir": args.data_dir,
        }
    flags = {
        k: v
        for k, v in vars(args).items()
        if k not in ("command", "config", "verbose", "backend") and v is not None
    }
    file_config = config_lib.read_file(args.config, command) if args.config else {}
    config = config_lib.resolve(command, file_config, flags)
    if command in ("evaluate", "export") and not config["model"]:
        raise config_lib.ConfigError(f"'{command}' needs --model PATH.")
    if command == "distill":
        config_lib.method_options(config)  # options the method does not take: fail now
    if command == "evaluate" and "dataset" not in flags and "dataset" not in file_config:
        run_dataset = _run_dataset(config["model"])
        if run_dataset:
            config["dataset"] = run_dataset
    return config


def _run_dataset(model):
    """The data set recorded in a run folder's `results.json`, or `None`."""
    results = pathlib.Path(model) / run_dir.RESULTS_FILE
    if not results.is_file():
        return None
    try:
        return json.loads(results.read_text()).get("dataset")
    except (OSError, ValueError, AttributeError):
        return None


def check_before_loading(command, config):
    """Fails at once, without loading Keras or TensorFlow, on what can be checked so early.

    A data set keras-anc knows that is not prepared, an `--out` that holds a finished run,
    and a missing or broken model file are reported in one line before any import or work.
    """
    from keras_anc import model_files

    dataset = config.get("dataset")
    if command in ("train-teacher", "distill", "evaluate") or (command == "export" and dataset):
        data_dir_lib.check(dataset, config.get("data_dir"))
    if command in ("train-teacher", "distill"):
        run_dir.check_out(config.get("out"))
    if command == "distill" and config.get("teacher"):
        model_files.check_model_file(config["teacher"], "teacher")
    if command in ("evaluate", "export"):
        model_files.check_model_file(run_dir.model_file(config["model"]), "model")


def _import_tensorflow_quietly():
    """Imports TensorFlow with its load-time log lines hidden (other output is passed on).

    TensorFlow writes those lines to file descriptor 2 before its log level applies, so
    they are captured there; what is not known noise is written back to standard error.
    """
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no usable standard error: nothing to hide
        import tensorflow  # noqa: F401

        return
    lines = []
    try:
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                import tensorflow  # noqa: F401
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                captured.seek(0)
                lines = captured.read().decode("utf-8", "replace").splitlines()
    finally:
        os.close(saved)
        kept = [line for line in lines if line.strip() and not _IMPORT_NOISE.match(line)]
        if kept:
            print("\n".join(kept), file=sys.stderr)


@contextlib.contextmanager
def quiet_libraries(verbose):
    """Hides TensorFlow's C++ log and the Python warnings logged by TF, TFDS and absl.

    Without `verbose`: `TF_CPP_MIN_LOG_LEVEL=3` (unless set) before TensorFlow loads, its
    load-time lines swallowed, and the `tensorflow` and `absl` Python loggers (e.g. TFDS'
    "`FeatureConnector.dtype` is deprecated", "tf.function retracing") at ERROR while the
    command runs; the levels are restored afterwards.
    """
    if verbose:
        yield
        return
    # Before TensorFlow loads: 3 hides its C++ info, warning and error lines (2 would leave
    # e.g. "failed call to cuInit" on machines without a GPU).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    loggers = [logging.getLogger("tensorflow")]
    try:
        import absl.logging

        loggers.append(absl.logging.get_absl_logger())
    except ImportError:  # absl comes with TensorFlow; without it there is nothing to hide
        pass
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


BACKENDS = ("tensorflow", "jax", "torch")


def _select_backend(backend):
    """Sets `KERAS_BACKEND` for `--backend`, which must happen before Keras is imported."""
    if backend is None:
        return
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != backend:
            raise config_lib.ConfigError(
                f"--backend {backend}: Keras is already loaded with the "
                f"{keras.backend.backend()} backend in this process; set KERAS_BACKEND={backend} "
                "before starting it."
            )
        return
    os.environ["KERAS_BACKEND"] = backend


def main(argv=None):
    """Runs `keras-anc` with `argv` (default: `sys.argv[1:]`); returns the exit status.

    Example:

    ```python
    status = main(["distill", "--epochs", "3", "--out", "runs/demo"])
    ```
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        argv = ["distill"]  # the embedded default
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    name = args.command if args.command != "data" else f"data {args.action}"
    try:
        _select_backend(getattr(args, "backend", None))
        config = configuration(args)
        if args.command != "data":
            check_before_loading(args.command, config)
        with quiet_libraries(args.verbose):
            if not (args.command == "data" and args.action == "list") and not args.verbose:
                _import_tensorflow_quietly()
            from keras_anc.cli import commands

            module = commands.load(args.command)
            module.print_summary(module.run(config))
    except _USER_ERRORS as e:
        if os.environ.get("KERAS_ANC_DEBUG"):
            raise
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"keras-anc {name}: error: {message}", file=sys.stderr)
        return 2
    return 0


def run():
    """Console-script entry point (`keras-anc`): exits with `main()`'s status."""
    sys.exit(main())


if __name__ == "__main__":
    run()
