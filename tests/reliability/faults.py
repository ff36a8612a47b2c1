"""Runs `keras-anc` or a Python script with a kill injected at a chosen write.

The hooks live in this wrapper, which the tests start as a subprocess; the library has no
hook of its own. The fault is described by the JSON in `$KERAS_ANC_FAULT`:

    {"op": "replace", "match": "*/checkpoint/state.json", "count": 1, "when": "after"}

- `op="replace"`: the `count`-th `os.replace` or `os.rename` (1-based) whose destination
  path matches the glob `match`. `when="before"`: SIGKILL before the rename (the complete
  temporary file stays under its hidden name); `"during"`: the source file is cut to half
  its size, then SIGKILL (as a kill in the middle of writing it); `"after"`: SIGKILL just
  after the rename.
- `op="save_weights"`: the `count`-th `keras.Model.save_weights` whose path matches (Keras'
  `BackupAndRestore` writes in place). `"before"`: SIGKILL before writing; `"during"`: the
  file is written, cut to half, then SIGKILL.
- `op="exchange"`: the `count`-th folder swap of `keras_anc.export.saved_model` (the
  atomic replacement of a version); `"before"` or `"after"` it.

Usage:

    KERAS_ANC_FAULT='{...}' python faults.py cli distill --out runs/r ...
    KERAS_ANC_FAULT='{...}' python faults.py script path/to/script.py ARGS ...

A process killed by the hook exits by SIGKILL (return code -9); when the fault never
fires, the command runs to its end.
"""

import fnmatch
import json
import os
import runpy
import signal
import sys


def _kill():
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _cut(path):
    if os.path.isfile(path):
        os.truncate(path, os.path.getsize(path) // 2)


def install(fault):
    """Installs the hook that `fault` describes."""
    seen = {"n": 0}
    count, when, pattern = int(fault.get("count", 1)), fault.get("when", "before"), fault["match"]

    def fires(path):
        if not fnmatch.fnmatch(os.fspath(path), pattern):
            return False
        seen["n"] += 1
        return seen["n"] == count

    if fault["op"] == "replace":
        for name in ("replace", "rename"):
            original = getattr(os, name)

            def hooked(src, dst, *args, _original=original, **kwargs):
                if not fires(dst):
                    return _original(src, dst, *args, **kwargs)
                if when == "during":
                    _cut(src)
                if when in ("before", "during"):
                    _kill()
                _original(src, dst, *args, **kwargs)
                _kill()

            setattr(os, name, hooked)
    elif fault["op"] == "save_weights":
        import keras

        original = keras.Model.save_weights

        def save_weights(self, filepath, *args, **kwargs):
            if not fires(filepath):
                return original(self, filepath, *args, **kwargs)
            if when == "during":
                original(self, filepath, *args, **kwargs)
                _cut(filepath)
            _kill()

        keras.Model.save_weights = save_weights
    elif fault["op"] == "exchange":
        from keras_anc.export import saved_model

        original = saved_model._exchange

        def exchange(a, b):
            if not fires(b):
                return original(a, b)
            if when == "before":
                _kill()
            result = original(a, b)
            _kill()
            return result

        saved_model._exchange = exchange
    else:
        raise ValueError(f"Unknown fault op: {fault['op']!r}")


def main(argv):
    fault = os.environ.get("KERAS_ANC_FAULT")
    if fault:
        install(json.loads(fault))
    kind, rest = argv[0], argv[1:]
    if kind == "cli":
        from keras_anc.cli import main as cli

        return cli.main(rest)
    if kind == "script":
        sys.argv = rest
        runpy.run_path(rest[0], run_name="__main__")
        return 0
    raise ValueError(f"Expected 'cli' or 'script', got {kind!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
