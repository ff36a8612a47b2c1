"""A table of parameter and MAC counts for the registered zoo models."""

from keras_anc.models.complexity import macs
from keras_anc.models.registry import available_models, default_input_shape, get_model


def summary_table(names=None, num_classes=10):
    """Build each named zoo model and return its size as rows of a table.

    Building every model takes a few seconds per large network; pass `names` to restrict it.

    Args:
        names: optional iterable of registered names; defaults to `available_models()`.
        num_classes: int. Width of the logits the models are built with.

    Returns:
        A list of dicts with keys `"name"`, `"input_shape"`, `"params"` and `"macs"` (batch size
        1, see `keras_anc.models.macs`), in the order of `names`.

    Example:

    ```python
    for row in summary_table(["resnet20", "lenet_tiny"]):
        print(f"{row['name']:<12} {row['params']:>10,} {row['macs']:>14,}")
    ```
    """
    rows = []
    for name in available_models() if names is None else names:
        model = get_model(name, num_classes=num_classes)
        rows.append(
            {
                "name": name,
                "input_shape": default_input_shape(name),
                "params": int(model.count_params()),
                "macs": int(macs(model)),
            }
        )
        del model
    return rows


def format_summary_table(rows):
    """Render `summary_table` rows as a fixed-width text table (one line per model).

    Args:
        rows: the list returned by `summary_table`.

    Returns:
        A string with a header line and one line per row.

    Example:

    ```python
    print(format_summary_table(summary_table(["resnet20"])))
    ```
    """
    lines = [f"{'model':<26} {'input':<12} {'params':>12} {'MACs':>15}"]
    for row in rows:
        shape = "x".join(str(d) for d in row["input_shape"])
        lines.append(f"{row['name']:<26} {shape:<12} {row['params']:>12,} {row['macs']:>15,}")
    return "\n".join(lines)
