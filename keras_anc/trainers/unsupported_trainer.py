"""Placeholder trainer for backends without an adversarial training step."""

import keras

from keras_anc.errors import UnsupportedBackendError
from keras_anc.trainers.base import AdversarialTrainerContract


class UnsupportedDistillerTrainer(AdversarialTrainerContract):
    """Training fails with a clear message; evaluation and prediction use keras.ops only."""

    def _check_backend_supports_training(self):
        raise UnsupportedBackendError(
            f"AdversarialDistiller has no training step for the Keras backend "
            f"{keras.backend.backend()!r}. Set KERAS_BACKEND to 'tensorflow', 'jax' or "
            "'torch' before importing keras."
        )

    def train_step(self, data):
        self._check_backend_supports_training()
