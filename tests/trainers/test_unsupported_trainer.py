"""Backends without a training step fail clearly, with the one unsupported-backend error."""

import pytest

from keras_anc.errors import UnsupportedBackendError
from keras_anc.trainers.unsupported_trainer import UnsupportedDistillerTrainer


def test_training_on_another_backend_says_what_to_do():
    with pytest.raises(UnsupportedBackendError, match="Set KERAS_BACKEND to 'tensorflow'"):
        UnsupportedDistillerTrainer._check_backend_supports_training(object())


def test_unsupported_backend_error_is_a_not_implemented_error():
    assert issubclass(UnsupportedBackendError, NotImplementedError)
