"""`HintDistiller`: FitNets hint training on top of `keras.distillation.Distiller`."""

import copy

import keras

from keras_anc.distillers import taps
from keras_anc.distillers._serialization import AtomicSaveMixin
from keras_anc.distribution import replicas_in_sync


@keras.saving.register_keras_serializable(package="keras_anc")
class HintDistiller(AtomicSaveMixin, keras.distillation.Distiller):
    """FitNets-style hint training on top of `keras.distillation.Distiller`.

    Keras' `FeatureDistillation` compares two named layers but has no way to bridge
    different widths. This subclass adds the FitNets regressor: when the student's hint
    layer is narrower or wider than the teacher's, a `Dense` layer (`hint_regressor`,
    trained with the student, not part of it) maps the student's features to the
    teacher's width. Spatial maps are global-average-pooled first. The objective is
    Keras': `student_loss_weight * CE(labels) + (1 - student_loss_weight) * MSE(hint)`,
    in one stage (FitNets trains the hint first, then KD; we train both at once). Like
    Keras' distiller it overrides only `compute_loss`, so it trains on every backend.
    Under a `tf.distribute` strategy it trains as on one device and, unlike Keras'
    distiller (which logs them divided by the number of replicas), logs the
    `student_loss`, `distillation_loss` and `total_loss` of the global batch.

    Args:
        teacher: A trained functional `keras.Model`.
        student: A functional `keras.Model` to train.
        teacher_layer: Name of the teacher's hint layer.
        student_layer: Name of the student's guided layer.
        student_loss_weight: Weight of the label loss, in [0, 1].
        **kwargs: Passed to `keras.distillation.Distiller`.

    Example:

    ```python
    fitnets = keras_anc.distillers.HintDistiller(teacher, student, "features", "features")
    fitnets.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    fitnets.fit(labelled_ds, epochs=5)
    ```

    Reference:
        Romero et al., "FitNets: Hints for Thin Deep Nets", ICLR 2015.
    """

    def __init__(
        self,
        teacher,
        student,
        teacher_layer="features",
        student_layer="features",
        student_loss_weight=0.5,
        **kwargs,
    ):
        kwargs.setdefault("name", "fitnets")
        for role, model, layer in (
            ("teacher", teacher, teacher_layer),
            ("student", student, student_layer),
        ):
            names = [lyr.name for lyr in model.layers]
            if layer not in names:
                raise ValueError(
                    f"The {role} has no layer named {layer!r} for the hint. Available "
                    f"layers: {names}. Received: `{role}_layer={layer!r}`."
                )
        super().__init__(
            teacher=teacher,
            student=student,
            # A `Loss` object, not "mse" (a plain function): under tf.distribute Keras
            # scales `Loss` results by 1/replicas, as it does the label term, so the
            # summed replica gradients equal the one-device gradient.
            distillation_losses=keras.distillation.FeatureDistillation(
                loss=keras.losses.MeanSquaredError(),
                teacher_layer_name=teacher_layer,
                student_layer_name=student_layer,
            ),
            student_loss_weight=student_loss_weight,
            **kwargs,
        )
        # Keras' Distiller logs the replica-scaled losses in these trackers (halved on
        # 2 replicas); ours log the global-batch values, as `loss` does.
        for attribute in (
            "student_loss_tracker",
            "distillation_loss_tracker",
            "total_loss_tracker",
        ):
            scaled = getattr(self, attribute)
            tracker = _GlobalBatchMean(name=scaled.name)
            self._tracker.replace_tracked_value("metrics", scaled, tracker)
            setattr(self, attribute, tracker)
        self.teacher_layer = teacher_layer
        self.student_layer = student_layer
        t_width = teacher.get_layer(teacher_layer).output.shape[-1]
        s_width = student.get_layer(student_layer).output.shape[-1]
        self.hint_regressor = taps.width_projection(s_width, t_width, "hint_regressor")

    def _extract_all_teacher_features(self, x):
        features = dict(super()._extract_all_teacher_features(x))
        features[self.teacher_layer] = taps.as_vectors(features[self.teacher_layer])
        return features

    def _extract_all_student_features(self, x, y_pred):
        features = dict(super()._extract_all_student_features(x, y_pred))
        hint = taps.as_vectors(features[self.student_layer])
        if self.hint_regressor is not None:
            hint = self.hint_regressor(hint)
        features[self.student_layer] = hint
        return features

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        for key, model in (("teacher", self.teacher), ("student", self.student)):
            serialized = keras.saving.serialize_keras_object(model)
            serialized.pop("compile_config", None)
            config[key] = serialized
        config.update(
            {
                "teacher_layer": self.teacher_layer,
                "student_layer": self.student_layer,
                "student_loss_weight": self.student_loss_weight,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = copy.deepcopy(config)
        for key in ("teacher", "student"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


class _GlobalBatchMean(keras.metrics.Mean):
    """A mean of losses that Keras scaled by 1/replicas: records the unscaled values."""

    def update_state(self, values, sample_weight=None):
        replicas = replicas_in_sync()
        if replicas > 1:
            values = keras.ops.multiply(values, float(replicas))
        return super().update_state(values, sample_weight=sample_weight)
