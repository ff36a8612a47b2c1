"""`MimicDistiller`: label-free logit regression (Ba & Caruana), on every backend."""

import copy

import keras
from keras import ops

from keras_anc import losses
from keras_anc.distillers import taps
from keras_anc.distillers._serialization import AtomicSaveMixin
from keras_anc.distillers.portable_config import (
    portable_compile_config,
    with_requested_jit_compile,
)
from keras_anc.distribution import replicas_in_sync


@keras.saving.register_keras_serializable(package="keras_anc")
class MimicDistiller(AtomicSaveMixin, keras.Model):
    """Label-free logit regression: the student regresses the teacher's logits.

    Ba & Caruana's mimic learning, and the ANC objective with the discriminator removed:
    per batch, one teacher forward pass in inference mode and the mimic loss (L2 by
    default) between teacher and student logits. It overrides only `compute_loss`, so
    Keras' own training step runs it on TensorFlow, JAX and PyTorch. It reads the same
    data as `AdversarialDistiller` (`x`, `(x,)`, `(x, y)` or `(x, y, w)`; labels only
    feed the compiled metrics) and logs `loss` and `teacher_agreement`.

    Args:
        teacher: A trained `keras.Model` returning logits. It is frozen.
        student: The `keras.Model` to train, same output shape as the teacher.
        mimic_loss: `"l2"` (the paper's) or `"l1"`.
        **kwargs: Passed to `keras.Model`.

    Example:

    ```python
    mimic = keras_anc.distillers.MimicDistiller(teacher, student)
    mimic.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"])
    mimic.fit(images_only_ds, epochs=5)
    ```

    Reference:
        Ba & Caruana, "Do Deep Nets Really Need to be Deep?", NeurIPS 2014.
    """

    def __init__(self, teacher, student, mimic_loss="l2", **kwargs):
        kwargs.setdefault("name", "mimic_distiller")
        super().__init__(**kwargs)
        if mimic_loss not in losses.MIMIC_LOSSES:
            raise ValueError(
                f"Unknown `mimic_loss`: use one of {losses.MIMIC_LOSSES}. "
                f"Received: `mimic_loss={mimic_loss!r}`."
            )
        taps.check_io_compatible(teacher, student)
        self.teacher = teacher
        self.student = student
        self.teacher.trainable = False
        self.mimic_loss = mimic_loss
        self.agreement_tracker = keras.metrics.Mean(name="teacher_agreement")
        self.built = True

    def call(self, inputs, training=False):
        """Returns the student's logits."""
        return self.student(inputs, training=training)

    def compile(self, optimizer="adam", metrics=None, **kwargs):
        """Configures training; the loss is the mimic loss, so `loss` is not accepted."""
        if kwargs.pop("loss", None) is not None:
            raise ValueError(
                "MimicDistiller.compile() takes no `loss`: the objective is the mimic loss "
                "between teacher and student logits (set `mimic_loss` on the distiller)."
            )
        kwargs.pop("loss_weights", None)
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)
        self._requested_jit_compile = kwargs.get("jit_compile", "auto")

    def get_compile_config(self):
        # The optimizer saved by public name, so a file saved on torch trains elsewhere, and
        # `jit_compile` as asked for ("auto" resolves on the loading backend).
        config = portable_compile_config(super().get_compile_config())
        return with_requested_jit_compile(config, getattr(self, "_requested_jit_compile", "auto"))

    def compile_from_config(self, config):
        # `compile` is overridden, so Keras would skip it on `.keras` reload (and the
        # reloaded model would have no optimizer); rebuild it, and the optimizer's
        # variables so that their saved values load back.
        config = keras.saving.deserialize_keras_object(config)
        ignored = ("loss", "loss_weights", "weighted_metrics")
        self.compile(**{k: v for k, v in config.items() if k not in ignored})
        self.optimizer.build(self.trainable_variables)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        teacher_logits = ops.stop_gradient(ops.cast(self.teacher(x, training=False), "float32"))
        student_logits = ops.cast(y_pred, "float32")
        error = losses.mimic_error(teacher_logits, student_logits, self.mimic_loss)
        loss = taps.weighted_mean(error, sample_weight)
        self.agreement_tracker.update_state(
            taps.agreement(teacher_logits, student_logits), sample_weight=sample_weight
        )
        if training and self.student.losses:
            loss = loss + ops.sum(ops.stack(self.student.losses))
        # Under tf.distribute, Keras sums the replicas' gradients: a per-replica mean
        # divided by the replica count gives the one-device update on the global batch.
        replicas = replicas_in_sync()
        return loss if replicas == 1 else loss / replicas

    @property
    def metrics(self):
        # Label-free data never builds the compiled (label) metrics; an unbuilt one
        # cannot report a result, so it is left out until labelled data builds it.
        return [
            m
            for m in super().metrics
            if m is not self._compile_metrics or self._compile_metrics.built
        ]

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if y is None:
            # Label-free data: the compiled (label) metrics are left out of the logs
            # rather than reported as a stale 0.
            return {m.name: m.result() for m in self.metrics if m is not self._compile_metrics}
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        config["teacher"] = _serialize(self.teacher)
        config["student"] = _serialize(self.student)
        config["mimic_loss"] = self.mimic_loss
        return config

    @classmethod
    def from_config(cls, config):
        config = copy.deepcopy(config)
        for key in ("teacher", "student"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def _serialize(model):
    # A sub-model's own compile state is not ours to restore: reloading it would only
    # rebuild an unused optimizer (and warn about its variables).
    serialized = keras.saving.serialize_keras_object(model)
    serialized.pop("compile_config", None)
    return serialized
