"""Placeholder trainer for backends without an adversarial training step yet."""

import keras


class UnsupportedDistillerTrainer:
    """Training fails with a clear message; evaluation and prediction use keras.ops only."""

    def _check_backend_supports_training(self):
        raise NotImplementedError(
            f"AdversarialDistiller can train only on the TensorFlow backend for now; the "
            f"current Keras backend is {keras.backend.backend()!r}. Set "
            "KERAS_BACKEND=tensorflow before importing keras."
        )

    def train_step(self, data):
        self._check_backend_supports_training()
