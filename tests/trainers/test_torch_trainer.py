"""The PyTorch training step: `zero_grad`, `backward()`, `optimizer.apply` for D and student.

Runs under `KERAS_BACKEND=torch` (CI runs tests/trainers under every backend).
"""

import keras
import numpy as np
import pytest

import keras_anc

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason=f"tests the torch trainer; this run uses KERAS_BACKEND={keras.backend.backend()!r}",
)

BATCH = 16


def _distiller(**compile_kwargs):
    def mlp(hidden, name, seed):
        keras.utils.set_random_seed(seed)
        x = keras.Input((6,))
        h = keras.layers.Dense(hidden, activation="relu", name="features")(x)
        return keras.Model(x, keras.layers.Dense(3, name="logits")(h), name=name)

    model = keras_anc.AdversarialDistiller(mlp(16, "teacher", 0), mlp(4, "student", 1), seed=0)
    model.compile(
        student_optimizer=keras.optimizers.Adam(1e-2),
        discriminator_optimizer=keras.optimizers.Adam(1e-3),
        **compile_kwargs,
    )
    return model


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(4 * BATCH, 6)).astype("float32")


def test_the_distiller_uses_the_torch_trainer():
    from keras_anc.trainers.torch_trainer import TorchDistillerTrainer

    assert issubclass(keras_anc.AdversarialDistiller, TorchDistillerTrainer)


def test_the_teacher_gets_no_gradients(x):
    distiller = _distiller()
    distiller.fit(x, batch_size=BATCH, epochs=1, verbose=0)
    for variable in distiller.teacher.weights:
        assert not variable.value.requires_grad, variable.path
        assert variable.value.grad is None, variable.path


def test_steps_per_execution_is_one_on_torch(x):
    # Keras' torch trainer runs one step per call; docs/backends.md says so.
    distiller = _distiller(steps_per_execution=2)
    with pytest.raises(ValueError, match="must be 1 with the PyTorch backend"):
        distiller.fit(x, batch_size=BATCH, epochs=1, verbose=0)
