"""Keras' monitoring callbacks read the direction of every logged distiller metric."""

import keras
import numpy as np
import pytest

import keras_anc
from keras_anc.distillers.trackers import DirectedMean, TrackerList, metric_results


def _distiller(teacher, student, **kwargs):
    distiller = keras_anc.AdversarialDistiller(teacher, student, seed=0, **kwargs)
    distiller.compile(
        student_optimizer=keras.optimizers.Adam(1e-3),
        discriminator_optimizer=keras.optimizers.Adam(1e-4),
        metrics=["accuracy"],
    )
    return distiller


def test_keras_metrics_container_is_still_where_the_monitor_looks():
    # Pins the private Keras API the trackers rely on.
    from keras.src.callbacks import monitor_callback
    from keras.src.trainers import compile_utils

    assert "MetricsList" in monitor_callback.MonitorCallback._set_monitor_op.__code__.co_names
    assert issubclass(TrackerList, compile_utils.MetricsList)


def test_directed_mean_refuses_an_unknown_direction():
    with pytest.raises(ValueError, match="'up' or 'down'"):
        DirectedMean("x", direction="sideways")


def test_tracker_list_results_are_flat():
    a, b = DirectedMean("a"), DirectedMean("b", "up")
    a.update_state(1.0)
    b.update_state(3.0)
    results = metric_results([TrackerList([a, b])])
    assert {k: float(v) for k, v in results.items()} == {"a": 1.0, "b": 3.0}


METRICS = [
    ("teacher_agreement", "max"),
    ("discriminator_accuracy", "max"),
    ("mimic_loss", "min"),
    ("adversarial_loss", "min"),
    ("discriminator_loss", "min"),
    ("loss", "min"),
    ("accuracy", "max"),
]


@pytest.mark.parametrize("metric,direction", METRICS)
@pytest.mark.parametrize("callback", ["early_stopping", "checkpoint", "reduce_lr"])
def test_callbacks_monitor_every_metric_without_mode(
    tmp_path, mnist, mnist_teacher, student_factory, metric, direction, callback
):
    x_train, y_train, x_test, y_test = mnist
    monitor = f"val_{metric}"
    made = {
        "early_stopping": lambda: keras.callbacks.EarlyStopping(monitor=monitor, patience=5),
        "checkpoint": lambda: keras.callbacks.ModelCheckpoint(
            str(tmp_path / "best.weights.h5"),
            monitor=monitor,
            save_best_only=True,
            save_weights_only=True,
        ),
        "reduce_lr": lambda: keras.callbacks.ReduceLROnPlateau(monitor=monitor, patience=5),
    }[callback]()
    distiller = _distiller(mnist_teacher, student_factory([8], "s"))
    distiller.fit(
        x_train[:256],
        y_train[:256],
        batch_size=128,
        epochs=1,
        validation_data=(x_test[:128], y_test[:128]),
        callbacks=[made],
        verbose=0,
    )
    expected = keras.ops.greater if direction == "max" else keras.ops.less
    assert made.monitor_op is expected


def test_feature_taps_log_the_output_mimic_term(mnist, mnist_teacher, student_factory):
    x_train, *_ = mnist
    distiller = _distiller(
        mnist_teacher,
        student_factory([8], "s"),
        teacher_layer="features",
        student_layer="features",
    )
    history = distiller.fit(x_train[:256], batch_size=128, epochs=1, verbose=0)
    assert "output_mimic_loss" in history.history
    assert np.isfinite(history.history["output_mimic_loss"][0])
