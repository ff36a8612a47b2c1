"""Tests for `keras_anc.export` as a package: its public API and its lazy TensorFlow import."""

import os
import pathlib
import subprocess
import sys
import textwrap

import keras_anc
from keras_anc import export

PUBLIC_API = [
    "INPUT_NAME",
    "SIGNATURE_KEY",
    "TFLITE_QUANTIZATIONS",
    "WARMUP_DIRNAME",
    "WARMUP_FILENAME",
    "ServingSignature",
    "evaluate_tflite",
    "existing_versions",
    "export_report",
    "export_student",
    "export_tflite",
]


def test_public_api():
    assert sorted(export.__all__) == sorted(PUBLIC_API)
    for name in PUBLIC_API:
        assert getattr(export, name) is not None, name
    assert (export.SIGNATURE_KEY, export.INPUT_NAME) == ("serving_default", "images")
    assert (export.WARMUP_DIRNAME, export.WARMUP_FILENAME) == (
        "assets.extra",
        "tf_serving_warmup_requests",
    )


def test_imports_without_tensorflow_and_says_what_to_install(tmp_path):
    # Keras is imported and a model built first (its TensorFlow backend loads TensorFlow); then
    # TensorFlow is made unimportable, as on an install without it, and `keras_anc.export` is
    # imported from scratch. The parent package is bypassed: only this subpackage's imports count.
    script = textwrap.dedent(
        """
        import sys, types
        import keras
        import numpy as np

        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
        for name in [m for m in sys.modules if m == "tensorflow" or m.startswith("tensorflow.")]:
            sys.modules[name] = None
        sys.modules["ai_edge_litert"] = None  # The other TFLite runtime: absent too.
        package = types.ModuleType("keras_anc")
        package.__path__ = [sys.argv[1]]
        sys.modules["keras_anc"] = package

        import keras_anc.export as export

        signature = export.ServingSignature(class_names=["a", "b"], input_dtype="uint8")
        assert signature.input_dtype == "uint8"
        try:
            export.export_student(model, sys.argv[2])
        except Exception as e:
            print(type(e).__name__, e)
        try:
            export.evaluate_tflite(sys.argv[2] + ".tflite", (np.zeros((1, 2)), np.zeros(1)))
        except Exception as e:
            print(type(e).__name__, e)
        """
    )
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    package_dir = pathlib.Path(keras_anc.__file__).parent
    result = subprocess.run(
        [sys.executable, "-c", script, str(package_dir), str(tmp_path / "m")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2, result.stdout
    for line in lines:
        assert line.startswith("UnsupportedBackendError"), line
        assert "pip install tensorflow" in line
    assert not (tmp_path / "m").exists()
