"""`Recipe`: the student's optimizer, schedule and regularization, in one object.

The command line, the benchmarks and the README example train every method with the same
recipe, so that a comparison changes only the method. `DEFAULT_RECIPE` is ANC's best arm in
the documented sweep (`benchmarks/recipe_sweep.py`, results in
`docs/benchmark_results/recipe_sweep/`); every field can be overridden.
"""

import dataclasses

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("cosine", "constant")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a student is optimized: optimizer, learning-rate schedule, decay and clipping.

    With `schedule="cosine"` the learning rate warms up linearly (from 1/warm-up-steps of
    its peak) over
    `warmup_epochs`, then decays to 0 along a cosine by the end of training; with
    `"constant"` it stays at `learning_rate` (no warm-up).

    Args:
        optimizer: `"adam"`, `"adamw"` (decoupled weight decay) or `"sgd"` (Nesterov,
            momentum 0.9).
        learning_rate: Peak learning rate of the student.
        schedule: `"cosine"` or `"constant"`.
        warmup_epochs: Epochs of linear warm-up of the cosine schedule (may be
            fractional; 0 for none).
        weight_decay: Weight decay of the student's optimizer (`adamw` and `sgd`).
        global_clipnorm: Clip the student's gradients to this global norm, or `None`.
        discriminator_learning_rate: Adam learning rate of the discriminator(s), constant.

    Example:

    ```python
    recipe = keras_anc.recipe.DEFAULT_RECIPE
    optimizer = recipe.student_optimizer(steps_per_epoch=469, epochs=10)
    model = keras_anc.methods.make_method(
        "anc", teacher, student, optimizer=optimizer,
        discriminator_optimizer=recipe.discriminator_optimizer(),
    )
    ```
    """

    optimizer: str = "sgd"
    learning_rate: float = 0.05
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    weight_decay: float = 5e-4
    global_clipnorm: float = 10.0
    discriminator_learning_rate: float = 1e-4

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"Unknown recipe optimizer. Use one of {OPTIMIZERS}. "
                f"Received: `optimizer={self.optimizer!r}`."
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"Unknown recipe schedule. Use one of {SCHEDULES}. "
                f"Received: `schedule={self.schedule!r}`."
            )
        for name in ("learning_rate", "discriminator_learning_rate"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(
                    f"`{name}` must be a positive number. Received: `{name}={value!r}`."
                )
        for name in ("warmup_epochs", "weight_decay"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"`{name}` must be a number >= 0. Received: `{name}={value!r}`.")
        if self.global_clipnorm is not None and not self.global_clipnorm > 0:
            raise ValueError(
                "`global_clipnorm` must be positive, or None for no clipping. "
                f"Received: `global_clipnorm={self.global_clipnorm!r}`."
            )

    def replace(self, **changes):
        """A copy of this recipe with `changes` applied (checked like the constructor's)."""
        return dataclasses.replace(self, **changes)

    def learning_rate_schedule(self, steps_per_epoch, epochs):
        """The student's learning rate: a `keras.optimizers.schedules` object, or a float."""
        import keras

        steps_per_epoch, epochs = _positive_int(steps_per_epoch, "steps_per_epoch"), epochs
        total = max(1, int(steps_per_epoch * _positive_number(epochs, "epochs")))
        warmup = min(total - 1, int(round(steps_per_epoch * self.warmup_epochs)))
        if self.schedule == "constant":
            return float(self.learning_rate)
        return keras.optimizers.schedules.CosineDecay(
            # The warm-up's first step already moves the weights (1/warmup of the peak).
            initial_learning_rate=float(self.learning_rate) / max(1, warmup),
            decay_steps=max(1, total - warmup),
            warmup_target=float(self.learning_rate) if warmup else None,
            warmup_steps=warmup,
        )

    def student_optimizer(self, steps_per_epoch, epochs):
        """A fresh optimizer for the student, scheduled over `epochs` of `steps_per_epoch`."""
        import keras

        rate = self.learning_rate_schedule(steps_per_epoch, epochs)
        common = {"learning_rate": rate, "global_clipnorm": self.global_clipnorm}
        if self.optimizer == "adam":
            return keras.optimizers.Adam(**common)
        if self.optimizer == "adamw":
            return keras.optimizers.AdamW(weight_decay=self.weight_decay, **common)
        return keras.optimizers.SGD(
            momentum=0.9, nesterov=True, weight_decay=self.weight_decay or None, **common
        )

    def discriminator_optimizer(self):
        """A fresh Adam optimizer for the discriminator(s), at a constant learning rate."""
        import keras

        return keras.optimizers.Adam(float(self.discriminator_learning_rate))

    def to_dict(self):
        """The recipe as a plain dict (for results files and configs)."""
        return dataclasses.asdict(self)


def _positive_int(value, name):
    if isinstance(value, bool) or not float(value).is_integer() or int(value) < 1:
        raise ValueError(f"`{name}` must be a whole number >= 1. Received: `{name}={value!r}`.")
    return int(value)


def _positive_number(value, name):
    if isinstance(value, bool) or not value > 0:
        raise ValueError(f"`{name}` must be a positive number. Received: `{name}={value!r}`.")
    return value


# ANC's best arm of benchmarks/recipe_sweep.py (docs/benchmarks.md, "The default recipe"):
# SGD-Nesterov 0.05, one epoch of warm-up then cosine, weight decay 5e-4, clip-norm 10.
DEFAULT_RECIPE = Recipe()
