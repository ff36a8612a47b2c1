"""`keras-anc export`: errors in CLI flags, the TFLite files' place."""

import pathlib

import keras

from keras_anc.cli import main as cli
from keras_anc.cli.commands import export


def test_an_existing_version_is_refused_in_cli_flags(tmp_path, capsys):
    inputs = keras.Input((4,))
    model_path = tmp_path / "student.keras"
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(model_path)
    base = tmp_path / "models" / "student"
    (base / "1").mkdir(parents=True)
    argv = ["export", "--model", str(model_path), "--out", str(base), "--version", "1"]
    status = cli.main([*argv, "--no-tflite"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.strip() == (
        f"keras-anc export: error: Version 1 already exists at {base / '1'}. Leave out "
        "--version to export the next free version, pass another --version, or add "
        "--overwrite to replace it."
    )
    assert list((base / "1").iterdir()) == []


def test_the_library_version_conflict_is_said_in_cli_flags():
    error = FileExistsError(
        "Version directory 'm/3' was created by someone else during the export. Export again "
        "with `version=None` or `overwrite=True`."
    )
    message = str(export._version_error(error))
    assert message.startswith("Version directory 'm/3' was created by someone else")
    assert "--overwrite" in message and "overwrite=True" not in message


def test_tflite_files_go_beside_the_serving_folder():
    assert export.tflite_dir("models/student") == pathlib.Path("models/student_tflite")
