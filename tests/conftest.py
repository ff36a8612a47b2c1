"""Shared test set-up: the TFDS data directory, the `tfds(...)` marker, MNIST fixtures.

TFDS data:

- `../shared/tfds` beside the checkout is used as `TFDS_DATA_DIR` when that variable is unset
  and the folder exists. `KERAS_ANC_TEST_NO_SHARED=1` ignores it, to simulate a fresh machine.
- Tests never download: `KERAS_ANC_OFFLINE=1` is set for this process and the subprocesses it
  starts, so a missing data set fails at once instead of retrying a download.
- `@pytest.mark.tfds("mnist", ...)` (on a test, a class, a module's `pytestmark = ...` or a
  `pytest.param(..., marks=...)`) skips the test, before its fixtures run, with a one-line
  reason when a named data set is not prepared in the TFDS data directory.

The `mnist` fixture is the MNIST sample embedded in keras-anc (real MNIST digits), so the tests
that train on MNIST run everywhere.

Fresh-machine simulation:

    mkdir -p /tmp/empty_tfds_dir
    KERAS_ANC_TEST_NO_SHARED=1 TFDS_DATA_DIR=/tmp/empty_tfds_dir .venv/bin/pytest tests/data
"""

import os
import pathlib

_SHARED_TFDS = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "tfds"
_NO_SHARED = os.environ.get("KERAS_ANC_TEST_NO_SHARED", "").strip() not in ("", "0")
if "TFDS_DATA_DIR" not in os.environ and not _NO_SHARED and _SHARED_TFDS.is_dir():
    os.environ["TFDS_DATA_DIR"] = str(_SHARED_TFDS)
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_ANC_OFFLINE", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

_SKIP_REASON = (
    "TFDS data set {name!r} is not prepared in {where}; set TFDS_DATA_DIR to a prepared TFDS "
    "data directory (see README)"
)
_prepared = {}


def _tfds_data_dir():
    """The TFDS data directory the tests read (what `tfds.load` uses without `data_dir=`)."""
    return os.environ.get("TFDS_DATA_DIR") or os.path.expanduser("~/tensorflow_datasets")


def _missing_tfds_reason(*names):
    """A one-line skip reason for the first of `names` not prepared, or `None` if all are."""
    for name in names:
        if name not in _prepared:
            from keras_anc import data

            _prepared[name] = data.is_prepared(name)
        if not _prepared[name]:
            return _SKIP_REASON.format(name=name, where=_tfds_data_dir())
    return None


# pytest-xdist (`-n 2 --dist loadfile`, pyproject.toml's `addopts`) sends each group of
# tests to one worker. A group is a file, or for these folders the whole folder, whose files
# share session fixtures (one trained student for `export`; one set of scenario processes,
# started together, for `distribution`).
_ONE_GROUP_FOLDERS = ("data", "distribution", "export")
# The slowest groups (minutes each on 2 CPU cores) are handed out first, so that one worker
# does not run a long group at the end while the other has nothing left to do.
_SLOWEST_GROUPS = (
    "tests/trainers/test_cross_backend.py",
    "tests/benchmarks/test_benchmark_smoke.py",
    "tests/distribution",
    "tests/cli/test_main.py",
    "tests/examples/test_examples.py",
    "tests/reliability/test_kills.py",
    "tests/benchmarks/test_gpu.py",
    "tests/export",
    "tests/reliability/test_export_kills.py",
    "tests/reliability/test_backup_and_restore.py",
)


def _xdist_group(nodeid):
    """The group of a test under pytest-xdist: its folder (see above) or its file."""
    file = nodeid.split("::", 1)[0]
    parts = file.split("/")
    if len(parts) > 2 and parts[0] == "tests" and parts[1] in _ONE_GROUP_FOLDERS:
        return "/".join(parts[:2])
    return file


@pytest.hookimpl(tryfirst=True)  # before xdist's own `--dist loadfile` scheduler
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        """`--dist loadfile`, with the folders of `_ONE_GROUP_FOLDERS` as one group each."""

        def _split_scope(self, nodeid):
            return _xdist_group(nodeid)

    config.option.loadscopereorder = False  # keep the order of `pytest_collection_modifyitems`
    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    for item in items:
        names = [name for mark in item.iter_markers("tfds") for name in mark.args]
        if not names:
            continue
        reason = _missing_tfds_reason(*names)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: the slowest groups first
        order = {group: i for i, group in enumerate(_SLOWEST_GROUPS)}
        items.sort(key=lambda item: order.get(_xdist_group(item.nodeid), len(order)))


def _sample_split(split):
    from keras_anc.data.sample import sample_arrays

    arrays = sample_arrays()
    images = arrays[f"x_{split}"].astype("float32") / 255.0
    return images, arrays[f"y_{split}"].astype("int64")


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST digits from the embedded sample: 6,000 training and 1,000 test images.

    Images are float32 in [0, 1] with shape (n, 28, 28, 1); labels are int64. The classes are
    balanced (600 and 100 per digit) and interleaved in TFDS order. No TFDS data is needed.
    """
    x_train, y_train = _sample_split("train")
    x_test, y_test = _sample_split("test")
    return x_train, y_train, x_test, y_test


def make_mlp(hidden, name, num_classes=10, input_shape=(28, 28, 1), seed=0):
    """A small functional MLP returning logits; its last hidden layer is named `features`."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(input_shape)
    h = keras.layers.Flatten()(inputs)
    for i, units in enumerate(hidden):
        last = i == len(hidden) - 1
        h = keras.layers.Dense(units, activation="relu", name="features" if last else None)(h)
    outputs = keras.layers.Dense(num_classes, name="logits")(h)
    return keras.Model(inputs, outputs, name=name)


@pytest.fixture(scope="session")
def mnist_teacher(mnist):
    """An MLP teacher trained with labels on the MNIST sample (about 93% test accuracy)."""
    x_train, y_train, _, _ = mnist
    teacher = make_mlp([256, 128], "teacher")
    teacher.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    teacher.fit(x_train, y_train, epochs=3, batch_size=128, verbose=0)
    return teacher


@pytest.fixture
def student_factory():
    return make_mlp


@pytest.fixture
def np_rng():
    return np.random.default_rng(0)
