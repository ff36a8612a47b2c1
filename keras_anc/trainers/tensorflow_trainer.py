"""The TensorFlow training step of `AdversarialDistiller`."""

import keras
import tensorflow as tf

from keras_anc.distribution import replicas_in_sync
from keras_anc.trainers.base import AdversarialTrainerContract


class TensorFlowDistillerTrainer(AdversarialTrainerContract):
    """Alternating discriminator / student updates with `tf.GradientTape`.

    Per batch: one teacher forward pass (inference mode), one student forward pass
    recorded on the student's tape, `discriminator_steps` updates of the discriminator on
    the (stopped) student features, then the student objective against the updated
    discriminator and one backward pass through the student. Works under `tf.function`,
    `jit_compile=True` and `steps_per_execution > 1`.

    Under a `tf.distribute` strategy each replica computes its share of the global
    batch and Keras sums the replicas' gradients, so both losses (means over the
    replica's share) are divided by the number of replicas before `scale_loss`: the
    update equals the one-device update on the global batch. The trackers record the
    unscaled per-replica means, which Keras' metric variables average over replicas.
    """

    def train_step(self, data):
        x, y, sample_weight, cached = self._unpack(data)
        teacher_features, teacher_logits = self._teacher_outputs(x, cached)
        with tf.GradientTape() as student_tape:
            student_features, student_logits = self._student_outputs(x, training=True)
            with student_tape.stop_recording():
                discriminator = self._discriminator_updates(
                    teacher_features, keras.tree.map_structure(tf.stop_gradient, student_features)
                )
            objective = self._student_objective(
                teacher_features,
                student_features,
                student_logits,
                y,
                sample_weight,
                training=True,
                teacher_logits=teacher_logits,
            )
            scaled = self.optimizer.scale_loss(_global_batch_share(objective[0]))
        variables = self.student_trainable_variables
        gradients = student_tape.gradient(scaled, variables)
        self.optimizer.apply(gradients, variables)
        self._update_trackers(
            objective, discriminator, teacher_logits, student_logits, sample_weight
        )
        return self.compute_metrics(x, y, student_logits, sample_weight)

    def test_step(self, data):
        return self._evaluate_batch(*self._unpack(data))

    def _discriminator_updates(self, teacher_features, student_features):
        variables = self.discriminator_trainable_variables
        for _ in range(self.discriminator_steps):
            with tf.GradientTape() as tape:
                objective = self._discriminator_objective(
                    teacher_features, student_features, training=True
                )
                scaled = self.discriminator_optimizer.scale_loss(_global_batch_share(objective[0]))
            gradients = tape.gradient(scaled, variables)
            self.discriminator_optimizer.apply(gradients, variables)
        return objective


def _global_batch_share(loss):
    """`loss` divided by the replicas in sync (unchanged on one device)."""
    replicas = replicas_in_sync()
    return loss if replicas == 1 else loss / tf.cast(replicas, loss.dtype)
