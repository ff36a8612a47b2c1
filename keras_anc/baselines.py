"""Every compression method of the ANC paper's comparison, built the same way.

`make_method(name, teacher, student, **options)` returns a compiled `keras.Model` whose
`fit` trains `student` by one method, so that benchmarks compare methods on the same
(teacher, student) pair, data and schedule. `available_methods()` lists the names:

| name               | objective of the student                                   | labels |
|--------------------|------------------------------------------------------------|--------|
| `labels`           | cross-entropy on labels, no teacher                        | yes    |
| `hinton_kd`        | `keras.distillation.Distiller` + `LogitsDistillation(T)`   | yes    |
| `fitnets`          | `keras.distillation.Distiller` + `FeatureDistillation`     | yes    |
|                    | (hint on a layer pair, regressor when widths differ)       |        |
| `logit_regression` | L2 between logits (Ba & Caruana), `MimicDistiller`         | no     |
| `anc_noreg`        | `AdversarialDistiller`, no discriminator regularizer       | no     |
| `anc`              | `AdversarialDistiller`, adversarial samples (default)      | no     |
| `anc_l2`           | `anc_noreg` + L2 weight decay on the discriminator         | no     |
| `anc_noise`        | `anc_noreg` + noise and dropout on the discriminator input | no     |

The student is trained in place: after `fit`, the `student` object passed in holds the
result (`student_of(model)` returns it for every method).
"""

import keras
from keras import ops

from keras_anc import losses
from keras_anc.discriminator import MLPDiscriminator
from keras_anc.distiller import AdversarialDistiller

LABEL_FREE_METHODS = ("logit_regression", "anc_noreg", "anc", "anc_l2", "anc_noise")
_METHODS = ("labels", "hinton_kd", "fitnets") + LABEL_FREE_METHODS

# Options each method accepts (beyond the common `optimizer`, `metrics`, `jit_compile`,
# `steps_per_execution`), with their defaults.
_OPTIONS = {
    "labels": {},
    "hinton_kd": {"temperature": 4.0, "alpha": 0.1},
    "fitnets": {"teacher_layer": "features", "student_layer": "features", "alpha": 0.5},
    "logit_regression": {"mimic_loss": "l2"},
    "anc_noreg": {},
    "anc": {"adversarial_sample_rate": 0.1},
    "anc_l2": {"weight_decay": 1e-4},
    "anc_noise": {"input_noise_stddev": 0.1, "input_dropout_rate": 0.1},
}
_ANC_COMMON = {
    "discriminator_optimizer": None,
    "mimic_weight": 1.0,
    "adversarial_weight": 1.0,
    "discriminator_units": (128, 256, 128),
    "seed": None,
}
for _name in ("anc_noreg", "anc", "anc_l2", "anc_noise"):
    _OPTIONS[_name] = {**_ANC_COMMON, **_OPTIONS[_name]}


def available_methods():
    """Returns the names accepted by `make_method`, in the order of the paper's tables.

    Example:

    ```python
    for name in keras_anc.baselines.available_methods():
        model = make_method(name, teacher, student_copy())
    ```
    """
    return list(_METHODS)


def method_options(name):
    """Returns the method-specific options of `name` and their defaults, as a dict."""
    return dict(_OPTIONS[_check_name(name)])


def uses_labels(name):
    """Whether method `name` reads labels during training (`False` for label-free ones)."""
    return _check_name(name) not in LABEL_FREE_METHODS


def student_of(model):
    """The student trained by a model from `make_method` (the model itself for `labels`)."""
    return getattr(model, "student", model)


def make_method(
    name,
    teacher,
    student,
    optimizer=None,
    metrics=("accuracy",),
    jit_compile=False,
    steps_per_execution=1,
    **options,
):
    """Builds and compiles compression method `name` on a (teacher, student) pair.

    Args:
        name: One of `available_methods()`.
        teacher: A trained functional `keras.Model` returning logits (unused by
            `labels`). It is frozen.
        student: The functional `keras.Model` to train, returning logits. Trained in place.
        optimizer: The student's optimizer. Defaults to `keras.optimizers.Adam(1e-3)`.
        metrics: Metrics on the student's logits against labels (when data has labels).
        jit_compile: Passed to `compile`. Defaults to `False` (XLA does not help on CPU).
        steps_per_execution: Passed to `compile`.
        **options: Method-specific options, see `method_options(name)`:
            - `hinton_kd`: `temperature` (softmax temperature, 4), `alpha` (weight of the
              label cross-entropy, 0.1; the KL term gets `1 - alpha` and Keras' `T**2`).
            - `fitnets`: `teacher_layer`/`student_layer` (the hint pair, `"features"`),
              `alpha` (weight of the label cross-entropy, 0.5; the hint MSE gets
              `1 - alpha`). One stage: hint and labels are trained together.
            - `logit_regression`: `mimic_loss` (`"l2"` or `"l1"`).
            - `anc*`: `discriminator_optimizer` (defaults to `Adam(1e-4)`),
              `mimic_weight`, `adversarial_weight`, `discriminator_units`, `seed`;
              `anc`: `adversarial_sample_rate` (0.1); `anc_l2`: `weight_decay` (L2
              coefficient on D's kernels, 1e-4); `anc_noise`: `input_noise_stddev` (0.1)
              and `input_dropout_rate` (0.1).

    Returns:
        A compiled `keras.Model`; `fit` it on `(x, y)` data (label-free methods also take
        `x` alone) and read the trained network with `student_of(model)`.

    Example:

    ```python
    model = make_method("hinton_kd", teacher, student, temperature=4.0, alpha=0.1)
    model.fit(train_ds, epochs=5)
    student_of(model).evaluate(test_ds)
    ```
    """
    name = _check_name(name)
    allowed = _OPTIONS[name]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"Method {name!r} does not take option(s) {unknown}. Its options are "
            f"{sorted(allowed)} (see keras_anc.baselines.method_options({name!r}))."
        )
    opts = {**allowed, **options}
    optimizer = optimizer if optimizer is not None else keras.optimizers.Adam(1e-3)
    compile_kwargs = {
        "metrics": list(metrics) if metrics else None,
        "jit_compile": jit_compile,
        "steps_per_execution": steps_per_execution,
    }
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    if name == "labels":
        student.compile(optimizer=optimizer, loss=ce, **compile_kwargs)
        return student
    if name == "hinton_kd":
        model = keras.distillation.Distiller(
            teacher=teacher,
            student=student,
            # An explicit `KLDivergence()` instance: with the default string
            # "kl_divergence", Keras 3.15 resolves a plain function and skips its own
            # softmax-and-T**2 branch, so KL is taken on raw logits (clipped to [eps, 1]).
            distillation_losses=keras.distillation.LogitsDistillation(
                temperature=float(opts["temperature"]), loss=keras.losses.KLDivergence()
            ),
            student_loss_weight=float(opts["alpha"]),
            name="hinton_kd",
        )
        model.compile(optimizer=optimizer, loss=ce, **compile_kwargs)
        return model
    if name == "fitnets":
        model = HintDistiller(
            teacher,
            student,
            teacher_layer=opts["teacher_layer"],
            student_layer=opts["student_layer"],
            student_loss_weight=float(opts["alpha"]),
        )
        model.compile(optimizer=optimizer, loss=ce, **compile_kwargs)
        return model
    if name == "logit_regression":
        model = MimicDistiller(teacher, student, mimic_loss=opts["mimic_loss"])
        model.compile(optimizer=optimizer, **compile_kwargs)
        return model

    # The ANC family.
    regularizer = None
    if name == "anc_l2":
        regularizer = keras.regularizers.L2(float(opts["weight_decay"]))
    discriminator = MLPDiscriminator(
        hidden_units=opts["discriminator_units"], kernel_regularizer=regularizer
    )
    model = AdversarialDistiller(
        teacher,
        student,
        discriminator=discriminator,
        mimic_weight=opts["mimic_weight"],
        adversarial_weight=opts["adversarial_weight"],
        adversarial_sample_rate=opts.get("adversarial_sample_rate", 0.0),
        input_noise_stddev=opts.get("input_noise_stddev", 0.0),
        input_dropout_rate=opts.get("input_dropout_rate", 0.0),
        seed=opts["seed"],
        name=name,
    )
    d_optimizer = opts["discriminator_optimizer"]
    model.compile(
        student_optimizer=optimizer,
        discriminator_optimizer=d_optimizer
        if d_optimizer is not None
        else keras.optimizers.Adam(1e-4),
        **compile_kwargs,
    )
    return model


def _check_name(name):
    if name not in _METHODS:
        raise ValueError(
            f"Unknown method {name!r}. Valid methods: {', '.join(_METHODS)} "
            "(see keras_anc.baselines.available_methods())."
        )
    return name


class MimicDistiller(keras.Model):
    """Label-free logit regression: the student regresses the teacher's logits.

    Ba & Caruana's mimic learning, and the ANC training loop with the discriminator
    removed: per batch, one teacher forward pass in inference mode (outside the gradient
    tape), one student forward and backward pass, and the mimic loss only. It reads the
    same data as `AdversarialDistiller` (`x`, `(x,)`, `(x, y)` or `(x, y, w)`; labels
    only feed the compiled metrics) and logs `loss` and `teacher_agreement`.

    Args:
        teacher: A trained `keras.Model` returning logits. It is frozen.
        student: The `keras.Model` to train, same output shape as the teacher.
        mimic_loss: `"l2"` (the paper's) or `"l1"`.
        **kwargs: Passed to `keras.Model`.

    Example:

    ```python
    mimic = MimicDistiller(teacher, student)
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
                f"Unknown `mimic_loss` {mimic_loss!r}: use one of {losses.MIMIC_LOSSES}."
            )
        self.teacher = teacher
        self.student = student
        self.teacher.trainable = False
        self.mimic_loss = mimic_loss
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.agreement_tracker = keras.metrics.Mean(name="teacher_agreement")
        self.built = True

    def call(self, inputs, training=False):
        """Returns the student's logits."""
        return self.student(inputs, training=training)

    @property
    def metrics(self):
        metrics = [self.loss_tracker, self.agreement_tracker]
        if self._compile_metrics is not None and self._compile_metrics.built:
            metrics.append(self._compile_metrics)
        return metrics

    def _teacher_logits(self, x):
        return ops.stop_gradient(ops.cast(self.teacher(x, training=False), "float32"))

    def _loss(self, teacher_logits, student_logits, sample_weight):
        error = losses.mimic_error(
            teacher_logits, ops.cast(student_logits, "float32"), self.mimic_loss
        )
        if sample_weight is not None:
            error = error * ops.cast(ops.reshape(sample_weight, (-1,)), error.dtype)
        return ops.mean(error)

    def _finish(self, x, y, sample_weight, loss, teacher_logits, student_logits):
        self.loss_tracker.update_state(loss)
        agree = ops.equal(ops.argmax(teacher_logits, -1), ops.argmax(student_logits, -1))
        self.agreement_tracker.update_state(ops.cast(agree, "float32"))
        if y is None:
            return {m.name: m.result() for m in self.metrics if m is not self._compile_metrics}
        if self._compile_metrics is not None:
            self._compile_metrics.update_state(y, student_logits, sample_weight)
        return self.get_metrics_result()

    def train_step(self, data):
        if keras.backend.backend() != "tensorflow":
            raise ValueError(
                "MimicDistiller.train_step is written for the TensorFlow backend; set "
                "KERAS_BACKEND=tensorflow."
            )
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        teacher_logits = self._teacher_logits(x)
        with tf.GradientTape() as tape:
            student_logits = self.student(x, training=True)
            loss = self._loss(teacher_logits, student_logits, sample_weight)
            if self.student.losses:
                loss = loss + ops.sum(ops.stack(self.student.losses))
            scaled = self.optimizer.scale_loss(loss)
        variables = self.student.trainable_variables
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        return self._finish(x, y, sample_weight, loss, teacher_logits, student_logits)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        teacher_logits = self._teacher_logits(x)
        student_logits = self.student(x, training=False)
        loss = self._loss(teacher_logits, student_logits, sample_weight)
        return self._finish(x, y, sample_weight, loss, teacher_logits, student_logits)


class HintDistiller(keras.distillation.Distiller):
    """FitNets-style hint training on top of `keras.distillation.Distiller`.

    Keras' `FeatureDistillation` compares two named layers but has no way to bridge
    different widths. This subclass adds the FitNets regressor: when the student's hint
    layer is narrower or wider than the teacher's, a `Dense` layer (`hint_regressor`,
    trained with the student, not part of it) maps the student's features to the teacher's
    width. Spatial maps are global-average-pooled first. The objective is Keras':
    `student_loss_weight * CE(labels) + (1 - student_loss_weight) * MSE(hint)`, in one
    stage (FitNets trains the hint first, then KD; we train both at once).

    Args:
        teacher: A trained functional `keras.Model`.
        student: A functional `keras.Model` to train.
        teacher_layer: Name of the teacher's hint layer.
        student_layer: Name of the student's guided layer.
        student_loss_weight: Weight of the label loss, in [0, 1].
        **kwargs: Passed to `keras.distillation.Distiller`.

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
        super().__init__(
            teacher=teacher,
            student=student,
            distillation_losses=keras.distillation.FeatureDistillation(
                loss="mse", teacher_layer_name=teacher_layer, student_layer_name=student_layer
            ),
            student_loss_weight=student_loss_weight,
            **kwargs,
        )
        self.teacher_layer = teacher_layer
        self.student_layer = student_layer
        t_width = teacher.get_layer(teacher_layer).output.shape[-1]
        s_width = student.get_layer(student_layer).output.shape[-1]
        self.hint_regressor = None
        if t_width != s_width:
            self.hint_regressor = keras.layers.Dense(t_width, name="hint_regressor")
            self.hint_regressor.build((None, s_width))

    def _extract_all_teacher_features(self, x):
        features = dict(super()._extract_all_teacher_features(x))
        features[self.teacher_layer] = _pooled(features[self.teacher_layer])
        return features

    def _extract_all_student_features(self, x, y_pred):
        features = dict(super()._extract_all_student_features(x, y_pred))
        hint = _pooled(features[self.student_layer])
        if self.hint_regressor is not None:
            hint = self.hint_regressor(hint)
        features[self.student_layer] = hint
        return features


def _pooled(features):
    rank = len(features.shape)
    if rank > 2:
        features = ops.mean(features, axis=tuple(range(1, rank - 1)))
    return features
