"""The distillers: `keras.Model`s whose `fit` trains a student from a frozen teacher.

- `AdversarialDistiller`: adversarial network compression (the paper's method).
- `MimicDistiller`: label-free logit regression (Ba & Caruana).
- `HintDistiller`: FitNets hints with a width regressor, on `keras.distillation`.
- `DiscriminatorTap`: one more discriminator of `AdversarialDistiller`, on a layer pair.
- `taps`: the feature taps, pooling and width projections they share.
"""

from keras_anc.distillers import taps
from keras_anc.distillers.adversarial import AdversarialDistiller
from keras_anc.distillers.discriminator_tap import DiscriminatorTap
from keras_anc.distillers.hint import HintDistiller
from keras_anc.distillers.mimic import MimicDistiller

__all__ = ["AdversarialDistiller", "DiscriminatorTap", "HintDistiller", "MimicDistiller", "taps"]
