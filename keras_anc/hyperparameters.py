"""The distillers' schedulable hyper-parameters and the range each must stay in.

The constructor, the callbacks (`HyperparameterScheduler`, `DiscriminatorGuard`) and
`AdversarialDistiller.set_hyperparameter` all validate through `check_value`, so a value
outside its range never reaches a training step or a saved model (a saved model with
one would not load back).
"""

import math

# name: (lowest, highest, whether the highest is allowed)
RANGES = {
    "mimic_weight": (0.0, math.inf, False),
    "output_mimic_weight": (0.0, math.inf, False),
    "adversarial_weight": (0.0, math.inf, False),
    "adversarial_sample_rate": (0.0, 1.0, True),
    "label_loss_weight": (0.0, math.inf, False),
    "input_noise_stddev": (0.0, math.inf, False),
    "input_dropout_rate": (0.0, 1.0, False),
}


def describe_range(name):
    """The valid range of hyper-parameter `name`, as text (e.g. `"in [0, 1]"`)."""
    low, high, high_ok = RANGES[name]
    if high == math.inf:
        return f">= {low:g} and finite"
    return f"in [{low:g}, {high:g}{']' if high_ok else ')'}"


def check_value(name, value):
    """Returns `value` as a float, or raises a `ValueError` naming the valid range.

    Args:
        name: A key of `RANGES`.
        value: The proposed value (a Python or NumPy number).

    Example:

    ```python
    check_value("adversarial_sample_rate", 0.1)  # 0.1
    check_value("adversarial_sample_rate", 1.9)  # ValueError
    ```
    """
    if name not in RANGES:
        raise ValueError(
            f"Unknown hyper-parameter. Available: {sorted(RANGES)}. Received: {name!r}."
        )
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a number {describe_range(name)}. Received: `{name}={value!r}`."
        ) from None
    low, high, high_ok = RANGES[name]
    inside = (
        math.isfinite(number) and low <= number and (number < high or (high_ok and number == high))
    )
    if not inside:
        raise ValueError(f"`{name}` must be {describe_range(name)}. Received: `{name}={value!r}`.")
    return number


def clamp(name, value):
    """`value` moved into the valid range of `name` (NaN is refused, not clamped)."""
    number = float(value)
    if math.isnan(number):
        raise ValueError(f"`{name}` cannot be NaN.")
    low, high, high_ok = RANGES[name]
    if not high_ok and high != math.inf:
        high = math.nextafter(high, -math.inf)
    return min(max(number, low), high if high != math.inf else 1e30)
