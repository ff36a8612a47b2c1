"""Gaussian noise and dropout on the discriminator's input, with schedulable rates."""

import keras
from keras import ops

from keras_anc.distribution import replica_seed
from keras_anc.seed_state import SeedStateMixin


@keras.saving.register_keras_serializable(package="keras_anc")
class FeatureNoise(SeedStateMixin, keras.layers.Layer):
    """Additive Gaussian noise and dropout whose strengths callbacks may change.

    Like `keras.layers.GaussianNoise` followed by `keras.layers.Dropout`, but `stddev`
    and `dropout_rate` live in non-trainable `keras.Variable`s, so a callback that
    `assign`s them is seen by an already compiled (or XLA) training step. Active only
    when `training=True`; with both at 0 it is the identity.

    Under a `tf.distribute` strategy each replica draws different numbers (the replica
    id is folded into the seed, see `keras_anc.distribution.replica_seed`).

    `AdversarialDistiller` applies it to everything the discriminator sees during
    training (teacher and student features alike), one of the discriminator
    regularizers the ANC paper compares against its adversarial samples.

    Args:
        stddev: Standard deviation of the additive Gaussian noise.
        dropout_rate: Fraction of input units dropped (inverted dropout).
        seed: Optional integer seed.
        **kwargs: Passed to `keras.layers.Layer`.

    Example:

    ```python
    noise = keras_anc.layers.FeatureNoise(stddev=0.1, dropout_rate=0.2)
    y = noise(x, training=True)
    noise.stddev.assign(0.05)   # e.g. from a callback
    ```

    Reference:
        Belagiannis et al., "Adversarial Network Compression", arXiv:1803.10750;
        Sønderby et al., "Amortised MAP Inference for Image Super-resolution" (instance
        noise), arXiv:1610.04490.
    """

    def __init__(self, stddev=0.0, dropout_rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        _check_rate("stddev", stddev, upper=None)
        _check_rate("dropout_rate", dropout_rate, upper=1.0)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.stddev = keras.Variable(float(stddev), trainable=False, dtype="float32", name="stddev")
        self.dropout_rate = keras.Variable(
            float(dropout_rate), trainable=False, dtype="float32", name="dropout_rate"
        )
        self.supports_masking = True
        self.built = True

    def call(self, inputs, training=False):
        if not training:
            return inputs
        x = inputs
        dtype = x.dtype
        stddev = ops.cast(self.stddev, dtype)
        rate = ops.cast(self.dropout_rate, dtype)
        # Under a tf.distribute strategy each replica draws its own numbers.
        seed = replica_seed(self.seed_generator)
        noise = keras.random.normal(ops.shape(x), seed=seed, dtype=dtype)
        x = x + stddev * noise
        keep = keras.random.uniform(ops.shape(x), seed=seed, dtype=dtype)
        keep = ops.cast(keep >= rate, dtype)
        return x * keep / (1.0 - rate)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "stddev": float(ops.convert_to_numpy(self.stddev)),
                "dropout_rate": float(ops.convert_to_numpy(self.dropout_rate)),
                "seed": self.seed,
            }
        )
        return config


def _check_rate(name, value, upper):
    value = float(value)
    if value < 0 or (upper is not None and value >= upper):
        bound = f"[0, {upper})" if upper is not None else ">= 0"
        raise ValueError(f"`{name}` must be {bound}, got {value}.")
