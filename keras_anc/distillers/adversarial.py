"""`AdversarialDistiller`: label-free adversarial distillation as a `keras.Model`."""

import keras
from keras import ops

from keras_anc import hyperparameters as hp
from keras_anc import losses
from keras_anc.discriminator import MLPDiscriminator
from keras_anc.distillers import taps
from keras_anc.distillers._adversarial_terms import discriminator_loss, fooling_loss
from keras_anc.distillers._arguments import check_arguments
from keras_anc.distillers._compiling import TwoOptimizerCompileMixin
from keras_anc.distillers._distillation_losses import (
    check_distillation_losses,
    compute_terms,
    feature_layers,
    term_names,
)
from keras_anc.distillers._serialization import (
    AtomicSaveMixin,
    constructor_arguments,
    distiller_config,
)
from keras_anc.distillers.batches import sparse_labels, unpack_batch
from keras_anc.distillers.discriminator_tap import bind_taps, check_discriminator_taps
from keras_anc.distillers.trackers import DirectedMean, TrackerList, metric_results
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
class AdversarialDistiller(
    AtomicSaveMixin, SeedStateMixin, TwoOptimizerCompileMixin, BackendTrainer, keras.Model
):
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

    Keras' own distillation objectives compose with the adversarial game:
    `distillation_losses=[keras.distillation.LogitsDistillation(...),
    keras.distillation.FeatureDistillation(...)]` adds `sum(w_i * term_i)` to the
    student's objective, computed from the same teacher and student forward passes.

    Logged metrics: `loss` (the student's total objective), `adversarial_loss`,
    `mimic_loss`, `discriminator_loss`, `discriminator_accuracy`, `teacher_agreement`
    (share of argmax matches with the teacher, no labels needed), one
    `distillation_loss_<i>` per distillation loss (its unweighted value) and the
    compiled metrics; validation logs the same names with `val_`. Each
    `DiscriminatorTap` adds `adversarial_loss_<name>`, `discriminator_loss_<name>` and
    `discriminator_accuracy_<name>` (the unsuffixed names stay the main D's).

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
        distillation_losses: Optional list of `keras.distillation.DistillationLoss`
            objects (`LogitsDistillation`, `FeatureDistillation` or a subclass of
            `DistillationLoss`). Each one's `compute_loss(teacher_outputs,
            student_outputs)` is added to the student's objective, where the outputs
            are the layers named by its `teacher_layer_name`/`student_layer_name` (as
            `keras.distillation.Distiller` reads them; raw, cast to float32), else the
            logits. The terms take no `sample_weight` (Keras' API has none). Layer
            taps cannot be read from cached teacher outputs.
        distillation_loss_weights: One non-negative weight per distillation loss.
            Defaults to 1 for each.
        discriminator_taps: Optional list of `keras_anc.DiscriminatorTap`: one more
            discriminator per named teacher/student layer pair, each with its own
            weight in the adversarial objective and projection (see its docstring).
            The main `discriminator` stays; the discriminator optimizer updates all.
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

    # Composed with Keras' own distillation objectives and a second discriminator:
    distiller = keras_anc.AdversarialDistiller(
        teacher,
        student,
        discriminator_taps=[keras_anc.DiscriminatorTap("features", "features")],
        distillation_losses=[
            keras.distillation.LogitsDistillation(
                temperature=4.0, loss=keras.losses.KLDivergence()
            ),
            keras.distillation.FeatureDistillation(
                teacher_layer_name="features", student_layer_name="features"
            ),
        ],
        distillation_loss_weights=[0.5, 0.1],
    )
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
        distillation_losses=None,
        distillation_loss_weights=None,
        discriminator_taps=None,
        **kwargs,
    ):
        kwargs.setdefault("name", "adversarial_distiller")
        super().__init__(**kwargs)
        values = check_arguments(
            teacher=teacher,
            student=student,
            discriminator=discriminator,
            teacher_layer=teacher_layer,
            student_layer=student_layer,
            mimic_loss=mimic_loss,
            discriminator_steps=discriminator_steps,
            hyperparameters={
                "mimic_weight": mimic_weight,
                "output_mimic_weight": output_mimic_weight,
                "adversarial_weight": adversarial_weight,
                "adversarial_sample_rate": adversarial_sample_rate,
                "label_loss_weight": label_loss_weight,
                "input_noise_stddev": input_noise_stddev,
                "input_dropout_rate": input_dropout_rate,
            },
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
        self.distillation_losses, self.distillation_loss_weights = check_distillation_losses(
            distillation_losses, distillation_loss_weights, teacher, student
        )
        self.discriminator_taps = check_discriminator_taps(discriminator_taps)
        bind_taps(self.discriminator_taps, teacher, student)
        # Every layer a term or a tap reads comes out of the one teacher and one student
        # pass.
        teacher_layers, student_layers = feature_layers(self.distillation_losses)
        for tap in self.discriminator_taps:
            teacher_layers += [tap.teacher_layer] * (tap.teacher_layer not in teacher_layers)
            student_layers += [tap.student_layer] * (tap.student_layer not in student_layers)
        self._teacher_extra_layers, self._student_extra_layers = teacher_layers, student_layers
        self._teacher_taps = taps.tap_model(
            teacher, teacher_layer, "teacher", self._teacher_extra_layers
        )
        self._student_taps = taps.tap_model(
            student, student_layer, "student", self._student_extra_layers
        )
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
        self.distillation_loss_trackers = [
            DirectedMean(name) for name in term_names(self.distillation_losses)
        ]
        # In the order of `_student_objective`'s and `_discriminator_objective`'s parts.
        self._objective_trackers = [
            t
            for t in (
                self.loss_tracker,
                self.adversarial_loss_tracker,
                self.mimic_loss_tracker,
                self.output_mimic_loss_tracker,
                *self.distillation_loss_trackers,
                *(DirectedMean(f"adversarial_loss_{tap.name}") for tap in self.discriminator_taps),
            )
            if t is not None
        ]
        self._discriminator_trackers = [
            self.discriminator_loss_tracker,
            self.discriminator_accuracy_tracker,
        ]
        for tap in self.discriminator_taps:
            self._discriminator_trackers += [
                DirectedMean(f"discriminator_loss_{tap.name}"),
                DirectedMean(f"discriminator_accuracy_{tap.name}", "up"),
            ]
        self._trackers = TrackerList(
            [
                *self._objective_trackers,
                *self._discriminator_trackers,
                self.teacher_agreement_tracker,
            ]
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

    @property
    def student_trainable_variables(self):
        """Variables the student update trains: the student's and its projection's."""
        variables = list(self.student.trainable_variables)
        if self.student_projection is not None:
            variables += self.student_projection.trainable_variables
        for tap in self.discriminator_taps:
            variables += tap.projection_variables
        return variables

    @property
    def discriminator_trainable_variables(self):
        """Variables the discriminator optimizer trains: every discriminator's."""
        variables = list(self.discriminator.trainable_variables)
        for tap in self.discriminator_taps:
            variables += tap.discriminator.trainable_variables
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
        unpacked = unpack_batch(
            data,
            num_inputs=len(self.teacher.inputs or [None]),
            teacher_layer=self.teacher_layer,
            num_classes=self.teacher.outputs[0].shape[-1],
        )
        if unpacked[3] is not None and self._teacher_extra_layers:
            raise ValueError(
                "Cached teacher outputs hold the teacher's logits and one feature tap, but "
                f"this distiller also reads the teacher layers {self._teacher_extra_layers} "
                "(its `distillation_losses` or `discriminator_taps`). Train on the plain "
                "data (the teacher is then run on every batch), or drop those terms."
            )
        return unpacked

    def _teacher_outputs(self, x, cached=None):
        """Teacher `(features, logits)`: one inference pass, or the cached outputs.

        `features` is the float32 `(batch, width)` tensor D compares, or, when
        distillation losses or discriminator taps read layers, a dict of it (`"main"`),
        those layers' float32 outputs (`"layers"`) and each tap's features (`"taps"`)."""
        if cached is not None:
            (features, logits), extras = cached, ()
        else:
            features, logits, *extras = self._teacher_taps(x, training=False)
        features = ops.stop_gradient(taps.as_vectors(features))
        extras = [ops.stop_gradient(ops.cast(value, "float32")) for value in extras]
        bundle = self._feature_bundle(features, self._teacher_extra_layers, extras, "teacher")
        return bundle, ops.stop_gradient(ops.cast(logits, "float32"))

    def _student_outputs(self, x, training):
        features, logits, *extras = self._student_taps(x, training=training)
        features = taps.as_vectors(features)
        if self.student_projection is not None:
            features = ops.cast(self.student_projection(features), "float32")
        extras = [ops.cast(value, "float32") for value in extras]
        bundle = self._feature_bundle(features, self._student_extra_layers, extras, "student")
        return bundle, ops.cast(logits, "float32")

    def _feature_bundle(self, features, names, extras, role):
        """`features` alone, or `{"main": features, "layers": {name: output}, "taps":
        [pooled features of each tap (projected on the student side)]}`."""
        if not (self._teacher_extra_layers or self._student_extra_layers):
            return features
        layers = dict(zip(names, extras))
        bundle = {"main": features, "layers": layers}
        if self.discriminator_taps:
            bundle["taps"] = [
                taps.as_vectors(layers[tap.teacher_layer])
                if role == "teacher"
                else tap.project(taps.as_vectors(layers[tap.student_layer]))
                for tap in self.discriminator_taps
            ]
        return bundle

    def _discriminator_objective(self, teacher_features, student_features, training):
        """D's `(loss, accuracy)` on one teacher batch and one student batch; with
        discriminator taps, `(summed loss, loss, accuracy, tap_loss_1, tap_accuracy_1, ...)`.

        In training, adversarial samples relabel a random share of student samples as
        teacher, and `feature_noise` perturbs D's inputs (of every discriminator).
        """
        pairs = [(self.discriminator, _main(teacher_features), _main(student_features))]
        if self.discriminator_taps:
            pairs += zip(
                [tap.discriminator for tap in self.discriminator_taps],
                teacher_features["taps"],
                student_features["taps"],
            )
        parts = []
        for discriminator, teacher, student in pairs:
            parts += discriminator_loss(
                discriminator,
                self.feature_noise,
                teacher,
                student,
                sample_rate=self.adversarial_sample_rate,
                seed_generator=self.seed_generator,
                training=training,
            )
        if not self.discriminator_taps:
            return tuple(parts)
        # Several discriminators: their summed loss first (each one's gradient is that
        # of its own loss), then each one's `(loss, accuracy)`, the main one first.
        return (sum(parts[::2]), *parts)

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
        the output-level mimic term when features are tapped, each distillation loss's
        unweighted term (both need `teacher_logits`), then each discriminator tap's
        adversarial term."""
        if teacher_logits is None and (self.teacher_layer or self.distillation_losses):
            raise ValueError(
                "With feature taps or distillation losses, `_student_objective` needs "
                "`teacher_logits`; the backend trainer must pass them."
            )
        adversarial = fooling_loss(
            self.discriminator, self.feature_noise, _main(student_features), sample_weight, training
        )
        mimic = losses.mimic_error(
            _main(teacher_features), _main(student_features), self.mimic_loss
        )
        mimic = taps.weighted_mean(mimic, sample_weight)
        tap_terms = [
            fooling_loss(tap.discriminator, self.feature_noise, features, sample_weight, training)
            for tap, features in zip(
                self.discriminator_taps, _taps(student_features, self.discriminator_taps)
            )
        ]
        combined = adversarial
        for tap, term in zip(self.discriminator_taps, tap_terms):
            combined = combined + tap.weight * term
        total = self.adversarial_weight * combined + self.mimic_weight * mimic
        parts = (adversarial, mimic)
        if self.teacher_layer is not None:
            output_mimic = taps.weighted_mean(
                losses.mimic_error(teacher_logits, student_logits, self.mimic_loss),
                sample_weight,
            )
            total = total + self.output_mimic_weight * output_mimic
            parts = (*parts, output_mimic)
        if self.distillation_losses:
            terms = compute_terms(
                self.distillation_losses,
                _layers(teacher_features),
                _layers(student_features),
                teacher_logits,
                student_logits,
            )
            for weight, term in zip(self.distillation_loss_weights, terms):
                total = total + weight * term
            parts = (*parts, *terms)
        parts = (*parts, *tap_terms)
        if y is not None and self._uses_label_term:
            label_term = (
                ops.sparse_categorical_crossentropy(
                    ops.reshape(y, (-1,)), student_logits, from_logits=True
                )
                if sparse_labels(y, student_logits)
                else ops.categorical_crossentropy(y, student_logits, from_logits=True)
            )
            total = total + self.label_loss_weight * taps.weighted_mean(label_term, sample_weight)
        if training and self.student.losses:
            total = total + ops.sum(ops.stack(self.student.losses))
        return (total, *parts)

    def _update_trackers(
        self, objective, discriminator, teacher_logits, student_logits, sample_weight
    ):
        """Records the parts of `objective` (see `_student_objective`) and
        `discriminator = (loss, accuracy)` for one batch, plus the student/teacher argmax
        agreement."""
        for tracker, value in zip(self._objective_trackers, objective):
            tracker.update_state(value)
        if self.discriminator_taps:
            discriminator = discriminator[1:]  # the summed loss is not logged
        for tracker, value in zip(self._discriminator_trackers, discriminator):
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
        return distiller_config(self)

    @classmethod
    def from_config(cls, config):
        return cls(**constructor_arguments(config))


# ---------------------------------------------------------------------- helpers


def _hyper(value, name):
    return keras.Variable(float(value), trainable=False, dtype="float32", name=name)


def _main(features):
    """The features D compares, from a tensor or a feature bundle."""
    return features["main"] if isinstance(features, dict) else features


def _taps(features, discriminator_taps):
    """Each tap's features from a feature bundle (none without taps)."""
    return features["taps"] if discriminator_taps else []


def _layers(features):
    """`{layer name: output}` of a feature bundle (empty for a plain tensor)."""
    return features.get("layers", {}) if isinstance(features, dict) else {}
