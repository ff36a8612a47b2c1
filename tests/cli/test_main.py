"""The `keras-anc` command line: parsing, help, errors, and every command end to end."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_anc.cli import main as cli


def _run(capsys, *argv):
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.slow
def test_default_distill_and_rerun_from_saved_config(tmp_path, capsys):
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

    # Re-run exactly from the saved config: the stored teacher is reused.
    status, stdout, _ = _run(
        capsys, "distill", "--config", str(out / "config.yaml"), "--out", str(tmp_path / "again")
    )
    assert status == 0
    again = json.loads((tmp_path / "again" / "results.json").read_text())
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


@pytest.mark.parametrize(
    "argv, message",
    [
        (["distill", "--dataset", "imagenet_toy"], "Unknown dataset name 'imagenet_toy'"),
        (["distill", "--student-model", "resnet9000"], "resnet9000"),
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
    assert np.isclose(config["learning_rate"], 3e-3)
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


def test_tensorflow_logs_are_hidden_unless_verbose(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    cli.main(["evaluate"])  # a user error, after the level is set
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    cli.main(["evaluate", "--verbose"])
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
