"""The `keras-anc` command line: train-teacher, distill, evaluate, export.

Every command takes its settings from flags or from a YAML/TOML file (`--config`), with
flags winning; the full configuration of each run is saved beside its results, so
`keras-anc distill --config runs/<run>/config.yaml` re-runs it exactly.

`keras-anc distill` with no arguments is the embedded default: offline, on a few thousand
real MNIST images shipped with the package, it trains (or takes from the teacher store) a
LeNet-5 teacher, distils a much smaller student without labels and prints the comparison.

Parsing and `--help` load no Keras or TensorFlow: a command's module is imported only
when the command runs.
"""

import argparse
import os
import sys

from keras_anc.cli import config as config_lib

DESCRIPTIONS = {
    "train-teacher": "Train a model-zoo teacher with labels.",
    "distill": "Distil a student from a teacher (default: the embedded MNIST demo).",
    "evaluate": "Evaluate a saved model on a dataset split.",
    "export": "Export a student for TF-Serving (and TFLite).",
}

_USER_ERRORS = (config_lib.ConfigError, ValueError, OSError, ImportError)


def _add_options(parser, command):
    parser.add_argument(
        "--config", metavar="FILE", help="YAML or TOML file with any of the options below."
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="Show TensorFlow's C++ log messages (hidden by default).",
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


def build_parser():
    """The `argparse` parser of `keras-anc` and its commands."""
    parser = argparse.ArgumentParser(
        prog="keras-anc",
        description="Adversarial network compression for Keras: label-free distillation "
        "of a teacher into a small student (Belagiannis et al., arXiv:1803.10750).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, description in DESCRIPTIONS.items():
        _add_options(sub.add_parser(command, help=description, description=description), command)
    return parser


def configuration(args):
    """The full, validated configuration of parsed `args` (defaults < file < flags)."""
    command = args.command
    flags = {
        k: v
        for k, v in vars(args).items()
        if k not in ("command", "config", "verbose") and v is not None
    }
    file_config = config_lib.read_file(args.config, command) if args.config else {}
    config = config_lib.resolve(command, file_config, flags)
    if command in ("evaluate", "export") and not config["model"]:
        raise config_lib.ConfigError(f"'{command}' needs --model PATH.")
    if command == "distill":
        config_lib.method_options(config)  # options the method does not take: fail now
    return config


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
    if not args.verbose:
        # Before anything imports TensorFlow: hides its C++ info and warning lines.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        config = configuration(args)
        from keras_anc.cli import commands

        module = commands.load(args.command)
        module.print_summary(module.run(config))
    except _USER_ERRORS as e:
        if os.environ.get("KERAS_ANC_DEBUG"):
            raise
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"keras-anc {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0


def run():
    """Console-script entry point (`keras-anc`): exits with `main()`'s status."""
    sys.exit(main())


if __name__ == "__main__":
    run()
