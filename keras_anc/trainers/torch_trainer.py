"""The PyTorch training step of `AdversarialDistiller`."""

import keras
import torch
from keras import ops

from keras_anc.trainers.base import AdversarialTrainerContract


class TorchDistillerTrainer(AdversarialTrainerContract):
    """Alternating discriminator / student updates with `backward()`.

    The pattern of Keras' torch trainer and of the keras.io GAN examples: per batch,
    one teacher forward pass (inference mode, no graph), one student forward pass,
    then `discriminator_steps` times `zero_grad`, the discriminator loss on the
    detached student features, `backward()` and `discriminator_optimizer.apply`; then
    `zero_grad`, the student objective against the updated discriminator, `backward()`
    and `optimizer.apply` on the student's (and projection's) weights. Keras allows
    `jit_compile=True` (`torch.compile`) and only `steps_per_execution=1` on torch.
    """

    def train_step(self, data):
        x, y, sample_weight, cached = self._unpack(data)
        with torch.no_grad():
            teacher_features, teacher_logits = self._teacher_outputs(x, cached)
        student_features, student_logits = self._student_outputs(x, training=True)
        discriminator = self._discriminator_updates(
            teacher_features, keras.tree.map_structure(ops.stop_gradient, student_features)
        )
        self.zero_grad()
        objective = self._student_objective(
            teacher_features,
            student_features,
            student_logits,
            y,
            sample_weight,
            training=True,
            teacher_logits=teacher_logits,
        )
        self.optimizer.scale_loss(objective[0]).backward()
        variables = self.student_trainable_variables
        gradients = [v.value.grad for v in variables]
        with torch.no_grad():
            self.optimizer.apply(gradients, variables)
        with torch.no_grad():
            self._update_trackers(
                objective, discriminator, teacher_logits, student_logits, sample_weight
            )
            return self.compute_metrics(x, y, student_logits, sample_weight)

    def test_step(self, data):
        with torch.no_grad():
            return self._evaluate_batch(*self._unpack(data))

    def _discriminator_updates(self, teacher_features, student_features):
        variables = self.discriminator_trainable_variables
        for _ in range(self.discriminator_steps):
            self.zero_grad()
            objective = self._discriminator_objective(
                teacher_features, student_features, training=True
            )
            self.discriminator_optimizer.scale_loss(objective[0]).backward()
            gradients = [v.value.grad for v in variables]
            with torch.no_grad():
                self.discriminator_optimizer.apply(gradients, variables)
        return tuple(value.detach() for value in objective)
