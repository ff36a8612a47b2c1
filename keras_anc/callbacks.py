"""Callbacks that schedule or adapt the distiller's regularization during `fit`."""

import warnings

import keras
from keras import ops

from keras_anc import hyperparameters as hp


def _hyperparameter(model, name):
    if not hasattr(model, "get_hyperparameter"):
        raise ValueError(
            f"{type(model).__name__} has no schedulable hyper-parameters; these callbacks "
            "work with keras_anc.AdversarialDistiller."
        )
    return model.get_hyperparameter(name)


def _value(variable):
    return float(ops.convert_to_numpy(variable))


class HyperparameterScheduler(keras.callbacks.Callback):
    """Sets a distiller hyper-parameter at the start of every epoch from a schedule.

    Works for any name in `AdversarialDistiller.hyperparameters` (`mimic_weight`,
    `adversarial_weight`, `adversarial_sample_rate`, `label_loss_weight`,
    `input_noise_stddev`, `input_dropout_rate`). The value is written into the
    hyper-parameter's non-trainable variable, so the compiled step sees it, and it is
    logged under its name so `History` and `TensorBoard` record it.

    Args:
        hyperparameter: Name of the hyper-parameter.
        schedule: A function `(epoch, current_value) -> new_value` (epoch from 0).
        verbose: 1 prints every change.

    Example:

    ```python
    # Fade the adversarial samples out over the first 10 epochs.
    fade = keras_anc.callbacks.HyperparameterScheduler(
        "adversarial_sample_rate", lambda epoch, rate: max(0.0, 0.1 * (1 - epoch / 10))
    )
    distiller.fit(ds, epochs=20, callbacks=[fade])
    ```
    """

    def __init__(self, hyperparameter, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise ValueError(
                f"`schedule` must be a function (epoch, current_value) -> value, got "
                f"{type(schedule).__name__}."
            )
        self.hyperparameter = hyperparameter
        self.schedule = schedule
        self.verbose = verbose

    def on_train_begin(self, logs=None):
        _hyperparameter(self.model, self.hyperparameter)

    def on_epoch_begin(self, epoch, logs=None):
        variable = _hyperparameter(self.model, self.hyperparameter)
        old = _value(variable)
        proposed = self.schedule(epoch, old)
        try:
            new = hp.check_value(self.hyperparameter, proposed)
        except ValueError as e:
            raise ValueError(
                f"HyperparameterScheduler: the schedule returned an invalid value at epoch "
                f"{epoch}. {e} Fix the schedule function."
            ) from None
        variable.assign(new)
        if self.verbose and new != old:
            print(f"\nEpoch {epoch + 1}: {self.hyperparameter} set to {new:.6g}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[self.hyperparameter] = _value(_hyperparameter(self.model, self.hyperparameter))


class DiscriminatorGuard(keras.callbacks.Callback):
    """Strengthens a discriminator regularizer when the discriminator wins too easily.

    After every epoch (or every `every_n_batches` batches) it reads the discriminator's
    accuracy from the logs: above `upper`, the discriminator is close to trivially
    strong, so the regularizer grows by `step` (up to `max_value`); below `lower`, the
    student is fooling it easily, so the regularizer shrinks by `step` (down to
    `min_value`). Between the two it leaves it alone. The default acts on the paper's
    adversarial samples.

    Args:
        hyperparameter: The regularizer to adapt. Defaults to
            `"adversarial_sample_rate"`; `"input_noise_stddev"` and
            `"input_dropout_rate"` also make sense.
        monitor: Log key to read. Defaults to `"discriminator_accuracy"`.
        upper: Accuracy above which the regularizer grows.
        lower: Accuracy below which the regularizer shrinks.
        step: Amount added or removed per check.
        min_value: Lower bound of the regularizer.
        max_value: Upper bound of the regularizer.
        every_n_batches: Check every this many batches (the epoch's running mean)
            instead of at epoch ends.
        verbose: 1 prints every change.

    Example:

    ```python
    guard = keras_anc.callbacks.DiscriminatorGuard(upper=0.9, step=0.05, max_value=0.5)
    distiller.fit(ds, epochs=10, callbacks=[guard])
    ```

    Reference:
        Belagiannis et al., "Adversarial Network Compression", arXiv:1803.10750
        (Sec. on discriminator regularization).
    """

    def __init__(
        self,
        hyperparameter="adversarial_sample_rate",
        monitor="discriminator_accuracy",
        upper=0.9,
        lower=0.6,
        step=0.05,
        min_value=0.0,
        max_value=0.5,
        every_n_batches=None,
        verbose=0,
    ):
        super().__init__()
        if not lower < upper:
            raise ValueError(f"Need lower < upper, got lower={lower}, upper={upper}.")
        if not min_value <= max_value:
            raise ValueError(f"Need min_value <= max_value, got {min_value} and {max_value}.")
        if step <= 0:
            raise ValueError(f"`step` must be > 0, got {step}.")
        if hyperparameter in hp.RANGES:
            for bound, value in (("min_value", min_value), ("max_value", max_value)):
                try:
                    hp.check_value(hyperparameter, value)
                except ValueError:
                    raise ValueError(
                        f"DiscriminatorGuard: `{bound}` must be a valid {hyperparameter} "
                        f"({hp.describe_range(hyperparameter)}). Received: `{bound}={value}`."
                    ) from None
        self.hyperparameter = hyperparameter
        self.monitor = monitor
        self.upper = float(upper)
        self.lower = float(lower)
        self.step = float(step)
        self.min_value = float(min_value)
        self.max_value = float(max_value)
        self.every_n_batches = every_n_batches
        self.verbose = verbose
        self.history = []

    def on_train_begin(self, logs=None):
        _hyperparameter(self.model, self.hyperparameter)

    def _check(self, logs, where):
        if not logs or self.monitor not in logs:
            return
        accuracy = float(logs[self.monitor])
        variable = _hyperparameter(self.model, self.hyperparameter)
        old = _value(variable)
        new = old
        if accuracy > self.upper:
            new = min(self.max_value, old + self.step)
        elif accuracy < self.lower:
            new = max(self.min_value, old - self.step)
        if new != old and self.hyperparameter in hp.RANGES:
            bounded = hp.clamp(self.hyperparameter, new)
            if bounded != new:
                warnings.warn(
                    f"DiscriminatorGuard: {self.hyperparameter}={new:.4g} is outside its "
                    f"range ({hp.describe_range(self.hyperparameter)}); using {bounded:.4g}.",
                    stacklevel=2,
                )
                new = bounded
        if new != old:
            variable.assign(new)
            if self.verbose:
                print(
                    f"\n{where}: {self.monitor}={accuracy:.3f}, "
                    f"{self.hyperparameter} {old:.4g} -> {new:.4g}."
                )
        self.history.append((where, accuracy, new))

    def on_train_batch_end(self, batch, logs=None):
        if self.every_n_batches and (batch + 1) % self.every_n_batches == 0:
            self._check(logs, f"Batch {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        if not self.every_n_batches:
            self._check(logs, f"Epoch {epoch + 1}")
        if logs is not None:
            logs[self.hyperparameter] = _value(_hyperparameter(self.model, self.hyperparameter))
