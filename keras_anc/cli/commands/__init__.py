"""The commands of `keras-anc`, one module each, imported only when the command runs.

Every command module has `run(config)`, which does the work and returns the results
dict, and `print_summary(results)`, which prints what the user reads at the end.
"""

import importlib

MODULES = {
    "train-teacher": "train_teacher",
    "distill": "distill",
    "evaluate": "evaluate",
    "export": "export",
    "data": "data",
}


def load(command):
    """Imports and returns the module of `command`.

    This loads Keras and TensorFlow, except for `data`, which loads them only to prepare a
    data set.

    Example:

    ```python
    module = load("evaluate")
    module.print_summary(module.run(config))
    ```
    """
    return importlib.import_module(f"keras_anc.cli.commands.{MODULES[command]}")
