"""Kills during exports: a servable version at every instant, no partial TFLite file."""

import pathlib

import numpy as np
import pytest

pytestmark = pytest.mark.slow

SCRIPT = pathlib.Path(__file__).with_name("export_run.py")


def _logits(version_dir):
    import tensorflow as tf

    serve = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    return float(serve(images=tf.zeros((1, 4)))["logits"].numpy()[0, 0])


def test_kills_during_export_never_leave_a_broken_or_missing_version(harness, tmp_path):
    from keras_anc import export

    base = tmp_path / "model"

    def exporter(marker, version, overwrite, fault=None):
        args = [SCRIPT, base, marker, version, "1" if overwrite else "0"]
        return harness.run("script", *args, fault=fault)

    harness.expect(exporter(1.0, "1", False), 0)
    # Replacing version 1, killed just before the swap: the old version is in place.
    swap = {"op": "exchange", "match": "*/model/1", "when": "before"}
    harness.expect(exporter(2.0, "1", True, fault=swap), harness.KILLED)
    assert export.existing_versions(base) == [1] and _logits(base / "1") == 1.0
    # Killed just after the swap, before the old version is deleted: the new one serves.
    harness.expect(exporter(2.0, "1", True, fault={**swap, "when": "after"}), harness.KILLED)
    assert export.existing_versions(base) == [1] and _logits(base / "1") == 2.0

    # A new version, killed just before it is renamed into place: nothing half-visible.
    publish = {"op": "replace", "match": "*/model/[0-9]*", "when": "before"}
    harness.expect(exporter(3.0, "none", False, fault=publish), harness.KILLED)
    assert export.existing_versions(base) == [1]
    # The next export skips the number the killed one had claimed, and loses nothing.
    harness.expect(exporter(3.0, "none", False), 0)
    assert export.existing_versions(base) == [1, 3] and _logits(base / "3") == 3.0
    assert _logits(base / "1") == 2.0
    visible = [p.name for p in base.iterdir() if not p.name.startswith(".")]
    assert sorted(visible) == ["1", "3"]  # leftovers of the kills are hidden


def test_a_kill_while_writing_a_tflite_file_leaves_no_partial_file(harness, tmp_path):
    target = tmp_path / "student.tflite"
    args = [SCRIPT, "unused", 5.0, "none", "0", target]
    fault = {"op": "replace", "match": "*/student.tflite", "when": "during"}
    harness.expect(harness.run("script", *args, fault=fault), harness.KILLED)
    assert not target.exists()
    harness.expect(harness.run("script", *args), 0)
    from keras_anc.export.tflite import make_interpreter

    interpreter = make_interpreter(target)
    interpreter.allocate_tensors()
    runner = interpreter.get_signature_runner("serving_default")
    out = runner(images=np.zeros((1, 4), "float32"))
    np.testing.assert_allclose(out["logits"], np.full((1, 3), 5.0))
