"""The smallest MNIST student learns from a few thousand real MNIST images.

The images are the MNIST sample embedded in keras-anc, so this runs without TFDS data.
"""

import keras
import tensorflow as tf

from keras_anc import models
from keras_anc.data.sample import sample_arrays


def _mnist(split, count):
    arrays = sample_arrays()
    images, labels = arrays[f"x_{split}"][:count], arrays[f"y_{split}"][:count]
    dataset = tf.data.Dataset.from_tensor_slices((images, labels.astype("int64")))
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
    model.fit(_mnist("train", 5000), epochs=1, shuffle=False, verbose=0)
    _, accuracy = model.evaluate(_mnist("test", 1000), verbose=0)
    assert accuracy > 0.8  # chance is 0.1
