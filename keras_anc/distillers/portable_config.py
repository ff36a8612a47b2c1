"""Compile configs that load on every Keras backend, whichever backend saved them.

On PyTorch, `keras.optimizers.Adam(...)` (and SGD, RMSprop, ...) builds a torch-specific
subclass (`keras.src.backend.torch.optimizers.torch_adam.Adam`), and Keras 3.15 saves
that private class path in the `.keras` file. Loaded on TensorFlow or JAX, the model then
gets the torch optimizer, which fails at its first update. The distillers save their
optimizers under the public name (`keras.optimizers.Adam`) instead, which every backend
resolves to its own implementation.

Keras also saves `jit_compile` as resolved on the saving backend: the default `"auto"`
becomes `True` on JAX, and a file saved there would train under `torch.compile` on torch
(recompiling many times). The distillers save the value the caller asked for instead.
"""

import keras

_BACKEND_MODULES = "keras.src.backend."


def portable_compile_config(config):
    """Returns `config` with backend-specific Keras optimizer classes saved by public name.

    Args:
        config: A compile config (as `get_compile_config()` returns it), or any nested
            structure of serialized Keras objects.

    Returns:
        The same structure, where every serialized object whose class lives in a
        backend-specific Keras module and has a public `keras.optimizers` namesake names
        `keras.optimizers` as its module.

    Example:

    ```python
    def get_compile_config(self):
        return portable_compile_config(super().get_compile_config())
    ```
    """
    if isinstance(config, dict):
        config = {key: portable_compile_config(value) for key, value in config.items()}
        module = config.get("module")
        name = config.get("class_name")
        if (
            isinstance(module, str)
            and module.startswith(_BACKEND_MODULES)
            and isinstance(name, str)
            and isinstance(getattr(keras.optimizers, name, None), type)
        ):
            config["module"] = "keras.optimizers"
        return config
    if isinstance(config, (list, tuple)):
        return type(config)(portable_compile_config(value) for value in config)
    return config


def with_requested_jit_compile(config, requested):
    """Returns `config` with `jit_compile` as the caller passed it to `compile`.

    Args:
        config: A compile config (as `get_compile_config()` returns it).
        requested: The `jit_compile` argument given to `compile` (`"auto"` by default).

    Returns:
        `config`, with `"jit_compile": requested` when it has a `jit_compile` entry, so that
        the loading backend resolves `"auto"` for itself.

    Example:

    ```python
    with_requested_jit_compile({"jit_compile": True}, "auto")  # {"jit_compile": "auto"}
    ```
    """
    if isinstance(config, dict) and "jit_compile" in config:
        config = {**config, "jit_compile": requested}
    return config
