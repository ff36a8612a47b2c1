"""The `keras-anc` command line: train-teacher, distill, evaluate, export.

Every command takes its settings from flags or from a YAML/TOML file (`--config`), with
flags winning; the full configuration of each run is saved beside its results, so
`keras-anc distill --config runs/<run>/config.yaml` re-runs it exactly.

`keras-anc distill` with no arguments is the embedded default: offline, on a few thousand
real MNIST images shipped with the package, it trains (or loads a cached) LeNet-5
teacher, distils a much smaller student without labels and prints the comparison.
"""

import argparse
import json
import os
import sys

from keras_anc import config as config_lib

_DESCRIPTIONS = {
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
    for option in config_lib.COMMANDS[command]:
        if option.type is bool:
            parser.add_argument(
                option.flag,
                dest=option.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"{option.help} (default: {option.default})",
            )
        else:
            parser.add_argument(
                option.flag,
                dest=option.name,
                type=str,
                default=None,
                metavar=option.type.__name__.upper(),
                help=f"{option.help} (default: {option.default})",
            )


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-anc",
        description="Adversarial network compression for Keras: label-free distillation "
        "of a teacher into a small student (Belagiannis et al., arXiv:1803.10750).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, description in _DESCRIPTIONS.items():
        _add_options(sub.add_parser(command, help=description, description=description), command)
    return parser


def _configuration(args):
    command = args.command
    flags = {
        k: v for k, v in vars(args).items() if k not in ("command", "config") and v is not None
    }
    file_config = config_lib.read_file(args.config, command) if args.config else {}
    config = config_lib.resolve(command, file_config, flags)
    if command in ("evaluate", "export") and not config["model"]:
        raise config_lib.ConfigError(f"'{command}' needs --model PATH.")
    return config


def _print_distill(results):
    t, s = results["teacher"], results["student"]
    rows = [
        ("teacher", t["architecture"], t["params"], t["accuracy"]),
        ("student, untrained", s["architecture"], s["params"], s["accuracy_before"]),
        (f"student, {results['method']}", s["architecture"], s["params"], s["accuracy"]),
    ]
    print()
    print(f"{'model':<22}{'architecture':<14}{'parameters':>12}{'test accuracy':>16}")
    for role, arch, params, acc in rows:
        print(f"{role:<22}{arch:<14}{params:>12,}{100 * acc:>15.2f}%")
    labels = "with labels" if results["labels_used"] else "without labels"
    print(
        f"\nThe student is {results['compression_ratio']}x smaller than the teacher, was "
        f"trained {labels}, agrees with it on {100 * s['teacher_agreement']:.1f}% of test "
        f"images, and is {100 * results['accuracy_gap']:.2f} points below it."
    )
    print(
        f"Outputs in {os.path.dirname(results['student_path'])}/ (took "
        f"{results['wall_time_s']:.0f} s)."
    )


def main(argv=None):
    """Entry point of the `keras-anc` console script; returns the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        argv = ["distill"]  # the embedded default
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        config = _configuration(args)
        from keras_anc import workflow

        if args.command == "train-teacher":
            results = workflow.train_teacher(config)
            print(
                f"Teacher saved to {results['teacher_path']} "
                f"(test accuracy {100 * results['teacher']['accuracy']:.2f}%)."
            )
        elif args.command == "distill":
            results = workflow.distill(config)
            _print_distill(results)
        elif args.command == "evaluate":
            print(json.dumps(workflow.evaluate(config), indent=2))
        else:
            results = workflow.export(config)
            print(json.dumps(results, indent=2))
    except _USER_ERRORS as e:
        if os.environ.get("KERAS_ANC_DEBUG"):
            raise
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"keras-anc {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0


def run():
    """Console-script wrapper: exits with `main()`'s status."""
    sys.exit(main())


if __name__ == "__main__":
    run()
