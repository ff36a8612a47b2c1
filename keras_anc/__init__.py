"""keras-anc: adversarial network compression for Keras 3.

Distil a large teacher into a small student without labels, by training the student
against a discriminator (Belagiannis, Farshad, Galasso, arXiv:1803.10750).

Everything loads on first use (PEP 562), so `import keras_anc` is instant. The
algorithm (distillers, discriminator, losses, callbacks, methods, models) and the
`teacher_store` need Keras alone, on any backend; `data`, `export` and
`teacher_outputs` need TensorFlow. The command line (`keras_anc.cli`) is never imported
by the library.
"""

import importlib

from keras_anc.version import __version__

_SUBMODULES = (
    "atomic",
    "callbacks",
    "data",
    "distillers",
    "distribution",
    "errors",
    "export",
    "layers",
    "losses",
    "methods",
    "model_files",
    "models",
    "teacher_outputs",
    "teacher_store",
)
_CLASSES = {
    "AdversarialDistiller": "keras_anc.distillers",
    "HintDistiller": "keras_anc.distillers",
    "MimicDistiller": "keras_anc.distillers",
    "MLPDiscriminator": "keras_anc.discriminator",
}


def __getattr__(name):
    if name in _SUBMODULES:
        value = importlib.import_module(f"keras_anc.{name}")
    elif name in _CLASSES:
        value = getattr(importlib.import_module(_CLASSES[name]), name)
    else:
        raise AttributeError(f"module 'keras_anc' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES) | set(_CLASSES))


__all__ = ["__version__", *_CLASSES, *_SUBMODULES]
