"""Callbacks for distillation runs: schedule or adapt the distiller's regularization during
`fit`, stop at the first non-finite value, and keep an atomic checkpoint to resume from."""

import base64
import contextlib
import json
import math
import pathlib
import shutil
import warnings

import keras
import numpy as np
from keras import ops

from keras_anc import atomic, model_files
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


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training at the first NaN or infinity in the logged losses or in the weights.

    Keras' `TerminateOnNaN` reads only the logged loss. A few NaN pixels in the input can
    turn weights of the student into NaN while the logged loss stays finite (oneDNN's
    max-pooling and ReLU drop NaN in the forward pass, the gradients keep it), so training
    goes on and the saved student predicts one class. This callback checks, after every
    `check_every` batches and at every epoch end, the logged training values (`loss`,
    `mimic_loss`, ...) and every floating-point variable that training changes (the
    student's, the discriminator's, their adapters'; not a frozen teacher's). At the first
    non-finite value it raises a `FloatingPointError` naming the epoch, the batch, the
    values and the variables, so `fit` stops there. Nothing is restored: the model keeps
    the weights of the failing step, so do not save it (`keras_anc.model_files.save_model`
    refuses to). Put it first in the `callbacks` list, so that checkpointing callbacks never
    run after a failing step.

    Validation values (`val_*`) are not checked: non-finite validation data do not change
    the weights.

    Args:
        check_every: Check every this many batches (and at every epoch end). Defaults to
            1. The weight check reads every variable once, which costs about as much as
            copying them (negligible for the models of this package); raise it for very
            large models.
        check_weights: Whether to check the variables as well as the logged values.
            Defaults to `True`.

    Example:

    ```python
    distiller.fit(
        train,
        epochs=10,
        callbacks=[keras_anc.callbacks.NonFiniteGuard(), keras.callbacks.BackupAndRestore(d)],
    )
    ```
    """

    def __init__(self, check_every=1, check_weights=True):
        super().__init__()
        if isinstance(check_every, bool) or not isinstance(check_every, int) or check_every < 1:
            raise ValueError(
                "`check_every` must be a positive integer. "
                f"Received: `check_every={check_every!r}`."
            )
        self.check_every = check_every
        self.check_weights = bool(check_weights)
        self._variables = []
        self._epoch = 0
        self._batches = 0

    def on_train_begin(self, logs=None):
        frozen = set()
        teacher = getattr(self.model, "teacher", None)
        if isinstance(teacher, keras.Model):
            frozen = {id(v) for v in teacher.weights}
        self._variables = [
            v for v in self.model.weights if id(v) not in frozen and "float" in str(v.dtype)
        ]
        self._batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        if self._batches % self.check_every == 0:
            self._check(logs, f"epoch {self._epoch + 1}, batch {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs, f"the end of epoch {epoch + 1}")

    def _check(self, logs, where):
        values = []
        for key, value in (logs or {}).items():
            if key.startswith("val_"):
                continue
            try:
                number = float(ops.convert_to_numpy(value))
            except (TypeError, ValueError):
                continue  # not a scalar
            if not math.isfinite(number):
                values.append(f"{key}={number}")
        variables = []
        if self.check_weights and not self._all_finite():
            variables = model_files.non_finite_weights(self._variables)
        if not values and not variables:
            return
        problems = []
        if values:
            problems.append(f"the logged {', '.join(values)}")
        if variables:
            shown = ", ".join(variables[:4])
            more = f" and {len(variables) - 4} more" if len(variables) > 4 else ""
            problems.append(f"the weights {shown}{more} hold NaN or infinite values")
        raise FloatingPointError(
            f"NonFiniteGuard stopped training at {where}: {'; '.join(problems)}. The usual "
            "cause is NaN or Inf in the input data (check `np.isfinite(x).all()`) or a "
            "learning rate that is too high. The weights were not restored: do not save "
            "this model."
        )

    def _all_finite(self):
        # On JAX the training state lives outside the variables during an epoch; reading
        # `self.model` syncs it back (Keras' `Callback.model` does that).
        _ = self.model
        for variable in self._variables:
            if not np.isfinite(ops.convert_to_numpy(variable)).all():
                return False
        return True


def _seed_states(model):
    """The `SeedGenerator` states of `model`'s layers, in a fixed order."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def _torch_rng_states():
    """On the torch backend, torch's global generators' states (CPU, then each GPU) as
    base64 strings: unseeded random layers draw from them there. `[]` elsewhere."""
    if keras.backend.backend() != "torch":
        return []
    import torch

    states = [torch.get_rng_state()]
    if torch.cuda.is_available():
        states += list(torch.cuda.get_rng_state_all())
    return [base64.b64encode(state.cpu().numpy().tobytes()).decode("ascii") for state in states]


def _set_torch_rng_states(encoded):
    if keras.backend.backend() != "torch" or not encoded:
        return
    import torch

    states = [np.frombuffer(base64.b64decode(e), np.uint8).copy() for e in encoded]
    states = [torch.from_numpy(state) for state in states]
    torch.set_rng_state(states[0])
    if torch.cuda.is_available() and len(states) - 1 == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states[1:])


class TrainingCheckpoint(keras.callbacks.Callback):
    """An end-of-epoch checkpoint to resume training from, written atomically.

    After every epoch it writes the whole training state (`model.save_weights`: the
    weights and the optimizers' variables) to a new file `epoch-<n>.weights.h5`, then
    records it in `state.json` (with the epoch, the logs of every epoch, the seed states
    of the model's random layers, which Keras does not save, and on the torch backend
    torch's global random state) by an atomic rename, then
    deletes the previous weights file. The rename of `state.json` is the single commit
    point: a process killed at any moment leaves a `state.json` that names a complete
    weights file, from this epoch or the one before. (Keras' `BackupAndRestore` writes its
    weights and its epoch number as two separate files in place; see docs/reliability.md
    for what a kill between or during those writes does.)

    Resuming is explicit and uses only public Keras API: `restore(model)` loads the last
    completed epoch into the model and returns its number, which you pass to `fit` as
    `initial_epoch`. The resumed run equals an uninterrupted one when the data stream
    resumes in the same state too. A `tf.data` pipeline that reshuffles every epoch draws
    a new order for every iterator made of it, and `fit` makes more than one per epoch, so
    give `fit` one repeated stream with `steps_per_epoch` and skip the batches of the
    completed epochs (as `keras-anc distill --resume` does).

    Args:
        directory: A folder for this run's checkpoint only (created if missing).

    Example:

    ```python
    checkpoint = keras_anc.callbacks.TrainingCheckpoint("runs/r/checkpoint")
    initial_epoch = checkpoint.restore(distiller)  # 0 when there is nothing to resume
    steps = int(train.cardinality())
    distiller.fit(
        train.repeat().skip(initial_epoch * steps),
        steps_per_epoch=steps,
        epochs=20,
        initial_epoch=initial_epoch,
        callbacks=[keras_anc.callbacks.NonFiniteGuard(), checkpoint],
    )
    checkpoint.delete()  # the run is complete
    ```
    """

    STATE_FILE = "state.json"

    def __init__(self, directory):
        super().__init__()
        self.directory = pathlib.Path(directory)
        self.history = {}
        self._torch_rng_states = []

    def read_state(self):
        """The recorded state (`epoch`, `weights`, `history`, `seed_states`,
        `torch_rng_states`), or `None`."""
        path = self.directory / self.STATE_FILE
        if not path.is_file():
            return None
        try:
            state = json.loads(path.read_text())
            epoch, weights = int(state["epoch"]), str(state["weights"])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(
                f"The checkpoint state {path} is unreadable ({e}); it was not written by "
                "TrainingCheckpoint. Delete the folder to start again."
            ) from None
        return {
            "epoch": epoch,
            "weights": weights,
            "history": state.get("history", {}),
            "seed_states": state.get("seed_states", []),
            "torch_rng_states": state.get("torch_rng_states", []),
        }

    def restore(self, model):
        """Loads the last completed epoch into `model`; returns its number (0 if none).

        Args:
            model: The compiled model being trained, built as in the interrupted run.

        Returns:
            The number of completed epochs: pass it to `fit` as `initial_epoch`. The
            logs of those epochs are in `self.history` (a dict of lists, as
            `History.history`).
        """
        state = self.read_state()
        self.history = {}
        if state is None:
            return 0
        optimizers = [getattr(model, "optimizer", None)]
        optimizers.append(getattr(model, "discriminator_optimizer", None))
        for optimizer in optimizers:
            if optimizer is not None and not optimizer.built:
                # Otherwise `load_weights` would skip the optimizer's saved variables.
                optimizer.build(model.trainable_variables)
        model.load_weights(self.directory / state["weights"])
        seeds, saved = _seed_states(model), state.get("seed_states", [])
        if len(seeds) == len(saved):
            for variable, value in zip(seeds, saved):
                variable.assign(np.asarray(value, dtype=variable.dtype))
        else:
            warnings.warn(
                f"TrainingCheckpoint: the model has {len(seeds)} random-seed states, the "
                f"checkpoint {len(saved)}; they are not restored (the model differs from the "
                "checkpointed one?).",
                stacklevel=2,
            )
        # Again before the first batch: on torch, `fit` can draw from the global generator
        # before that (its data loader draws a seed when it starts an iterator).
        self._torch_rng_states = state["torch_rng_states"]
        _set_torch_rng_states(self._torch_rng_states)
        self.history = {k: list(v) for k, v in state["history"].items()}
        return state["epoch"]

    def on_train_batch_begin(self, batch, logs=None):
        if self._torch_rng_states:
            _set_torch_rng_states(self._torch_rng_states)
            self._torch_rng_states = []

    def on_train_begin(self, logs=None):
        self.directory.mkdir(parents=True, exist_ok=True)
        # Temporary files of a process killed while writing (the folder is this run's).
        for leftover in self.directory.glob(f"{atomic.TEMP_PREFIX}*"):
            with contextlib.suppress(OSError):
                leftover.unlink()

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(ops.convert_to_numpy(value)))
        weights = f"epoch-{epoch + 1}.weights.h5"
        with atomic.atomic_path(self.directory / weights) as tmp:
            self.model.save_weights(tmp)
        state = {
            "epoch": epoch + 1,
            "weights": weights,
            "history": self.history,
            # Keras does not save the seed states of its layers (`Dropout`, ...).
            "seed_states": [ops.convert_to_numpy(v).tolist() for v in _seed_states(self.model)],
            # On torch, unseeded random layers draw from torch's global generator.
            "torch_rng_states": _torch_rng_states(),
        }
        atomic.atomic_write_text(self.directory / self.STATE_FILE, json.dumps(state, indent=1))
        # Committed: the weights of earlier epochs (also those a killed process left).
        for old in self.directory.glob("epoch-*.weights.h5"):
            if old.name != weights:
                with contextlib.suppress(OSError):
                    old.unlink()

    def delete(self):
        """Deletes the checkpoint folder (once the run's results are safely written)."""
        shutil.rmtree(self.directory, ignore_errors=True)
