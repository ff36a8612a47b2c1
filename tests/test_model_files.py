"""Loading and saving `.keras` files: one clear line for every broken file, no NaN saved."""

import zipfile

import keras
import numpy as np
import pytest

from keras_anc import model_files


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="logits")], name="student"
    )


@pytest.fixture
def saved(tmp_path):
    return model_files.save_model(_model(), tmp_path / "student.keras")


def test_round_trip(saved):
    x = np.ones((2, 4), "float32")
    loaded = model_files.load_model(saved, "student")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), _model().predict(x, verbose=0))


def _truncated(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])


def _garbage(saved):
    saved.write_text("this is not a model")


def _empty(saved):
    saved.write_bytes(b"")


def _flipped_weights(saved):
    """A complete archive with damaged bytes inside the weights member (checksum mismatch)."""
    with zipfile.ZipFile(saved) as archive:
        info = archive.getinfo("model.weights.h5")
    data = bytearray(saved.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 100, start + info.compress_size - 100, 13):
        data[i] ^= 0xFF
    saved.write_bytes(bytes(data))


def _not_keras_zip(saved):
    with zipfile.ZipFile(saved, "w") as archive:
        archive.writestr("hello.txt", "hi")


@pytest.mark.parametrize(
    "damage, message",
    [
        (_empty, "is empty \\(0 bytes\\)"),
        (_truncated, "truncated zip archive"),
        (_garbage, "not a zip archive"),
        (_not_keras_zip, "without Keras' metadata.json, config.json"),
        (_flipped_weights, "member model.weights.h5 fails its checksum"),
    ],
)
def test_broken_files_are_reported_as_such_not_as_missing(saved, damage, message):
    damage(saved)
    with pytest.raises(ValueError, match=message) as info:
        model_files.load_model(saved, "student")
    text = str(info.value)
    assert "File not found" not in text
    assert text.startswith(f"Cannot load the student from '{saved}'")
    assert "\n" not in text and len(text) < 700


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="teacher.*does not exist"):
        model_files.load_model(tmp_path / "nope.keras", "teacher")
    with pytest.raises(IsADirectoryError, match="is a folder, not a `.keras` file"):
        model_files.load_model(tmp_path, "teacher")


def test_a_missing_custom_layer_is_named_with_the_fix(tmp_path):
    @keras.saving.register_keras_serializable(package="mypkg")
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    inputs = keras.Input((4,))
    path = tmp_path / "custom.keras"
    keras.Model(inputs, keras.layers.Dense(2)(Doubler()(inputs))).save(path)
    # As in a process that never imported the module defining the layer.
    del keras.saving.get_custom_objects()["mypkg>Doubler"]
    with pytest.raises(ValueError) as info:
        model_files.load_model(path, "teacher")
    text = str(info.value)
    assert "custom class `Doubler` (registered as 'mypkg>Doubler')" in text
    assert "register_keras_serializable" in text and "custom_objects" in text
    assert len(text) < 500


def test_save_refuses_non_finite_weights_and_writes_nothing(tmp_path):
    model = _model()
    kernel = model.get_layer("logits").kernel
    kernel.assign(np.where(np.eye(4, 3) > 0, np.nan, 0.0).astype("float32"))
    target = tmp_path / "student.keras"
    with pytest.raises(ValueError, match="weights .*logits/kernel hold NaN or infinite"):
        model_files.save_model(model, target)
    assert list(tmp_path.iterdir()) == []
    model_files.save_model(model, target, allow_non_finite=True)
    assert target.is_file()


def test_non_finite_weights_names_each_variable():
    model = _model()
    assert model_files.non_finite_weights(model.weights) == []
    model.get_layer("logits").bias.assign([0.0, np.inf, 0.0])
    assert model_files.non_finite_weights(model.weights) == ["student/logits/bias"]
