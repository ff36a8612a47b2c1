"""Exports a tiny model whose logits all equal MARKER, for the kill tests of exports.

Usage: python export_run.py BASE MARKER VERSION(none|N) OVERWRITE(0|1) [TFLITE_PATH]

With TFLITE_PATH, writes that TFLite file instead of a SavedModel version.
"""

import sys

import keras
import numpy as np

from keras_anc import export


def model(marker):
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name="student")
    m.layers[-1].kernel.assign(np.zeros((4, 3), "float32"))
    m.layers[-1].bias.assign(np.full(3, marker, "float32"))
    return m


def main(base, marker, version, overwrite, tflite=None):
    student = model(float(marker))
    if tflite:
        print(export.export_tflite(student, tflite, overwrite=overwrite))
        return
    version = None if version == "none" else int(version)
    print(export.export_student(student, base, version=version, overwrite=overwrite, warmup=False))


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], args[1], args[2], args[3] == "1", *args[4:])
