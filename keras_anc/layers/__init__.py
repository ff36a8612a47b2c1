"""Keras layers that regularize the discriminator."""

from keras_anc.layers.feature_noise import FeatureNoise

__all__ = ["FeatureNoise"]
