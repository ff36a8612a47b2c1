"""`DiscriminatorTap`: one more discriminator, on a named teacher/student layer pair."""

import math
import numbers

import keras
from keras import ops

from keras_anc.discriminator import MLPDiscriminator
from keras_anc.distillers import taps


@keras.saving.register_keras_serializable(package="keras_anc")
class DiscriminatorTap(keras.layers.Layer):
    """A discriminator on one intermediate teacher/student layer pair, with its own weight.

    `AdversarialDistiller(..., discriminator_taps=[DiscriminatorTap(...), ...])` plays
    the ANC game on several layers at once (the paper's future work): besides the main
    discriminator (on the outputs, or on `teacher_layer`/`student_layer`), each tap's
    discriminator learns to tell the teacher's `teacher_layer` features from the
    student's `student_layer` features, and the student learns to fool every one of
    them. All discriminators are updated by the discriminator optimizer at each
    discriminator step, with the same regularizers (adversarial samples, input noise and
    dropout); each keeps its own weight decay.

    Spatial feature maps are global-average-pooled to vectors. When the two widths
    differ, a learned `Dense` projection (`tap.projection`, trained with the student like
    `AdversarialDistiller.student_projection`) maps the student's features to the
    teacher's width; it is not part of the student.

    The student's adversarial objective becomes `adversarial_loss + sum(weight_i *
    adversarial_loss_<name_i>)`, scaled as a whole by the distiller's
    `adversarial_weight`. Logged per tap: `adversarial_loss_<name>`,
    `discriminator_loss_<name>` and `discriminator_accuracy_<name>`.

    Args:
        teacher_layer: Name of the teacher layer the discriminator sees.
        student_layer: Name of the matching student layer.
        weight: Weight of this tap's term in the student's adversarial objective
            (a finite number >= 0). Defaults to 1.
        discriminator: A `keras.Model` mapping `(batch, width)` features to one logit per
            sample. Defaults to a new `keras_anc.MLPDiscriminator`.
        projection: `"auto"` (default): a projection only when the widths differ;
            `True`: always one; `False`: never (the widths must then match).
        kernel_regularizer: Weight decay of the default discriminator (e.g.
            `keras.regularizers.L2(1e-4)`); only without `discriminator`.
        **kwargs: Passed to `keras.layers.Layer`. `name` (default: the layer name, or
            `"<teacher_layer>_<student_layer>"` when they differ) names the logged
            metrics and must be unique among a distiller's taps.

    Example:

    ```python
    distiller = keras_anc.AdversarialDistiller(
        teacher,
        student,
        discriminator_taps=[
            keras_anc.DiscriminatorTap("block_1", "block_1", weight=0.5),
            keras_anc.DiscriminatorTap(
                "features", "features", kernel_regularizer=keras.regularizers.L2(1e-4)
            ),
        ],
    )
    ```

    Reference:
        Belagiannis, Farshad, Galasso, "Adversarial Network Compression",
        ECCV Workshops 2018, arXiv:1803.10750 (section 5: discriminators on several
        layers as future work).
    """

    def __init__(
        self,
        teacher_layer,
        student_layer,
        weight=1.0,
        discriminator=None,
        projection="auto",
        kernel_regularizer=None,
        **kwargs,
    ):
        for arg, value in (("teacher_layer", teacher_layer), ("student_layer", student_layer)):
            if not isinstance(value, str) or not value:
                raise ValueError(
                    f"`{arg}` must be the name of a layer (a non-empty string). Received: "
                    f"`{arg}={value!r}`."
                )
        default = teacher_layer if teacher_layer == student_layer else None
        kwargs.setdefault("name", default or f"{teacher_layer}_{student_layer}")
        super().__init__(**kwargs)
        valid = isinstance(weight, numbers.Real) and not isinstance(weight, bool)
        if not valid or not math.isfinite(weight) or weight < 0:
            raise ValueError(
                f"`weight` must be a finite number >= 0. Received: `weight={weight!r}`."
            )
        if not (projection is True or projection is False or projection == "auto"):
            raise ValueError(
                "`projection` must be 'auto', True or False. Received: "
                f"`projection={projection!r}`."
            )
        if discriminator is not None and not isinstance(discriminator, keras.Model):
            raise ValueError(
                "`discriminator` must be a keras.Model mapping (batch, width) features to "
                "(batch, 1) logits, or None for a new MLPDiscriminator. Received: "
                f"`discriminator` of type {type(discriminator).__name__}."
            )
        if discriminator is not None and kernel_regularizer is not None:
            raise ValueError(
                "Pass `kernel_regularizer` only without `discriminator` (it configures the "
                "default MLPDiscriminator); give your own discriminator its regularizers."
            )
        self.teacher_layer = teacher_layer
        self.student_layer = student_layer
        self.weight = float(weight)
        self.projection_mode = projection
        if discriminator is None:
            discriminator = MLPDiscriminator(
                kernel_regularizer=kernel_regularizer, name=f"discriminator_{self.name}"
            )
        self.discriminator = discriminator
        self.projection = None
        self.widths = None

    def bind(self, teacher_width, student_width):
        """Builds the discriminator and the projection for these feature widths.

        Called by `AdversarialDistiller`; a tap serves one pair of widths.

        Args:
            teacher_width: Width of the (pooled) teacher features.
            student_width: Width of the (pooled) student features.
        """
        widths = (int(teacher_width), int(student_width))
        if self.widths is not None:
            if tuple(self.widths) != widths:
                raise ValueError(
                    f"DiscriminatorTap {self.name!r} is already used for features of widths "
                    f"{self.widths} (teacher, student); here they are {widths}. Create one "
                    "tap per distiller."
                )
            return
        if self.projection_mode is False and widths[0] != widths[1]:
            raise ValueError(
                f"DiscriminatorTap {self.name!r} has `projection=False`, but the teacher "
                f"layer {self.teacher_layer!r} is {widths[0]} wide and the student layer "
                f"{self.student_layer!r} {widths[1]}. Use `projection='auto'`."
            )
        if self.projection_mode is True or widths[0] != widths[1]:
            self.projection = keras.layers.Dense(widths[0], name=f"{self.name}_projection")
            self.projection.build((None, widths[1]))
        if not self.discriminator.built:
            self.discriminator.build((None, widths[0]))
        self.widths = widths
        self.built = True

    def project(self, student_features):
        """Float32 student features at the teacher's width."""
        if self.projection is None:
            return student_features
        return ops.cast(self.projection(student_features), "float32")

    def call(self, features, training=None):
        """The discriminator's logits for `(batch, teacher_width)` features."""
        return self.discriminator(features, training=training)

    @property
    def projection_variables(self):
        """The projection's trainable variables (trained with the student)."""
        return [] if self.projection is None else list(self.projection.trainable_variables)

    def get_config(self):
        config = super().get_config()
        discriminator = keras.saving.serialize_keras_object(self.discriminator)
        discriminator.pop("compile_config", None)
        config.update(
            {
                "teacher_layer": self.teacher_layer,
                "student_layer": self.student_layer,
                "weight": self.weight,
                "discriminator": discriminator,
                "projection": self.projection_mode,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["discriminator"] = keras.saving.deserialize_keras_object(config["discriminator"])
        return cls(**config)


def check_discriminator_taps(discriminator_taps):
    """Returns the taps as a list, or raises for a wrong item or a repeated name.

    Args:
        discriminator_taps: `None` or a list of `DiscriminatorTap`.
    """
    if discriminator_taps is None:
        return []
    if not isinstance(discriminator_taps, (list, tuple)):
        raise ValueError(
            "`discriminator_taps` must be a list of keras_anc.DiscriminatorTap. Received: "
            f"`discriminator_taps={discriminator_taps!r}`."
        )
    seen = {}
    for i, tap in enumerate(discriminator_taps):
        if not isinstance(tap, DiscriminatorTap):
            raise ValueError(
                f"`discriminator_taps[{i}]` must be a keras_anc.DiscriminatorTap(teacher_layer, "
                f"student_layer, ...). Received: `discriminator_taps[{i}]={tap!r}` of type "
                f"{type(tap).__name__}."
            )
        if tap.name in seen:
            raise ValueError(
                f"`discriminator_taps[{seen[tap.name]}]` and `discriminator_taps[{i}]` are "
                f"both named {tap.name!r}; their metrics would share names. Give each tap "
                "its own `name=`."
            )
        seen[tap.name] = i
    return list(discriminator_taps)


def bind_taps(discriminator_taps, teacher, student):
    """Binds every tap to the widths of its layers in `teacher` and `student`."""
    for tap in discriminator_taps:
        widths = []
        for model, name, role in (
            (teacher, tap.teacher_layer, "teacher"),
            (student, tap.student_layer, "student"),
        ):
            width = taps.layer_output(model, name, role).shape[-1]
            if width is None:
                raise ValueError(
                    f"The {role} layer {name!r} of DiscriminatorTap {tap.name!r} has an "
                    "unknown last dimension; pick a layer with a fixed width."
                )
            widths.append(width)
        tap.bind(*widths)
