"""The two adversarial terms of ANC, for any discriminator: D's loss and the student's.

`AdversarialDistiller` uses them for its main discriminator and for every
`keras_anc.DiscriminatorTap`, so all discriminators share the paper's regularizers
(adversarial samples, input noise and dropout, their own weight decay).
"""

import keras
from keras import ops

from keras_anc import losses
from keras_anc.distillers.taps import weighted_mean
from keras_anc.distribution import replica_seed


def discriminator_loss(
    discriminator,
    noise,
    teacher_features,
    student_features,
    *,
    sample_rate,
    seed_generator,
    training,
):
    """D's loss and accuracy on one teacher batch (label 1) and one student batch (label 0).

    In training, adversarial samples relabel a share `sample_rate` of the student samples
    as teacher, `noise` (a `FeatureNoise`) perturbs D's inputs, and D's own regularization
    losses (e.g. its kernel regularizer) are added. The accuracy is always measured
    against the true labels.

    Args:
        discriminator: A `keras.Model` mapping `(batch, width)` features to logits.
        noise: The `FeatureNoise` layer applied to D's inputs.
        teacher_features: Float32 `(batch, width)` teacher features.
        student_features: Float32 `(batch, width)` student features (gradient-stopped).
        sample_rate: Share of student samples labelled "teacher" in training.
        seed_generator: The `keras.random.SeedGenerator` of the relabelling draws.
        training: Whether this is a training step.

    Returns:
        `(loss, accuracy)`, float32 scalars.

    Example:

    ```python
    loss, accuracy = discriminator_loss(
        disc, noise, t, s, sample_rate=0.1, seed_generator=gen, training=True
    )
    ```
    """
    batch = ops.shape(teacher_features)[0]
    inputs = ops.concatenate([teacher_features, student_features], axis=0)
    inputs = noise(inputs, training=training)
    logits = ops.cast(discriminator(inputs, training=training), "float32")
    true_labels = ops.concatenate(
        [ops.ones((batch,), "float32"), ops.zeros((batch,), "float32")], axis=0
    )
    labels = true_labels
    if training:
        # One stream per replica under a tf.distribute strategy (the same draws as
        # without one on a single device).
        draw = keras.random.uniform((batch,), seed=replica_seed(seed_generator))
        flipped = ops.cast(draw < sample_rate, "float32")
        labels = ops.concatenate([ops.ones((batch,), "float32"), flipped], axis=0)
    loss = ops.mean(losses.binary_logit_loss(labels, logits))
    if training and discriminator.losses:
        loss = loss + ops.sum(ops.stack(discriminator.losses))
    predicted = ops.cast(ops.reshape(logits, (-1,)) > 0, "float32")
    accuracy = ops.mean(ops.cast(ops.equal(predicted, true_labels), "float32"))
    return loss, accuracy


def fooling_loss(discriminator, noise, student_features, sample_weight, training):
    """The student's adversarial term: how far D is from calling its features "teacher".

    Args:
        discriminator: The discriminator (called in inference mode; not updated here).
        noise: The `FeatureNoise` layer applied to D's inputs.
        student_features: Float32 `(batch, width)` student features, with gradients.
        sample_weight: Optional per-sample weights.
        training: Whether this is a training step (the noise is active then).

    Returns:
        The (weighted) mean binary cross-entropy against the "teacher" label.
    """
    inputs = noise(student_features, training=training)
    logits = ops.cast(discriminator(inputs, training=False), "float32")
    return weighted_mean(losses.binary_logit_loss(ops.ones_like(logits), logits), sample_weight)
