"""`AdversarialDistiller`: label-free adversarial distillation as a `keras.Model`."""

import copy
import warnings

import keras
from keras import ops

from keras_anc import hyperparameters as hp
from keras_anc import losses
from keras_anc.discriminator import MLPDiscriminator
from keras_anc.distillers import taps
from keras_anc.distillers.batches import unpack_batch
from keras_anc.distillers.portable_config import portable_compile_config
from keras_anc.distillers.trackers import DirectedMean, TrackerList, metric_results
from keras_anc.distribution import replica_seed
from keras_anc.layers.feature_noise import FeatureNoise
from keras_anc.seed_state import SeedStateMixin
from keras_anc.trainers import BackendTrainer

# Hyper-parameters held in non-trainable variables, so callbacks can change them
# during training and a compiled step sees the change.
HYPERPARAMETERS = (
    "mimic_weight",
    "output_mimic_weight",
    "adversarial_weight",
    "adversarial_sample_rate",
    "label_loss_weight",
    "input_noise_stddev",
    "input_dropout_rate",
)


@keras.saving.register_keras_serializable(package="keras_anc")
class AdversarialDistiller(SeedStateMixin, BackendTrainer, keras.Model):
    """Distils a frozen teacher into a student against a discriminator, without labels.

    The student plays the generator of a GAN: a discriminator `D` learns to tell teacher
    outputs (label 1) from student outputs (label 0), and the student learns to fool it
    while a mimic term (L2 by default) pulls its outputs to the teacher's. Every batch,
    `train_step` runs one teacher forward pass (inference mode), one student forward and
    backward pass, and `discriminator_steps` updates of `D` on the same features before
    the student update. Labels are never needed; when the data has them they feed the
    compiled metrics (computed on the student's logits) and, if asked, a label term.

    What `D` sees: by default the models' outputs (logits). With `teacher_layer` /
    `student_layer` it sees those named intermediate layers instead (spatial maps are
    global-average-pooled); when the widths differ, a learned `Dense` projection on the
    student side (`student_projection`, trained with the student) maps the student's
    features to the teacher's width. The projection is not part of `distiller.student`.

    Discriminator regularization (the paper's second contribution) keeps `D` from
    becoming trivially strong without shrinking it:
    - adversarial samples: a fraction `adversarial_sample_rate` of the student outputs
      shown to `D` is labelled "teacher" (0 turns it off);
    - noise and dropout on `D`'s input (`input_noise_stddev`, `input_dropout_rate`);
    - L1/L2 weight decay on `D` (`MLPDiscriminator(kernel_regularizer=...)`).
    The scalar hyper-parameters live in non-trainable variables (see `hyperparameters`)
    that `keras_anc.callbacks` can schedule or adapt during `fit`.

    Logged metrics: `loss` (the student's total objective), `adversarial_loss`,
    `mimic_loss`, `discriminator_loss`, `discriminator_accuracy`, `teacher_agreement`
    (share of argmax matches with the teacher, no labels needed) and the compiled
    metrics; validation logs the same names with `val_`.

    Args:
        teacher: A trained `keras.Model` returning logits. It is frozen.
        student: The `keras.Model` to train; same input and output shapes as the teacher.
        discriminator: A `keras.Model` mapping features `(batch, width)` to one logit
            per sample. Defaults to `MLPDiscriminator()` (128-256-128).
        teacher_layer: Optional name of the teacher layer whose output `D` sees and the
            mimic term matches. Defaults to the teacher's output.
        student_layer: Optional name of the matching student layer. Required with
            `teacher_layer`.
        mimic_loss: `"l2"` or `"l1"`.
        mimic_weight: Weight of the mimic term in the student objective.
        adversarial_weight: Weight of the adversarial (fool `D`) term.
        adversarial_sample_rate: Fraction of student samples labelled "teacher" when
            training `D` (the paper's adversarial samples). Our default 0.1 is our
            reading of the paper, which reports regularization by a small share of
            such samples; 0 turns the regularizer off.
        input_noise_stddev: Std of Gaussian noise added to `D`'s inputs in training.
        input_dropout_rate: Dropout rate on `D`'s inputs in training.
        label_loss_weight: Weight of an optional cross-entropy term on labels (used only
            when the data has labels). Defaults to 0: label-free, as in the paper.
        discriminator_steps: Updates of `D` per batch, before the student update.
        seed: Optional integer seed for the adversarial samples and input noise.
        output_mimic_weight: Weight of a mimic term on the *outputs* (logits) when `D`
            compares intermediate layers (`teacher_layer`/`student_layer`): it keeps the
            student's classifier trained without labels. Defaults to 1 with feature
            taps and 0 without them (the features are then the outputs).
        **kwargs: Passed to `keras.Model`.

    Example:

    ```python
    distiller = keras_anc.AdversarialDistiller(teacher=teacher, student=student)
    distiller.compile(
        student_optimizer=keras.optimizers.Adam(1e-3),
        discriminator_optimizer=keras.optimizers.Adam(1e-4),
        metrics=["accuracy"],
    )
    distiller.fit(unlabelled_ds, epochs=10, validation_data=val_ds)
    distiller.student.save("student.keras")
    ```

    Reference:
        Belagiannis, Farshad, Galasso, "Adversarial Network Compression",
        ECCV Workshops 2018, arXiv:1803.10750.
    """

    def __init__(
        self,
        teacher,
        student,
        discriminator=None,
        teacher_layer=None,
        student_layer=None,
        mimic_loss="l2",
        mimic_weight=1.0,
        adversarial_weight=1.0,
        adversarial_sample_rate=0.1,
        input_noise_stddev=0.0,
        input_dropout_rate=0.0,
        label_loss_weight=0.0,
        discriminator_steps=1,
        seed=None,
        output_mimic_weight=None,
        **kwargs,
    ):
        kwargs.setdefault("name", "adversarial_distiller")
        super().__init__(**kwargs)
        for role, model in (("teacher", teacher), ("student", student)):
            if not isinstance(model, keras.Model):
                raise ValueError(
                    f"`{role}` must be a keras.Model, got {type(model).__name__}. "
                    f"Wrap your network in a keras.Model (e.g. keras.Sequential)."
                )
        if teacher is student:
            raise ValueError(
                "`teacher` and `student` are the same model object: the teacher is frozen, "
                "so nothing would be trained. Pass a separate student (e.g. "
                "keras.models.clone_model(teacher) for a same-size student)."
            )
        if output_mimic_weight is None:
            # With feature taps, the output-level mimic term keeps the student's
            # classifier trained; without them, the features are the outputs.
            output_mimic_weight = 1.0 if teacher_layer is not None else 0.0
        values = {
            "mimic_weight": mimic_weight,
            "output_mimic_weight": output_mimic_weight,
            "adversarial_weight": adversarial_weight,
            "adversarial_sample_rate": adversarial_sample_rate,
            "label_loss_weight": label_loss_weight,
            "input_noise_stddev": input_noise_stddev,
            "input_dropout_rate": input_dropout_rate,
        }
        values = {name: hp.check_value(name, value) for name, value in values.items()}
        if teacher_layer is not None and values["output_mimic_weight"] == 0.0:
            warnings.warn(
                "Feature-level distillation with `output_mimic_weight=0`: no term reaches "
                "the student's output layer, so its classifier is not trained without "
                "labels. Set `output_mimic_weight` > 0 or `label_loss_weight` > 0.",
                stacklevel=2,
            )
        if discriminator is not None and not isinstance(discriminator, keras.Model):
            raise ValueError(
                f"`discriminator` must be a keras.Model mapping (batch, width) features "
                f"to (batch, 1) logits, or None for the default MLPDiscriminator; got "
                f"{type(discriminator).__name__}."
            )
        if mimic_loss not in losses.MIMIC_LOSSES:
            raise ValueError(
                f"Unknown `mimic_loss` {mimic_loss!r}: use one of {losses.MIMIC_LOSSES}."
            )
        if (teacher_layer is None) != (student_layer is None):
            raise ValueError(
                "Pass both `teacher_layer` and `student_layer` (the two layers the "
                "discriminator compares), or neither to compare the models' outputs; got "
                f"teacher_layer={teacher_layer!r}, student_layer={student_layer!r}."
            )
        if (
            isinstance(discriminator_steps, bool)
            or not float(discriminator_steps).is_integer()
            or int(discriminator_steps) < 1
        ):
            raise ValueError(
                "`discriminator_steps` must be a whole number >= 1. Received: "
                f"`discriminator_steps={discriminator_steps!r}`."
            )

        self.teacher = teacher
        self.student = student
        self.teacher.trainable = False
        self.teacher_layer = teacher_layer
        self.student_layer = student_layer
        self.mimic_loss = mimic_loss
        self.discriminator_steps = int(discriminator_steps)
        self.seed = seed

        taps.check_io_compatible(teacher, student)
        self._teacher_taps = taps.tap_model(teacher, teacher_layer, "teacher")
        self._student_taps = taps.tap_model(student, student_layer, "student")
        t_width = taps.feature_width(self._teacher_taps)
        s_width = taps.feature_width(self._student_taps)
        if teacher_layer is None:
            taps.warn_if_softmax(teacher, "teacher")
            taps.warn_if_softmax(student, "student")

        self.student_projection = taps.width_projection(s_width, t_width, "student_projection")

        self.discriminator = discriminator if discriminator is not None else MLPDiscriminator()
        if not self.discriminator.built:
            self.discriminator.build((None, t_width))
        self.feature_noise = FeatureNoise(
            input_noise_stddev, input_dropout_rate, seed=seed, name="discriminator_input_noise"
        )
        self.seed_generator = keras.random.SeedGenerator(seed)

        self.mimic_weight = _hyper(values["mimic_weight"], "mimic_weight")
        self.output_mimic_weight = _hyper(values["output_mimic_weight"], "output_mimic_weight")
        self.adversarial_weight = _hyper(values["adversarial_weight"], "adversarial_weight")
        self.adversarial_sample_rate = _hyper(
            values["adversarial_sample_rate"], "adversarial_sample_rate"
        )
        self.label_loss_weight = _hyper(values["label_loss_weight"], "label_loss_weight")
        # The label term is part of the step only if asked for at construction: with
        # weight 0, labels are never read (out-of-range labels cannot break a run).
        self._uses_label_term = values["label_loss_weight"] > 0.0

        self.loss_tracker = DirectedMean("loss")
        self.adversarial_loss_tracker = DirectedMean("adversarial_loss")
        self.mimic_loss_tracker = DirectedMean("mimic_loss")
        self.output_mimic_loss_tracker = (
            DirectedMean("output_mimic_loss") if teacher_layer is not None else None
        )
        self.discriminator_loss_tracker = DirectedMean("discriminator_loss")
        self.discriminator_accuracy_tracker = DirectedMean("discriminator_accuracy", "up")
        self.teacher_agreement_tracker = DirectedMean("teacher_agreement", "up")
        self._trackers = TrackerList(
            t
            for t in (
                self.loss_tracker,
                self.adversarial_loss_tracker,
                self.mimic_loss_tracker,
                self.output_mimic_loss_tracker,
                self.discriminator_loss_tracker,
                self.discriminator_accuracy_tracker,
                self.teacher_agreement_tracker,
            )
            if t is not None
        )
        self.discriminator_optimizer = None
        self.built = True

    # ------------------------------------------------------------------ hyper-parameters

    @property
    def hyperparameters(self):
        """The schedulable hyper-parameters, by name, as non-trainable `keras.Variable`s."""
        return {
            "mimic_weight": self.mimic_weight,
            "output_mimic_weight": self.output_mimic_weight,
            "adversarial_weight": self.adversarial_weight,
            "adversarial_sample_rate": self.adversarial_sample_rate,
            "label_loss_weight": self.label_loss_weight,
            "input_noise_stddev": self.feature_noise.stddev,
            "input_dropout_rate": self.feature_noise.dropout_rate,
        }

    def get_hyperparameter(self, name):
        """Returns the variable holding hyper-parameter `name` (see `hyperparameters`)."""
        try:
            return self.hyperparameters[name]
        except KeyError:
            raise ValueError(
                f"Unknown hyper-parameter {name!r}. Available: {sorted(HYPERPARAMETERS)}."
            ) from None

    def set_hyperparameter(self, name, value):
        """Sets hyper-parameter `name` to `value` after checking its range."""
        self.get_hyperparameter(name).assign(hp.check_value(name, value))

    # ------------------------------------------------------------------ compile

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
        self.discriminator_optimizer = discriminator_optimizer
        # Build both optimizers on exactly their own variables, now: Keras would otherwise
        # build `self.optimizer` on all trainable variables, D's included.
        self.optimizer.build(self.student_trainable_variables)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def get_compile_config(self):
        config = super().get_compile_config()
        if config and self.discriminator_optimizer is not None:
            config["discriminator_optimizer"] = keras.saving.serialize_keras_object(
                self.discriminator_optimizer
            )
        # Optimizers saved by public name, so a file saved on torch trains elsewhere.
        return portable_compile_config(config)

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

    @property
    def student_trainable_variables(self):
        """Variables the student update trains: the student's and its projection's."""
        variables = list(self.student.trainable_variables)
        if self.student_projection is not None:
            variables += self.student_projection.trainable_variables
        return variables

    # ------------------------------------------------------------------ fit / call

    def fit(self, *args, **kwargs):
        if not self.compiled or self.discriminator_optimizer is None:
            raise ValueError(
                "AdversarialDistiller.fit() was called before compile(). Call "
                "distiller.compile(student_optimizer=..., discriminator_optimizer=...) first."
            )
        self._check_backend_supports_training()
        return super().fit(*args, **kwargs)

    def call(self, inputs, training=False):
        """Returns the student's logits: `distiller.predict` predicts with the student."""
        return self.student(inputs, training=training)

    @property
    def metrics(self):
        metrics = [self._trackers]
        if self._compile_metrics is not None and self._compile_metrics.built:
            metrics.append(self._compile_metrics)
        return metrics

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y, dict):  # cached teacher outputs ride along with the labels
            y = y.get("labels")
        if y is None:
            # Label-free data: the compiled (label) metrics are not updated, so they are
            # left out of the logs rather than reported as a stale 0.
            return metric_results(self.metrics, skip=self._compile_metrics)
        if self._compile_metrics is not None:
            self._compile_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    # ------------------------------------------------------------------ step pieces
    # Backend-neutral pieces, written with keras.ops; the backend trainers
    # (keras_anc/trainers/) put them together with their own gradient machinery.

    def _unpack(self, data):
        """Validates one batch and returns `(x, y, sample_weight, cached)`."""
        return unpack_batch(
            data,
            num_inputs=len(self.teacher.inputs or [None]),
            teacher_layer=self.teacher_layer,
            num_classes=self.teacher.outputs[0].shape[-1],
        )

    def _teacher_outputs(self, x, cached=None):
        """Teacher `(features, logits)`: one inference pass, or the cached outputs."""
        features, logits = cached if cached is not None else self._teacher_taps(x, training=False)
        return (
            ops.stop_gradient(taps.as_vectors(features)),
            ops.stop_gradient(ops.cast(logits, "float32")),
        )

    def _student_outputs(self, x, training):
        features, logits = self._student_taps(x, training=training)
        features = taps.as_vectors(features)
        if self.student_projection is not None:
            features = ops.cast(self.student_projection(features), "float32")
        return features, ops.cast(logits, "float32")

    def _discriminator_objective(self, teacher_features, student_features, training):
        """D's loss and accuracy on one teacher batch and one student batch.

        In training, adversarial samples relabel a random share of student samples as
        teacher, and `feature_noise` perturbs D's inputs.
        """
        batch = ops.shape(teacher_features)[0]
        inputs = ops.concatenate([teacher_features, student_features], axis=0)
        inputs = self.feature_noise(inputs, training=training)
        logits = ops.cast(self.discriminator(inputs, training=training), "float32")
        true_labels = ops.concatenate(
            [ops.ones((batch,), "float32"), ops.zeros((batch,), "float32")], axis=0
        )
        labels = true_labels
        if training:
            # One stream per replica under a tf.distribute strategy (the same draws
            # as without one on a single device).
            draw = keras.random.uniform((batch,), seed=replica_seed(self.seed_generator))
            flipped = ops.cast(draw < self.adversarial_sample_rate, "float32")
            labels = ops.concatenate([ops.ones((batch,), "float32"), flipped], axis=0)
        loss = ops.mean(losses.binary_logit_loss(labels, logits))
        if training and self.discriminator.losses:
            loss = loss + ops.sum(ops.stack(self.discriminator.losses))
        predicted = ops.cast(ops.reshape(logits, (-1,)) > 0, "float32")
        accuracy = ops.mean(ops.cast(ops.equal(predicted, true_labels), "float32"))
        return loss, accuracy

    def _student_objective(
        self,
        teacher_features,
        student_features,
        student_logits,
        y,
        sample_weight,
        training,
        teacher_logits=None,
    ):
        """The student's total loss and its parts: `(total, adversarial, mimic)`, plus
        the output-level mimic term when features are tapped (which needs
        `teacher_logits`)."""
        d_inputs = self.feature_noise(student_features, training=training)
        d_logits = ops.cast(self.discriminator(d_inputs, training=False), "float32")
        adversarial = losses.binary_logit_loss(ops.ones_like(d_logits), d_logits)
        mimic = losses.mimic_error(teacher_features, student_features, self.mimic_loss)
        adversarial = taps.weighted_mean(adversarial, sample_weight)
        mimic = taps.weighted_mean(mimic, sample_weight)
        total = self.adversarial_weight * adversarial + self.mimic_weight * mimic
        parts = (adversarial, mimic)
        if self.teacher_layer is not None:
            if teacher_logits is None:
                raise ValueError(
                    "With feature taps, `_student_objective` needs `teacher_logits` for the "
                    "output-level mimic term; the backend trainer must pass them."
                )
            output_mimic = taps.weighted_mean(
                losses.mimic_error(teacher_logits, student_logits, self.mimic_loss),
                sample_weight,
            )
            total = total + self.output_mimic_weight * output_mimic
            parts = (*parts, output_mimic)
        if y is not None and self._uses_label_term:
            label_term = (
                ops.sparse_categorical_crossentropy(
                    ops.reshape(y, (-1,)), student_logits, from_logits=True
                )
                if _is_sparse(y, student_logits)
                else ops.categorical_crossentropy(y, student_logits, from_logits=True)
            )
            total = total + self.label_loss_weight * taps.weighted_mean(label_term, sample_weight)
        if training and self.student.losses:
            total = total + ops.sum(ops.stack(self.student.losses))
        return (total, *parts)

    def _update_trackers(
        self, objective, discriminator, teacher_logits, student_logits, sample_weight
    ):
        """Records `objective = (total, adversarial, mimic[, output_mimic])` and
        `discriminator = (loss, accuracy)` for one batch, plus the student/teacher argmax
        agreement."""
        trackers = (
            self.loss_tracker,
            self.adversarial_loss_tracker,
            self.mimic_loss_tracker,
            self.output_mimic_loss_tracker,
        )[: len(objective)]
        trackers += (self.discriminator_loss_tracker, self.discriminator_accuracy_tracker)
        for tracker, value in zip(trackers, (*objective, *discriminator)):
            tracker.update_state(value)
        self.teacher_agreement_tracker.update_state(
            taps.agreement(teacher_logits, student_logits), sample_weight=sample_weight
        )

    # ------------------------------------------------------------------ deployment

    def export_student(self, path, version=None, **kwargs):
        """Exports the student alone as a TF-Serving SavedModel, `path/<version>/`.

        See `keras_anc.export.export_student` for the arguments.
        """
        from keras_anc.export import export_student

        return export_student(self.student, path, version=version, **kwargs)

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}

        def serialize(model):
            # The sub-models' own compile state is not ours to restore: reloading it
            # would only rebuild an unused optimizer (and warn about its variables).
            serialized = keras.saving.serialize_keras_object(model)
            serialized.pop("compile_config", None)
            return serialized

        config.update(
            {
                "teacher": serialize(self.teacher),
                "student": serialize(self.student),
                "discriminator": serialize(self.discriminator),
                "teacher_layer": self.teacher_layer,
                "student_layer": self.student_layer,
                "mimic_loss": self.mimic_loss,
                "discriminator_steps": self.discriminator_steps,
                "seed": self.seed,
            }
        )
        for name, variable in self.hyperparameters.items():
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

    @classmethod
    def from_config(cls, config):
        config = copy.deepcopy(config)  # deserialization consumes nested dicts
        for key in ("teacher", "student", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


# ---------------------------------------------------------------------- helpers


def _hyper(value, name):
    return keras.Variable(float(value), trainable=False, dtype="float32", name=name)


def _is_sparse(y, logits):
    return len(y.shape) < len(logits.shape) or (y.shape[-1] == 1 and logits.shape[-1] != 1)
