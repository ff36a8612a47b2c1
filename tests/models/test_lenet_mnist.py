"""The smallest MNIST student learns from a few thousand real MNIST images."""

import keras
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_anc import models


def _mnist(split):
    dataset = tfds.load("mnist", split=split, as_supervised=True)
    return dataset.map(lambda x, y: (tf.cast(x, "float32") / 255.0, y)).batch(32)


def test_lenet_tiny_learns_mnist_in_one_epoch():
    keras.utils.set_random_seed(0)
    model = models.lenet_tiny()
    assert model.count_params() * 10 <= models.lenet5().count_params()
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(_mnist("train[:5000]"), epochs=1, shuffle=False, verbose=0)
    _, accuracy = model.evaluate(_mnist("test[:1000]"), verbose=0)
    assert accuracy > 0.8  # chance is 0.1
