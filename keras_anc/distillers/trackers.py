"""Loss and agreement trackers whose direction Keras' monitoring callbacks can read.

`EarlyStopping`, `ModelCheckpoint(save_best_only=True)` and `ReduceLROnPlateau` infer
whether a monitored quantity should go up or down only for `loss` itself, or from the
`_direction` of a metric they find inside a Keras metrics container in `model.metrics`
(`keras/src/callbacks/monitor_callback.py`). The distillers therefore keep their
trackers in a `TrackerList` of `DirectedMean`s: `monitor="val_teacher_agreement"` or
`"val_mimic_loss"` works without `mode=`.
"""

import keras

# Keras' own container for compiled metrics; the monitoring callbacks look inside it.
# tests/distillers/test_trackers.py fails loudly if Keras moves or changes it.
from keras.src.trainers.compile_utils import MetricsList


class DirectedMean(keras.metrics.Mean):
    """A `keras.metrics.Mean` that says whether larger values are better.

    Args:
        name: The logged name.
        direction: `"down"` for losses, `"up"` for accuracies and agreements.

    Example:

    ```python
    agreement = DirectedMean("teacher_agreement", direction="up")
    ```
    """

    def __init__(self, name, direction="down", **kwargs):
        if direction not in ("up", "down"):
            raise ValueError(f"`direction` must be 'up' or 'down'. Received: {direction!r}.")
        super().__init__(name=name, **kwargs)
        self._direction = direction


class TrackerList(MetricsList):
    """The distiller's trackers as one metric whose result is `{name: value}`."""

    def __init__(self, trackers, name="distiller_trackers"):
        super().__init__(list(trackers), name=name)

    def result(self):
        return {m.name: m.result() for m in self.metrics}


def metric_results(metrics, skip=None):
    """`{name: value}` of `metrics`, flattening containers, leaving out `skip`."""
    results = {}
    for metric in metrics:
        if metric is None or metric is skip:
            continue
        value = metric.result()
        if isinstance(value, dict):
            results.update(value)
        else:
            results[metric.name] = value
    return results
