"""Compiling a distiller that trains with two optimizers: the student's and the discriminator's."""

import keras

from keras_anc.distillers.portable_config import (
    portable_compile_config,
    with_requested_jit_compile,
)


class TwoOptimizerCompileMixin:
    """`compile` with a student and a discriminator optimizer, and its `.keras` round trip.

    Mixed into `AdversarialDistiller` (before `keras.Model`). The class it is mixed into
    provides `student_trainable_variables` and `discriminator_trainable_variables`: each
    optimizer is built on exactly its own variables. `get_compile_config` and
    `compile_from_config` rebuild both optimizers when a `.keras` file is loaded, so both
    states survive the round trip.

    Example:

    ```python
    class MyDistiller(TwoOptimizerCompileMixin, keras.Model):
        student_trainable_variables = property(lambda self: self.student.trainable_variables)
        discriminator_trainable_variables = property(lambda self: self.d.trainable_variables)
    ```
    """

    def compile(
        self,
        student_optimizer=None,
        discriminator_optimizer=None,
        metrics=None,
        optimizer=None,
        **kwargs,
    ):
        """Configures the distiller for training.

        Args:
            student_optimizer: Optimizer (or identifier, e.g. `"adam"`) of the student
                and of the student-side projection. Becomes `self.optimizer`, so Keras
                callbacks that act on the optimizer (learning-rate schedules,
                `ReduceLROnPlateau`) act on the student's.
            discriminator_optimizer: Optimizer of the discriminator.
            metrics: Metrics computed on the student's logits against the labels, when
                the data has labels (e.g. `["accuracy"]`).
            optimizer: Alias of `student_optimizer`.
            **kwargs: Passed to `keras.Model.compile` (`jit_compile`,
                `steps_per_execution`, `run_eagerly`, ...). `loss` is not accepted: the
                objective is the distiller's own.
        """
        if optimizer is not None and student_optimizer is not None:
            raise ValueError("Pass `student_optimizer` or its alias `optimizer`, not both.")
        student_optimizer = student_optimizer if student_optimizer is not None else optimizer
        missing = [
            name
            for name, opt in (
                ("student_optimizer", student_optimizer),
                ("discriminator_optimizer", discriminator_optimizer),
            )
            if opt is None
        ]
        if missing:
            raise ValueError(
                f"AdversarialDistiller.compile() needs {' and '.join(missing)}: e.g. "
                "distiller.compile(student_optimizer=keras.optimizers.Adam(1e-3), "
                "discriminator_optimizer=keras.optimizers.Adam(1e-4))."
            )
        if kwargs.get("loss") is not None:
            raise ValueError(
                "AdversarialDistiller.compile() takes no `loss`: the student objective is "
                "the adversarial + mimic terms. To add a label term, set "
                "`label_loss_weight` on the distiller."
            )
        kwargs.pop("loss", None)
        student_optimizer = keras.optimizers.get(student_optimizer)
        discriminator_optimizer = keras.optimizers.get(discriminator_optimizer)
        if student_optimizer is discriminator_optimizer:
            raise ValueError(
                "The student and the discriminator need two distinct optimizer objects "
                "(their states must not mix); create one for each."
            )
        super().compile(optimizer=student_optimizer, metrics=metrics, **kwargs)
        self._requested_jit_compile = kwargs.get("jit_compile", "auto")
        self.discriminator_optimizer = discriminator_optimizer
        # Build both optimizers on exactly their own variables, now: Keras would otherwise
        # build `self.optimizer` on all trainable variables, D's included.
        self.optimizer.build(self.student_trainable_variables)
        self.discriminator_optimizer.build(self.discriminator_trainable_variables)

    def get_compile_config(self):
        config = super().get_compile_config()
        if config and self.discriminator_optimizer is not None:
            config["discriminator_optimizer"] = keras.saving.serialize_keras_object(
                self.discriminator_optimizer
            )
        # Optimizers saved by public name, so a file saved on torch trains elsewhere, and
        # `jit_compile` as asked for ("auto" resolves on the loading backend).
        config = portable_compile_config(config)
        return with_requested_jit_compile(config, getattr(self, "_requested_jit_compile", "auto"))

    def compile_from_config(self, config):
        config = keras.saving.deserialize_keras_object(config)
        kwargs = {
            k: v
            for k, v in config.items()
            if k
            not in (
                "optimizer",
                "discriminator_optimizer",
                "loss",
                "loss_weights",
                "weighted_metrics",
            )
        }
        self.compile(
            student_optimizer=config["optimizer"],
            discriminator_optimizer=config["discriminator_optimizer"],
            **kwargs,
        )
