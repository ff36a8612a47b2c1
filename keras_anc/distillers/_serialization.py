"""`AdversarialDistiller`'s config: what `get_config` writes and `from_config` reads back."""

import copy
import os
import pathlib

import keras
from keras import ops

from keras_anc import hyperparameters as hp
from keras_anc.distillers._distillation_losses import deserialize_losses, serialize_losses


def distiller_config(distiller):
    """The config of an `AdversarialDistiller`, as its `get_config` returns it.

    The sub-models are serialized without their own compile state; the hyper-parameters
    are read from their variables (and refused if a callback left one out of range, so
    no file is written that could not be loaded). `distillation_losses` and
    `discriminator_taps` appear only when used, so a plain distiller's config is what
    earlier versions wrote and read.

    Args:
        distiller: An `AdversarialDistiller`.

    Returns:
        A JSON-serializable dict.

    Example:

    ```python
    config = distiller_config(distiller)
    clone = type(distiller)(**constructor_arguments(config))
    ```
    """
    config = {"name": distiller.name, "trainable": distiller.trainable}
    config.update(
        {
            "teacher": _serialize(distiller.teacher),
            "student": _serialize(distiller.student),
            "discriminator": _serialize(distiller.discriminator),
            "teacher_layer": distiller.teacher_layer,
            "student_layer": distiller.student_layer,
            "mimic_loss": distiller.mimic_loss,
            "discriminator_steps": distiller.discriminator_steps,
            "seed": distiller.seed,
        }
    )
    if distiller.distillation_losses:
        config["distillation_losses"] = serialize_losses(distiller.distillation_losses)
        config["distillation_loss_weights"] = list(distiller.distillation_loss_weights)
    if distiller.discriminator_taps:
        config["discriminator_taps"] = [
            keras.saving.serialize_keras_object(tap) for tap in distiller.discriminator_taps
        ]
    for name, variable in distiller.hyperparameters.items():
        value = float(ops.convert_to_numpy(variable))
        try:
            config[name] = hp.check_value(name, value)
        except ValueError as e:
            # Refuse to write a file that could not be loaded back.
            raise ValueError(
                f"Cannot serialize the distiller: {e} It was changed during training "
                "(a callback or `variable.assign`); set a valid value with "
                "`distiller.set_hyperparameter(...)` first."
            ) from None
    return config


def constructor_arguments(config):
    """The keyword arguments of `AdversarialDistiller(...)` from a `distiller_config`."""
    config = copy.deepcopy(config)  # deserialization consumes nested dicts
    for key in ("teacher", "student", "discriminator"):
        config[key] = keras.saving.deserialize_keras_object(config[key])
    if config.get("distillation_losses"):
        config["distillation_losses"] = deserialize_losses(config["distillation_losses"])
    if config.get("discriminator_taps"):
        config["discriminator_taps"] = [
            keras.saving.deserialize_keras_object(tap) for tap in config["discriminator_taps"]
        ]
    return config


def _serialize(model):
    # The sub-models' own compile state is not ours to restore: reloading it would only
    # rebuild an unused optimizer (and warn about its variables).
    serialized = keras.saving.serialize_keras_object(model)
    serialized.pop("compile_config", None)
    return serialized


class AtomicSaveMixin:
    """`save()` that writes a `.keras` file atomically: a failed save leaves no file.

    `keras.Model.save` writes the archive in place, so an error halfway (a term that
    cannot be serialized, a kill, a full disk) leaves a truncated `.keras` file that a later
    `load_model` reports as "File not found". Here the archive is written under a temporary
    name beside the target and renamed into place only once complete; anything other than
    a `.keras` file (`.h5`, an unzipped folder, `overwrite=False` over an existing file,
    where Keras asks first) goes to `keras.Model.save` unchanged.
    """

    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        from keras_anc import atomic

        is_path = isinstance(filepath, (str, os.PathLike))
        path = pathlib.Path(os.fspath(filepath)) if is_path else None
        if (
            path is None
            or path.suffix != ".keras"
            or zipped is False
            or (path.exists() and not overwrite)
        ):
            return super().save(filepath, overwrite=overwrite, zipped=zipped, **kwargs)
        with atomic.atomic_path(path) as tmp:
            super().save(tmp, overwrite=True, zipped=zipped, **kwargs)
        return None
