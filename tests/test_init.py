"""`keras_anc/__init__.py`: lazy attributes, and `keras_anc>...` classes loadable by plain Keras.

Each check runs in a fresh interpreter: in this process other tests have already imported the
modules that register the classes, which would hide a missing registration.
"""

import ast
import os
import pathlib
import subprocess
import sys

import keras
import pytest

import keras_anc

_PACKAGE = pathlib.Path(keras_anc.__file__).parent


def _python(code, timeout=300):
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _registered_names():
    """Every `keras_anc>Name` the package's sources register, found by reading them."""
    names = set()
    for path in sorted(_PACKAGE.rglob("*.py")):
        if "register_keras_serializable" not in path.read_text():
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                continue
            for decorator in node.decorator_list:
                if not (
                    isinstance(decorator, ast.Call)
                    and ast.unparse(decorator.func).endswith("register_keras_serializable")
                ):
                    continue
                options = {k.arg: ast.literal_eval(k.value) for k in decorator.keywords}
                if options.get("package", "Custom") == "keras_anc":
                    names.add(f"keras_anc>{options.get('name', node.name)}")
    return names


def test_the_sources_register_the_known_classes():
    # Guards the scan below: if it found nothing, the registration tests could not fail.
    names = _registered_names()
    for name in ("AdversarialDistiller", "HintDistiller", "MLPDiscriminator", "FeatureNoise"):
        assert f"keras_anc>{name}" in names


def test_importing_the_package_loads_neither_keras_nor_its_modules():
    out = _python(
        "import sys\n"
        "import keras_anc\n"
        "print('keras' in sys.modules, 'tensorflow' in sys.modules)\n"
        "print(sorted(m for m in sys.modules if m.startswith('keras_anc.')))\n"
    )
    assert out.split("\n")[:2] == ["False False", "['keras_anc.version']"]


@pytest.mark.parametrize(
    "imports",
    [
        "import keras_anc\nimport keras\n",  # Keras imported after the package
        "import keras\nimport keras_anc\n",  # ... and before it
        "import keras_anc.losses\nimport keras\n",  # Keras first imported by a module of ours
        "from keras_anc.distillers import taps\nimport keras\n",  # ... inside a subpackage
    ],
    ids=["keras-after", "keras-before", "keras-from-module", "keras-from-subpackage"],
)
def test_every_registered_class_is_known_to_keras(imports):
    out = _python(
        imports + "print(sorted(n for n in keras.saving.get_custom_objects() "
        "if n.startswith('keras_anc>')))\n"
    )
    known = set(ast.literal_eval(out.strip().splitlines()[-1]))
    missing = _registered_names() - known
    assert not missing, f"not registered after `import keras_anc`: {sorted(missing)}"


def test_plain_keras_loads_a_saved_distiller_after_importing_the_package(tmp_path, student_factory):
    teacher = student_factory([16], "teacher", seed=1)
    student = student_factory([8], "student", seed=2)
    distiller = keras_anc.AdversarialDistiller(teacher, student, seed=3, input_noise_stddev=0.1)
    distiller.compile(
        student_optimizer=keras.optimizers.Adam(1e-3),
        discriminator_optimizer=keras.optimizers.Adam(1e-4),
    )
    path = tmp_path / "distiller.keras"
    distiller.save(path)

    out = _python(
        "import keras_anc\n"
        "import keras\n"
        f"restored = keras.saving.load_model({str(path)!r})\n"
        "print(type(restored).__module__, type(restored).__name__)\n"
        "print(type(restored.discriminator).__name__, type(restored.feature_noise).__name__)\n"
    )
    assert out.split() == [
        "keras_anc.distillers.adversarial",
        "AdversarialDistiller",
        "MLPDiscriminator",
        "FeatureNoise",
    ]
