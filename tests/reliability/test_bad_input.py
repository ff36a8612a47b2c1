"""Bad input, table-driven: every nonsense number, shape or file gets one clear error.

Each API case must raise the named exception with a message that names the argument; each
CLI case must exit with status 2, print one line (`keras-anc <command>: error: ...`) and
create no run folder, before any work starts. The tables are counted in
docs/reliability.md.
"""

import math
import pathlib

import keras
import numpy as np
import pytest

import keras_anc
from keras_anc import atomic, export, methods, model_files
from keras_anc.callbacks import DiscriminatorGuard, NonFiniteGuard
from keras_anc.cli import main as cli
from keras_anc.teacher_store import TeacherStore


def _mlp(name, classes=10, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Dense(8, activation="relu", name="features")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(classes, name="logits")(h), name=name)


@pytest.fixture(scope="module")
def pair():
    return _mlp("teacher"), _mlp("student", seed=1)


def _anc(pair, **kwargs):
    return lambda: keras_anc.AdversarialDistiller(*pair, **kwargs)


def _files(tmp_path):
    """Broken model files: empty, truncated, garbage, missing."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    good = model_files.save_model(_mlp("m"), tmp_path / "good.keras")
    (tmp_path / "empty.keras").write_bytes(b"")
    (tmp_path / "truncated.keras").write_bytes(good.read_bytes()[:2000])
    (tmp_path / "garbage.keras").write_text("not a model at all")
    return tmp_path


# (id, make the call from (pair, folder), exception, text the message must hold)
API_CASES = [
    ("mimic_weight<0", lambda p, d: _anc(p, mimic_weight=-1.0), ValueError, "mimic_weight"),
    ("mimic_weight=nan", lambda p, d: _anc(p, mimic_weight=math.nan), ValueError, "mimic_weight"),
    (
        "adversarial_weight=inf",
        lambda p, d: _anc(p, adversarial_weight=math.inf),
        ValueError,
        "adversarial_weight",
    ),
    (
        "sample_rate>1",
        lambda p, d: _anc(p, adversarial_sample_rate=1.9),
        ValueError,
        "adversarial_sample_rate",
    ),
    (
        "dropout_rate=1",
        lambda p, d: _anc(p, input_dropout_rate=1.0),
        ValueError,
        "input_dropout_rate",
    ),
    (
        "noise=nan",
        lambda p, d: _anc(p, input_noise_stddev=math.nan),
        ValueError,
        "input_noise_stddev",
    ),
    (
        "label_weight<0",
        lambda p, d: _anc(p, label_loss_weight=-0.5),
        ValueError,
        "label_loss_weight",
    ),
    (
        "discriminator_steps=2.7",
        lambda p, d: _anc(p, discriminator_steps=2.7),
        ValueError,
        "discriminator_steps",
    ),
    (
        "same model twice",
        lambda p, d: lambda: keras_anc.AdversarialDistiller(p[1], p[1]),
        ValueError,
        "the same model object",
    ),
    (
        "unknown method option",
        lambda p, d: lambda: methods.make_method("anc", *p, temperature=2.0),
        ValueError,
        "temperature",
    ),
    (
        "guard max_value out of range",
        lambda p, d: lambda: DiscriminatorGuard(max_value=3.0),
        ValueError,
        "max_value",
    ),
    (
        "guard check_every=0",
        lambda p, d: lambda: NonFiniteGuard(check_every=0),
        ValueError,
        "check_every",
    ),
    (
        "export version=0",
        lambda p, d: lambda: export.export_student(p[1], d / "m", version=0),
        ValueError,
        "version",
    ),
    (
        "export version='v2'",
        lambda p, d: lambda: export.export_student(p[1], d / "m", version="v2"),
        ValueError,
        "version",
    ),
    (
        "export onto a file",
        lambda p, d: lambda: export.export_student(p[1], d / "good.keras"),
        NotADirectoryError,
        "is a file",
    ),
    (
        "load empty .keras",
        lambda p, d: lambda: model_files.load_model(d / "empty.keras"),
        ValueError,
        "is empty (0 bytes)",
    ),
    (
        "load truncated .keras",
        lambda p, d: lambda: model_files.load_model(d / "truncated.keras"),
        ValueError,
        "truncated zip archive",
    ),
    (
        "load garbage .keras",
        lambda p, d: lambda: model_files.load_model(d / "garbage.keras"),
        ValueError,
        "not a zip archive",
    ),
    (
        "load missing .keras",
        lambda p, d: lambda: model_files.load_model(d / "missing.keras"),
        FileNotFoundError,
        "does not exist",
    ),
    (
        "save NaN weights",
        lambda p, d: lambda: model_files.save_model(_nan_model(), d / "nan.keras"),
        ValueError,
        "NaN or infinite",
    ),
    (
        "store key not a dict",
        lambda p, d: lambda: TeacherStore(d).path_for(["mnist"]),
        ValueError,
        "key_fields",
    ),
    (
        "atomic write, no folder",
        lambda p, d: lambda: atomic.atomic_write_text(d / "no" / "x.txt", ""),
        FileNotFoundError,
        "does not exist",
    ),
]


def _nan_model():
    model = _mlp("nan")
    model.get_layer("logits").bias.assign(np.full(10, np.nan, "float32"))
    return model


@pytest.mark.parametrize(
    "make, error, text", [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES]
)
def test_api_bad_input(pair, tmp_path, make, error, text):
    call = make(pair, _files(tmp_path))
    with pytest.raises(error) as info:
        call()
    assert text in str(info.value)
    assert not (tmp_path / "nan.keras").exists()


def test_label_free_fit_ignores_out_of_range_labels(pair):
    # The label term is skipped at `label_loss_weight=0`: labels are never read.
    distiller = keras_anc.AdversarialDistiller(*pair)
    distiller.compile(student_optimizer="adam", discriminator_optimizer="adam")
    x = np.random.default_rng(0).random((32, 28, 28, 1), dtype="float32")
    history = distiller.fit(x, np.full(32, 99), batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


# (id, argv after the command; "{d}" is the folder with broken files, text in the message)
CLI_CASES = [
    ("epochs -1", ["distill", "--epochs", "-1"], "'epochs' must be an integer >= 1"),
    ("epochs 0", ["distill", "--epochs", "0"], "'epochs' must be an integer >= 1"),
    ("learning-rate nan", ["distill", "--learning-rate", "nan"], "'learning_rate' must be"),
    ("learning-rate -1", ["train-teacher", "--learning-rate", "-1"], "'learning_rate' must"),
    ("mimic-weight -1", ["distill", "--mimic-weight", "-1"], "'mimic_weight' must be"),
    (
        "steps-per-execution 0",
        ["distill", "--steps-per-execution", "0"],
        "'steps_per_execution' must be",
    ),
    ("batch-size 0", ["distill", "--batch-size", "0"], "'batch_size' must be"),
    ("sample rate 2", ["distill", "--adversarial-sample-rate", "2"], "must be in [0, 1]"),
    ("dropout 1", ["distill", "--input-dropout-rate", "1"], "must be in [0, 1)"),
    ("discriminator-units 0", ["distill", "--discriminator-units", "64,0"], "each >= 1"),
    ("discriminator-steps 2.7", ["distill", "--discriminator-steps", "2.7"], "expects int"),
    ("seed -1", ["distill", "--seed", "-1"], "'seed' must be"),
    ("epochs: null", ["distill", "--config", "{d}/null.yaml"], "'epochs' needs a value"),
    ("epochs: -3 in TOML", ["distill", "--config", "{d}/neg.toml"], "'epochs' must be"),
    ("option the method lacks", ["distill", "--method", "labels", "--mimic-weight", "1"], "mimic"),
    ("unknown key", ["distill", "--config", "{d}/typo.yaml"], "did you mean 'epochs'"),
    ("teacher empty", ["distill", "--teacher", "{d}/empty.keras"], "is empty (0 bytes)"),
    ("teacher garbage", ["distill", "--teacher", "{d}/garbage.keras"], "not a zip archive"),
    ("teacher missing", ["distill", "--teacher", "{d}/missing.keras"], "does not exist"),
    ("evaluate truncated", ["evaluate", "--model", "{d}/truncated.keras"], "truncated zip"),
    ("export empty", ["export", "--model", "{d}/empty.keras"], "is empty (0 bytes)"),
    ("export version 0", ["export", "--model", "{d}/good.keras", "--version", "0"], "'version'"),
    ("resume without out", ["distill", "--resume"], "--resume needs --out"),
]


@pytest.fixture
def broken(tmp_path):
    folder = _files(tmp_path / "files")
    (folder / "null.yaml").write_text("epochs: null\n")
    (folder / "neg.toml").write_text("epochs = -3\n")
    (folder / "typo.yaml").write_text("epoch: 3\n")
    return folder


@pytest.mark.parametrize("argv, text", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_is_one_line_and_exit_2_before_any_work(
    broken, tmp_path, monkeypatch, capsys, argv, text
):
    monkeypatch.chdir(tmp_path)
    argv = [a.replace("{d}", str(broken)) for a in argv]
    if argv[0] == "distill" and "--resume" not in argv:
        argv += ["--out", str(tmp_path / "run")]
    status = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert err.startswith(f"keras-anc {argv[0]}: error: ") and "\n" not in err, err
    assert text in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_cli_evaluate_of_a_5_class_model_on_10_class_data(tmp_path, capsys):
    path = model_files.save_model(_mlp("five", classes=5), tmp_path / "five.keras")
    status = cli.main(["evaluate", "--model", str(path), "--test-examples", "256"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "\n" not in err
    assert "outputs 5 classes but the data set's labels go up to 9" in err


@pytest.mark.slow
def test_cli_distill_with_nan_data_stops_and_saves_nothing(tmp_path, capsys, monkeypatch):
    from keras_anc.cli.commands import _common

    stream = _common.train_stream

    def with_nan_pixels(config, labels):
        ds = stream(config, labels)

        def poison(x, *y):  # one NaN pixel in every 10th image of every batch
            mask = np.zeros((1, 28, 28, 1), "float32")
            mask[0, 5, 5, 0] = np.nan
            rows = keras.ops.expand_dims(keras.ops.arange(keras.ops.shape(x)[0]) % 10 == 0, 1)
            rows = keras.ops.reshape(rows, (-1, 1, 1, 1))
            x = keras.ops.where(rows, x + mask, x)
            return (x, *y) if y else x

        return ds.map(poison)

    monkeypatch.setattr(_common, "train_stream", with_nan_pixels)
    common = [
        "distill",
        "--train-examples",
        "256",
        "--test-examples",
        "128",
        "--epochs",
        "2",
        "--teacher-epochs",
        "1",
        "--batch-size",
        "64",
        "--quiet",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    # The student's training, with a clean teacher from a file.
    teacher = model_files.save_model(_mlp("teacher"), tmp_path / "teacher.keras")
    out = tmp_path / "run"
    status = cli.main([*common, "--teacher", str(teacher), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "\n" not in err, err
    assert "NonFiniteGuard stopped training at epoch 1, batch 1" in err
    assert "No model or results were written" in err
    assert not (out / "student.keras").exists() and not (out / "results.json").exists()

    # The teacher's training, when the run trains its teacher on the same data.
    out = tmp_path / "run2"
    status = cli.main([*common, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "\n" not in err, err
    assert "Training the teacher: NonFiniteGuard stopped training at epoch 1, batch 1" in err
    assert not (out / "student.keras").exists() and not (out / "results.json").exists()
    assert not list(pathlib.Path(tmp_path / "cache").rglob("*.keras"))  # no NaN teacher stored
