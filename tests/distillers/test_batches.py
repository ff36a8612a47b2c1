"""Batches are checked at the boundary, with messages that name the argument."""

import keras
import numpy as np
import pytest

import keras_anc
from keras_anc.distillers.batches import unpack_batch


def _unpack(data, **kwargs):
    options = {"num_inputs": 1, "teacher_layer": None, "num_classes": 10, **kwargs}
    return unpack_batch(data, **options)


def test_plain_forms_are_accepted():
    x = np.zeros((4, 3), "float32")
    y = np.zeros((4,), "int64")
    assert _unpack(x)[1] is None
    assert _unpack((x,))[1] is None
    assert _unpack((x, y))[1] is y
    assert _unpack((x, y, np.ones((4,))))[2].shape == (4,)


@pytest.mark.parametrize(
    "data,match",
    [
        ({"image": 0}, "yields a dict"),
        ((1, 2, 3, 4), "has 4 parts"),
        (
            (np.zeros((4, 3)), None, np.ones((4, 2))),
            r"one weight per example, shape \(batch,\)",
        ),
        ((np.zeros((4, 3)), None, np.ones((5,))), "5 weights for a batch of 4"),
        ((np.zeros((4, 3)), {"teacher_logits": np.zeros((4, 7))}), "7 classes"),
        ((np.zeros((4, 3)), {"logits": np.zeros((4, 10))}), "must hold 'teacher_logits'"),
    ],
)
def test_bad_batches_get_one_clear_error(data, match):
    with pytest.raises(ValueError, match=match):
        _unpack(data)


def _distiller(student_factory, **kwargs):
    teacher = student_factory([16], "t")
    distiller = keras_anc.AdversarialDistiller(teacher, student_factory([8], "s"), **kwargs)
    distiller.compile(
        student_optimizer=keras.optimizers.Adam(1e-3),
        discriminator_optimizer=keras.optimizers.Adam(1e-4),
    )
    return distiller


def test_label_free_training_never_reads_labels(student_factory):
    # With label_loss_weight=0 (the default) out-of-range labels cannot break fit.
    distiller = _distiller(student_factory)
    x = np.random.default_rng(0).random((64, 28, 28, 1)).astype("float32")
    bad_labels = np.full((64,), -7, "int64")
    history = distiller.fit(x, bad_labels, batch_size=32, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_wrong_sample_weight_shape_is_named_in_fit(student_factory):
    distiller = _distiller(student_factory)
    x = np.zeros((8, 28, 28, 1), "float32")
    with pytest.raises(ValueError, match="sample_weight"):
        distiller.fit(
            x, np.zeros((8,), "int64"), sample_weight=np.ones((8, 3)), batch_size=8, verbose=0
        )
