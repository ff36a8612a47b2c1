"""keras-anc: adversarial network compression for Keras 3.

Distil a large teacher into a small student without labels, by training the student
against a discriminator (Belagiannis, Farshad, Galasso, arXiv:1803.10750).
"""

from keras_anc import (
    baselines,
    callbacks,
    data,
    export,
    layers,
    losses,
    models,
    report,
    teacher_cache,
)
from keras_anc.discriminator import MLPDiscriminator
from keras_anc.distiller import AdversarialDistiller
from keras_anc.version import __version__

__all__ = [
    "AdversarialDistiller",
    "MLPDiscriminator",
    "__version__",
    "baselines",
    "callbacks",
    "data",
    "export",
    "layers",
    "losses",
    "models",
    "report",
    "teacher_cache",
]
