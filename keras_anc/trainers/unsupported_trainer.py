"""Placeholder trainer for backends without an adversarial training step yet."""

import keras


class UnsupportedDistillerTrainer:
    """Lets evaluation and prediction run; training fails with a clear message."""

    def _check_backend_supports_training(self):
        raise NotImplementedError(
            f"AdversarialDistiller can train only on the TensorFlow backend for now; the "
            f"current Keras backend is {keras.backend.backend()!r}. Set "
            "KERAS_BACKEND=tensorflow before importing keras. (evaluate/predict work on "
            "every backend.)"
        )

    def train_step(self, data):
        self._check_backend_supports_training()
