"""`HintDistiller`: FitNets hints with a width regressor, on `keras.distillation`."""

import keras
import numpy as np

from keras_anc.distillers import HintDistiller


def _student(factory, hidden=(32,), seed=1):
    return factory(list(hidden), "student", seed=seed)


def test_fitnets_bridges_widths_with_a_trained_regressor(mnist, mnist_teacher, student_factory):
    x, y, _, _ = mnist
    narrow = HintDistiller(mnist_teacher, _student(student_factory, (32,)))
    assert narrow.hint_regressor is not None
    assert narrow.hint_regressor.units == 128  # the teacher's "features" width
    narrow.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    kernel = narrow.hint_regressor.kernel.numpy().copy()
    narrow.fit(x[:256], y[:256], batch_size=128, epochs=1, verbose=0)
    assert not np.allclose(kernel, narrow.hint_regressor.kernel.numpy())
    same = HintDistiller(mnist_teacher, _student(student_factory, (128,)))
    assert same.hint_regressor is None
