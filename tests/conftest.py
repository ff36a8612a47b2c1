"""Shared test set-up: point TFDS at the offline data directory beside the checkout."""

import os
import pathlib

_SHARED_TFDS = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "tfds"
if "TFDS_DATA_DIR" not in os.environ and _SHARED_TFDS.is_dir():
    os.environ["TFDS_DATA_DIR"] = str(_SHARED_TFDS)
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402


def _load_mnist(split):
    images, labels = tfds.as_numpy(
        tfds.load("mnist", split=split, batch_size=-1, as_supervised=True)
    )
    return images.astype("float32") / 255.0, labels.astype("int64")


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST from the offline TFDS directory: 8,000 training and 2,000 test images."""
    x_train, y_train = _load_mnist("train[:8000]")
    x_test, y_test = _load_mnist("test[:2000]")
    return x_train, y_train, x_test, y_test


def make_mlp(hidden, name, num_classes=10, input_shape=(28, 28, 1), seed=0):
    """A small functional MLP returning logits; its last hidden layer is named `features`."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(input_shape)
    h = keras.layers.Flatten()(inputs)
    for i, units in enumerate(hidden):
        last = i == len(hidden) - 1
        h = keras.layers.Dense(units, activation="relu", name="features" if last else None)(h)
    outputs = keras.layers.Dense(num_classes, name="logits")(h)
    return keras.Model(inputs, outputs, name=name)


@pytest.fixture(scope="session")
def mnist_teacher(mnist):
    """An MLP teacher trained with labels on real MNIST (about 93% test accuracy)."""
    x_train, y_train, _, _ = mnist
    teacher = make_mlp([256, 128], "teacher")
    teacher.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    teacher.fit(x_train, y_train, epochs=3, batch_size=128, verbose=0)
    return teacher


@pytest.fixture
def student_factory():
    return make_mlp


@pytest.fixture
def np_rng():
    return np.random.default_rng(0)
