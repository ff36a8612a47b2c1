"""The `keras-anc` command line: parsing, help, errors, and every command end to end."""

import json
import logging
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from keras_anc.cli import config as config_lib
from keras_anc.cli import main as cli
from keras_anc.recipe import DEFAULT_RECIPE


def _run(capsys, *argv):
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.slow
def test_default_distill_and_rerun_from_saved_config(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    cache = tmp_path / "cache"
    status, stdout, _ = _run(
        capsys,
        "distill",
        "--epochs",
        "3",
        "--teacher-epochs",
        "2",
        "--quiet",
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
    )
    assert status == 0
    for name in ("student.keras", "results.json", "summary.md", "curves.png", "config.yaml"):
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    student, teacher = results["student"], results["teacher"]
    assert results["method"] == "anc" and results["labels_used"] is False
    assert teacher["accuracy"] > 0.85
    assert student["accuracy"] > student["accuracy_before"] + 0.4
    assert results["compression_ratio"] == pytest.approx(
        teacher["params"] / student["params"], 0.01
    )
    assert "student, anc" in stdout and "without labels" in stdout
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    stored = list((cache / "teachers").glob("*.keras"))
    assert [str(p) for p in stored] == [results["teacher_path"]], "the teacher was stored"

    # The saved config names no output folder; a re-run never overwrites the finished run.
    assert "out" not in yaml.safe_load((out / "config.yaml").read_text())
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    config_file = str(out / "config.yaml")
    status, _, err = _run(capsys, "distill", "--config", config_file, "--out", str(out))
    assert status == 2 and "holds a finished run" in err and len(err.strip().splitlines()) == 1
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before

    # Re-run exactly from the saved config: a new folder; the stored teacher is reused.
    monkeypatch.chdir(tmp_path)
    status, stdout, _ = _run(capsys, "distill", "--config", str(out / "config.yaml"))
    assert status == 0
    [again_dir] = (tmp_path / "runs").iterdir()
    assert again_dir.name.startswith("distill-mnist_sample-")
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    again = json.loads((again_dir / "results.json").read_text())
    assert again["teacher"]["accuracy"] == teacher["accuracy"]
    assert again["teacher_path"] == results["teacher_path"]
    # Training the teacher in the first run did not change what the method drew.
    assert again["student"]["accuracy"] == student["accuracy"]
    assert again["history"]["loss"] == results["history"]["loss"]


@pytest.mark.slow
@pytest.mark.tfds("mnist")
def test_teacher_distill_evaluate_export_on_tfds_mnist(tmp_path, capsys):
    common = ["--dataset", "mnist", "--train-examples", "3000", "--test-examples", "500"]
    status, stdout, _ = _run(
        capsys,
        "train-teacher",
        *common,
        "--model",
        "mlp",
        "--epochs",
        "2",
        "--quiet",
        "--out",
        str(tmp_path / "teacher"),
    )
    assert status == 0, stdout
    teacher_path = tmp_path / "teacher" / "teacher.keras"
    assert keras.saving.load_model(teacher_path).name == "teacher"

    status, _, err = _run(
        capsys,
        "distill",
        *common,
        "--teacher",
        str(teacher_path),
        "--student-model",
        "lenet_tiny",
        "--method",
        "logit_regression",
        "--epochs",
        "6",
        "--quiet",
        "--out",
        str(tmp_path / "student"),
    )
    assert status == 0, err
    results = json.loads((tmp_path / "student" / "results.json").read_text())
    assert results["method"] == "logit_regression"
    assert results["student"]["accuracy"] > 0.5

    status, stdout, _ = _run(
        capsys,
        "evaluate",
        "--model",
        str(tmp_path / "student" / "student.keras"),
        "--dataset",
        "mnist",
        "--test-examples",
        "500",
    )
    assert status == 0
    evaluated = json.loads(stdout)
    assert evaluated["accuracy"] == pytest.approx(results["student"]["accuracy"], abs=1e-6)

    serving = tmp_path / "serving" / "student"
    status, stdout, err = _run(
        capsys,
        "export",
        "--model",
        str(tmp_path / "student"),
        "--out",
        str(serving),
        "--test-examples",
        "500",
    )
    assert status == 0, err
    assert (serving / "1" / "saved_model.pb").is_file()
    # The TFLite files go to the documented sibling folder.
    tflite_files = sorted(p.name for p in (tmp_path / "serving" / "student_tflite").iterdir())
    assert tflite_files == ["student_dynamic_range.tflite", "student_float32.tflite"]
    deployment = json.loads((tmp_path / "student" / "results.json").read_text())["deployment"]
    assert deployment["saved_model"]["accuracy"] == pytest.approx(
        results["student"]["accuracy"], abs=0.01
    )
    assert (
        deployment["tflite_dynamic_range"]["size_bytes"]
        < deployment["tflite_float32"]["size_bytes"]
    )
    # Clients send raw uint8 images: the signature says so.
    signature = tf.saved_model.load(str(serving / "1")).signatures["serving_default"]
    assert signature.structured_input_signature[1]["images"].dtype == tf.uint8
    # A second export never clobbers version 1.
    status, _, err = _run(
        capsys,
        "export",
        "--model",
        str(tmp_path / "student"),
        "--out",
        str(serving),
        "--version",
        "1",
        "--no-tflite",
    )
    assert status == 2 and "exists" in err
    assert "--version" in err and "--overwrite" in err and "overwrite=True" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["distill", "--dataset", "imagenet_toy"], "Unknown dataset name 'imagenet_toy'"),
        (["distill", "--student-model", "resnet9000"], "--student-model: Unknown model name"),
        (["distill", "--teacher-model", "lenet55"], "Did you mean 'lenet5'?"),
        (["distill", "--dataset", "mnsit"], "did you mean 'mnist'?"),
        (["train-teacher", "--model", "resnet9000"], "--model: Unknown model name"),
        (["distill", "--teacher", "missing/teacher.keras"], "does not exist"),
        (["distill", "--method", "magic"], "must be one of labels, hinton_kd"),
        (["distill", "--epochs", "many"], "expects int"),
        (["distill", "--mimic-loss", "huber"], "must be one of l2, l1"),
        (["distill", "--discriminator-units", "wide"], "expects a list of integers"),
        (
            ["distill", "--method", "hinton_kd", "--adversarial-sample-rate", "0.2"],
            "Method 'hinton_kd' does not take adversarial_sample_rate",
        ),
        (["evaluate"], "needs --model"),
    ],
)
def test_user_errors_are_one_line_without_traceback(argv, message, capsys, tmp_path):
    status, _, err = (
        _run(capsys, *argv, "--out", str(tmp_path / "o"))
        if argv[0] != "evaluate"
        else _run(capsys, *argv)
    )
    assert status == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists(), "a run folder was created before the error"


def test_unknown_config_key_is_named(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("dataset: mnist_sample\nepoch: 3\n")
    status, _, err = _run(capsys, "distill", "--config", str(config))
    assert status == 2
    assert "'epoch' (did you mean 'epochs'?)" in err


def test_unwritable_output_and_bad_teacher_file(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    status, _, err = _run(capsys, "distill", "--out", str(blocker / "sub"))
    assert status == 2 and "Cannot write to output directory" in err

    broken = tmp_path / "teacher.keras"
    broken.write_bytes(b"not a model")
    status, _, err = _run(capsys, "distill", "--teacher", str(broken), "--out", str(tmp_path / "o"))
    assert status == 2 and "Cannot load the teacher" in err


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("train-teacher", "distill", "evaluate", "export"):
        assert command in out


def test_distill_help_lists_the_methods_and_their_options(capsys):
    from keras_anc import methods

    with pytest.raises(SystemExit):
        cli.main(["distill", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
    assert "One of: " + ", ".join(methods.available_methods()) + ". (default: anc)" in out
    for name in methods.OPTIONS:
        assert "--" + name.replace("_", "-") in out, name
    assert "(default: None)" not in out


def test_flags_are_typed(capsys, tmp_path):
    parser = cli.build_parser()
    args = parser.parse_args(
        ["distill", "--epochs", "4", "--jit-compile", "--discriminator-units", "32,16"]
    )
    config = cli.configuration(args)
    assert config["epochs"] == 4 and config["jit_compile"] is True
    assert config["discriminator_units"] == (32, 16)
    assert np.isclose(config["learning_rate"], DEFAULT_RECIPE.learning_rate)
    assert config["optimizer"] == DEFAULT_RECIPE.optimizer
    assert config["temperature"] is None  # unset: the method's default
    assert isinstance(pathlib.Path(config["dataset"]), pathlib.Path)


def _python(code, **env):
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_parsing_and_help_load_no_keras():
    out = _python(
        "import sys\n"
        "from keras_anc.cli import main\n"
        "main.build_parser().format_help()\n"
        "args = main.build_parser().parse_args(['distill', '--method', 'hinton_kd'])\n"
        "main.configuration(args)\n"
        "heavy = ('keras', 'tensorflow', 'matplotlib', 'keras_anc.cli.commands.distill')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    assert out.strip() == "[]"


def test_the_library_never_imports_the_command_line():
    out = _python(
        "import sys\n"
        "import keras_anc\n"
        "for name in keras_anc.__all__:\n"
        "    getattr(keras_anc, name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('keras_anc.cli')))\n"
        "print('keras' in sys.modules)\n"
    )
    assert out.split() == ["[]", "True"]  # the library itself was loaded


def _levels():
    import absl.logging

    return logging.getLogger("tensorflow").level, absl.logging.get_absl_logger().level


@pytest.mark.parametrize("verbose", [False, True])
def test_library_logs_are_hidden_while_a_command_runs_unless_verbose(
    verbose, monkeypatch, capsys, tmp_path
):
    from keras_anc.cli.commands import distill

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    before = _levels()
    seen = {}

    def fake_run(config):
        seen["levels"] = _levels()
        seen["env"] = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
        raise config_lib.ConfigError("stopped")

    monkeypatch.setattr(distill, "run", fake_run)
    argv = ["distill", "--out", str(tmp_path / "o")] + (["--verbose"] if verbose else [])
    status, _, err = _run(capsys, *argv)
    assert status == 2 and "stopped" in err
    if verbose:
        assert seen == {"levels": before, "env": None}
    else:
        # 3, not 2: 2 leaves TensorFlow's error lines ("failed call to cuInit" without a GPU).
        assert seen == {"levels": (logging.ERROR, logging.ERROR), "env": "3"}
    assert _levels() == before  # restored for the caller


def test_tensorflow_load_time_lines_are_hidden_and_the_rest_passed_on(tmp_path):
    # A stand-in `tensorflow` that writes to file descriptor 2 as TensorFlow does on import.
    fake = tmp_path / "tensorflow"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "import os\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are "
        "written to STDERR\\n')\n"
        "os.write(2, b'I0000 00:00:1795732921.966882   15272 cudart_stub.cc:31] Could not "
        "find cuda drivers on your machine, GPU will not be used.\\n')\n"
        "os.write(2, b'E0000 00:00:1795732926.885280   15272 cuda_platform.cc:52] failed call "
        "to cuInit\\n')\n"
        "os.write(2, b'To enable the following instructions: AVX2 FMA, in other operations, "
        "rebuild TensorFlow.\\n')\n"
        "os.write(2, b'something the user must see\\n')\n"
    )
    code = "from keras_anc.cli import main\nmain._import_tensorflow_quietly()\nprint('done')\n"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert result.stdout == "done\n", result.stderr
    assert result.stderr == "something the user must see\n"


def _cli(*argv, cwd, **env):
    """Runs `keras-anc` in a fresh process, without the tests' TF_CPP_MIN_LOG_LEVEL."""
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-m", "keras_anc.cli.main", *argv],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env={**environ, **env},
    )


@pytest.fixture(scope="module")
def small_student_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("student") / "student.keras"
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10, name="logits")(x), name="student")
    model.save(path)
    return path


def test_a_normal_command_prints_nothing_on_stderr(small_student_file, tmp_path):
    # TensorFlow's load-time lines, its C++ log, TFDS' deprecation warnings: all hidden. On
    # TFDS MNIST where it is prepared (TFDS adds warnings of its own), else on the sample.
    from keras_anc import data

    dataset = "mnist" if data.is_prepared("mnist") else "mnist_sample"
    args = ["--model", str(small_student_file), "--dataset", dataset, "--test-examples", "100"]
    result = _cli("evaluate", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout)["dataset"] == dataset


@pytest.mark.tfds("mnist")
def test_a_pipeline_with_take_reads_what_it_caches(small_student_file, tmp_path):
    # The cause of "did not fully read the dataset being cached", not only its message: with
    # --verbose the C++ log is on.
    args = ["--model", str(small_student_file), "--dataset", "mnist", "--test-examples", "100"]
    result = _cli("evaluate", *args, "--verbose", cwd=tmp_path, TF_CPP_MIN_LOG_LEVEL="0")
    assert result.returncode == 0, result.stderr
    assert "did not fully read the dataset being cached" not in result.stderr


@pytest.mark.slow
def test_a_distillation_log_has_one_line_per_epoch_and_no_warnings(tmp_path):
    result = _cli(
        "distill",
        "--method",
        "labels",  # used to log "tf.function retracing" warnings
        "--epochs",
        "2",
        "--teacher-epochs",
        "1",
        "--train-examples",
        "512",
        "--test-examples",
        "500",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
        str(tmp_path / "run"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines.count("Epoch 1/2") == 1 and lines.count("Epoch 2/2") == 1
    assert "\x1b[" not in result.stdout and "\r" not in result.stdout  # no progress-bar frames
    assert len(result.stdout) < 5000


def test_an_unprepared_data_set_fails_before_tensorflow_loads(tmp_path):
    empty = tmp_path / "tfds"
    empty.mkdir()
    code = (
        "import sys\n"
        "from keras_anc.cli import main\n"
        "status = main.main(['distill', '--dataset', 'mnist'])\n"
        "print(status, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "TFDS_DATA_DIR": str(empty)},
    )
    assert result.stdout.split() == ["2", "False", "False"]
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("keras-anc distill: error: Data set 'mnist' is not prepared")
    for part in (str(empty), "TFDS_DATA_DIR", "--data-dir", "keras-anc data prepare mnist"):
        assert part in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tfds"]  # no run folder
    assert list(empty.iterdir()) == []  # no download left behind


@pytest.mark.parametrize("command", ["distill", "train-teacher"])
def test_out_never_names_a_finished_run(command, capsys, tmp_path):
    finished = tmp_path / "run"
    finished.mkdir()
    (finished / "results.json").write_text("{}")
    status, _, err = _run(capsys, command, "--out", str(finished))
    assert status == 2
    assert err.strip() == (
        f"keras-anc {command}: error: --out {finished} holds a finished run (results.json); "
        "keras-anc never overwrites one. Leave out --out for a new folder, choose another "
        "--out, or delete that folder first."
    )
    assert [p.name for p in finished.iterdir()] == ["results.json"]


def test_backend_flag_after_keras_loaded_with_another_backend_is_a_clear_error(capsys):
    import keras

    other = "jax" if keras.backend.backend() != "jax" else "torch"
    status = cli.main(["distill", "--backend", other, "--epochs", "1"])
    assert status == 2
    assert f"KERAS_BACKEND={other}" in capsys.readouterr().err


def test_backend_flag_offers_the_three_backends():
    help_text = cli.build_parser().parse_args(["distill", "--backend", "torch"]).backend
    assert help_text == "torch"
