"""Backends without a training step fail clearly."""

import pytest

from keras_anc.trainers.unsupported_trainer import UnsupportedDistillerTrainer


def test_training_on_another_backend_says_what_to_do():
    with pytest.raises(NotImplementedError, match="KERAS_BACKEND=tensorflow"):
        UnsupportedDistillerTrainer().train_step(None)
