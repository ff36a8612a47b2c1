"""keras-anc: adversarial network compression for Keras 3.

Distil a large teacher into a small student without labels, by training the student
against a discriminator (Belagiannis, Farshad, Galasso, arXiv:1803.10750).

Everything loads on first use (PEP 562), so `import keras_anc` is instant. The
algorithm (distillers, discriminator, losses, callbacks, methods, models) and the
`teacher_store` need Keras alone, on any backend; `data`, `export` and
`teacher_outputs` need TensorFlow. The command line (`keras_anc.cli`) is never imported
by the library.

Models saved with the package's classes load with plain `keras.saving.load_model` after
`import keras_anc`: the modules that register those classes with Keras (`keras_anc>Name`) are
imported as soon as Keras is, without `import keras_anc` importing Keras itself.
"""

import importlib
import sys
import threading
import warnings

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
    "recipe",
    "teacher_outputs",
    "teacher_store",
)
_CLASSES = {
    "AdversarialDistiller": "keras_anc.distillers",
    "DiscriminatorTap": "keras_anc.distillers",
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


# Keras finds a saved `keras_anc>Name` only in its registry of custom objects, which the
# `@keras.saving.register_keras_serializable(package="keras_anc")` decorators fill when their
# modules are imported. Importing Keras here would cost seconds (it loads its backend) and slow
# down the command line's `--help`, so these modules are imported when Keras is: at once if it
# already is, else by `_KerasImportHook`. A module that registers a class must be listed here
# (or be imported by one that is); tests/test_init.py checks that every one is.
_SERIALIZABLE_MODULES = (
    "keras_anc.discriminator",
    "keras_anc.layers",
    "keras_anc.distillers",
    "keras_anc.models",
)


def _register_keras_classes():
    """Imports `_SERIALIZABLE_MODULES`, so their classes are in Keras' custom-object registry."""
    _hook.pending = False
    if _hook in sys.meta_path:
        sys.meta_path.remove(_hook)
    for name in _SERIALIZABLE_MODULES:
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - never break the user's `import keras`
            warnings.warn(
                f"keras_anc could not import `{name}` to register its classes with Keras "
                f"({type(e).__name__}: {e}), so `keras.saving.load_model` will not find them. "
                f"Import `{name}` yourself to see the full error.",
                stacklevel=2,
            )


class _ChainedLoader:
    """Runs a module's real loader through `_KerasImportHook.execute`."""

    def __init__(self, loader, hook, is_keras):
        self._loader, self._hook, self._is_keras = loader, hook, is_keras

    def __getattr__(self, name):
        # Everything else (`get_code`, `get_source`, `is_package`, ... used by `python -m`,
        # `inspect` and `pkgutil`) is the real loader's.
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self._loader  # the module sees its own
        self._hook.execute(self._loader, module, self._is_keras)


class _KerasImportHook:
    """Registers the package's classes once `keras` has been imported, then uninstalls itself.

    When a module of this package imports Keras first, that module (and the ones importing it)
    are still half-initialized, and importing the registering modules then could fail on a
    circular import; so the registration waits until the outermost `keras_anc.*` import of
    that thread is done. Only `keras` and `keras_anc.*` imports pass through the hook.
    """

    def __init__(self):
        self.pending = False
        self._local = threading.local()  # .depth: `keras_anc.*` imports running in this thread

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras" and not fullname.startswith("keras_anc."):
            return None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _ChainedLoader(spec.loader, self, is_keras=fullname == "keras")
        return spec

    def execute(self, loader, module, is_keras):
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth if is_keras else depth + 1
        try:
            loader.exec_module(module)
        finally:
            self._local.depth = depth
        self.pending = self.pending or is_keras
        if self.pending and depth == 0:
            _register_keras_classes()


_hook = _KerasImportHook()
if "keras" in sys.modules:
    _register_keras_classes()
else:
    sys.meta_path.insert(0, _hook)
