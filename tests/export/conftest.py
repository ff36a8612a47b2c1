"""Fixtures for the `keras_anc.export` tests: a small CNN trained for one epoch on real MNIST."""

import keras
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_anc import export

MEAN, STD = 0.1307, 0.3081  # MNIST pixel statistics after scaling to [0, 1].
IMAGE_SHAPE = (28, 28, 1)


def _normalise(raw):
    """The training-time preprocessing, in numpy: uint8 -> [0, 1] -> standardised."""
    return ((raw.astype("float32") / 255.0) - MEAN) / STD


@pytest.fixture(scope="session", autouse=True)
def _tensorflow_backend():
    """Skips these tests on other Keras backends, where `keras_anc.export` refuses to run.

    SavedModel and TFLite are TensorFlow formats: under JAX or torch every export raises
    `UnsupportedBackendError` (tests/distillers/test_adversarial.py checks that message).
    """
    if keras.backend.backend() != "tensorflow":
        pytest.skip(
            "keras_anc.export needs the TensorFlow backend; the active Keras backend is "
            f"{keras.backend.backend()!r}"
        )


@pytest.fixture(scope="session")
def mnist_stats():
    """`(mean, std)` of MNIST pixels scaled to [0, 1], as the student was trained with."""
    return MEAN, STD


@pytest.fixture(scope="session")
def normalise():
    """The student's training preprocessing as a numpy function of raw uint8 images."""
    return _normalise


@pytest.fixture(scope="session")
def serving_fn():
    """Loads the `serving_default` function of a SavedModel version directory."""

    def load(version_dir):
        return tf.saved_model.load(str(version_dir)).signatures["serving_default"]

    return load


@pytest.fixture(scope="session")
def raw_mnist():
    """Real MNIST: 5,000 raw uint8 training and 1,000 test images, and the class names."""
    if not tfds.builder("mnist").is_prepared():
        pytest.skip("TFDS 'mnist' is not prepared under TFDS_DATA_DIR")
    (train, test), info = tfds.load(
        "mnist",
        split=["train[:5000]", "test[:1000]"],
        as_supervised=True,
        batch_size=-1,
        with_info=True,
    )
    x_train, y_train = tfds.as_numpy(train)
    x_test, y_test = tfds.as_numpy(test)
    return {
        "x_train": x_train,
        "y_train": y_train,
        "x_test": x_test,  # raw uint8, (1000, 28, 28, 1)
        "y_test": y_test,
        "class_names": info.features["label"].names,
    }


@pytest.fixture(scope="session")
def student(raw_mnist):
    """A small Dense-heavy CNN (BatchNorm + Dropout: inference mode matters) trained 1 epoch."""
    keras.utils.set_random_seed(1234)
    model = keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ],
        name="mnist_student",
    )
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    x_train = _normalise(raw_mnist["x_train"])
    model.fit(x_train, raw_mnist["y_train"], epochs=1, batch_size=64, verbose=0)
    return model


@pytest.fixture(scope="session")
def exported(student, raw_mnist, tmp_path_factory):
    """Float32-input export with class names and warm-up requests from real test images."""
    base = tmp_path_factory.mktemp("models") / "mnist_student"
    return export.export_student(
        student,
        base,
        class_names=raw_mnist["class_names"],
        warmup_examples=_normalise(raw_mnist["x_test"][:4]),
    )


@pytest.fixture(scope="session")
def report(student, raw_mnist, tmp_path_factory):
    """Float32 and dynamic-range TFLite plus SavedModel, measured on 1000 real test images."""
    return export.export_report(
        student,
        (_normalise(raw_mnist["x_test"]), raw_mnist["y_test"]),
        tmp_path_factory.mktemp("report"),
        class_names=raw_mnist["class_names"],
    )
