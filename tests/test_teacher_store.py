"""The on-disk store of trained teachers: keys, round trip, corrupt files, atomic writes."""

import keras
import numpy as np
import pytest

from keras_anc.teacher_store import TeacherStore, default_root

KEY = {"dataset": "mnist", "teacher_model": "mlp", "epochs": 2, "seed": 0, "augment": None}


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,))
    outputs = keras.layers.Dense(3, name="logits")(keras.layers.Dense(8)(inputs))
    return keras.Model(inputs, outputs, name="teacher")


def _files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_path_depends_on_every_key_field_and_not_on_their_order(tmp_path):
    store = TeacherStore(tmp_path)
    path = store.path_for(KEY, prefix="mnist-mlp")
    assert path.parent == tmp_path / "teachers"
    assert path.name.startswith("mnist-mlp-") and path.suffix == ".keras"
    assert store.path_for(dict(reversed(list(KEY.items()))), prefix="mnist-mlp") == path
    for field, other in (("epochs", 3), ("seed", 1), ("augment", False)):
        assert store.path_for({**KEY, field: other}, prefix="mnist-mlp") != path, field
    assert store.path_for(KEY, prefix="../mnist/3.0").parent == tmp_path / "teachers"


def test_default_root_reads_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_ANC_CACHE", str(tmp_path / "cache"))
    assert default_root() == tmp_path / "cache"
    assert TeacherStore().directory == tmp_path / "cache" / "teachers"
    monkeypatch.delenv("KERAS_ANC_CACHE")
    assert default_root().parts[-2:] == (".cache", "keras_anc")


def test_key_fields_must_be_json(tmp_path):
    store = TeacherStore(tmp_path)
    with pytest.raises(ValueError, match="key_fields"):
        store.path_for(["mnist"])
    with pytest.raises(ValueError, match="JSON values"):
        store.path_for({"optimizer": object()})


def test_round_trip_gives_the_same_predictions(tmp_path):
    store = TeacherStore(tmp_path)
    assert store.load(KEY) is None
    model = _model()
    path = store.save(model, KEY)
    assert path == store.path_for(KEY) and path.is_file()
    assert _files(path.parent) == [path.name]  # no temporary file left behind
    loaded = store.load(KEY)
    x = np.random.default_rng(0).random((4, 6), dtype="float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert store.load({**KEY, "seed": 1}) is None


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated zip"])
def test_a_corrupt_file_is_deleted_and_the_teacher_rebuilt(tmp_path, content):
    store = TeacherStore(tmp_path)
    path = store.path_for(KEY)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.warns(UserWarning, match="cannot be loaded.*trained again"):
        assert store.load(KEY) is None
    assert not path.exists()
    store.save(_model(), KEY)  # the caller retrains and stores again
    assert store.load(KEY) is not None


def test_save_is_atomic(tmp_path, monkeypatch):
    store = TeacherStore(tmp_path)
    model = _model()
    written = []

    def save_then_fail(filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"PK\x03\x04 half a model")
        written.append(filepath)
        raise OSError("disk full")

    monkeypatch.setattr(model, "save", save_then_fail)
    with pytest.raises(OSError, match="disk full"):
        store.save(model, KEY)
    final = store.path_for(KEY)
    assert written and str(written[0]) != str(final)
    assert str(written[0]).endswith(".keras")
    assert not final.exists()
    assert _files(final.parent) == []  # the partial temporary file is removed too


def test_saving_replaces_an_existing_teacher(tmp_path):
    store = TeacherStore(tmp_path)
    store.save(_model(seed=0), KEY)
    second = _model(seed=1)
    store.save(second, KEY)
    x = np.ones((2, 6), "float32")
    np.testing.assert_allclose(store.load(KEY).predict(x, verbose=0), second.predict(x, verbose=0))
    assert len(_files(store.directory)) == 1
