"""The files a command-line run writes beside its model: `results.json`, `summary.md`
and `curves.png`.

(The deployment measurements of `keras-anc export`, `keras_anc.export.export_report`, are
stored under the `"deployment"` key of the same `results.json`.)
"""

import json
import math
import pathlib

from keras_anc.cli import _files

_CURVE_PANELS = (
    ("Student objective", ("loss", "adversarial_loss", "mimic_loss")),
    ("Discriminator", ("discriminator_loss", "discriminator_accuracy")),
    ("Student quality", ("accuracy", "teacher_agreement")),
)


def write_json(results, path):
    """Writes `results` as indented JSON, atomically (NaN and numpy scalars made JSON-safe).

    Example:

    ```python
    write_json({"accuracy": np.float32(0.9)}, "runs/r/results.json")
    ```
    """
    return _files.write_text(path, json.dumps(_jsonable(results), indent=2) + "\n")


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def plot_history(history, path, title=None):
    """Plots a run's training curves (losses, discriminator, student quality) to a PNG.

    Args:
        history: A `keras.callbacks.History` or its `.history` dict.
        path: Where to write the PNG.
        title: Optional figure title.

    Returns:
        The path written.

    Example:

    ```python
    history = distiller.fit(train, epochs=5)
    plot_history(history, "runs/r/curves.png", title="anc on mnist")
    ```
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logs = getattr(history, "history", history) or {}
    panels = [
        (name, [k for k in keys if k in logs or f"val_{k}" in logs]) for name, keys in _CURVE_PANELS
    ]
    panels = [(name, keys) for name, keys in panels if keys]
    extra = sorted(
        k for k in logs if not k.startswith("val_") and all(k not in ks for _, ks in panels)
    )
    if extra:
        panels.append(("Other", extra))
    if not panels:
        panels = [("(no metrics logged)", [])]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (name, keys) in zip(axes[0], panels):
        for key in keys:
            for prefix, style in (("", "-"), ("val_", "--")):
                values = logs.get(prefix + key)
                if values:
                    epochs = range(1, len(values) + 1)
                    ax.plot(epochs, values, style, marker="o", ms=3, label=prefix + key)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if keys:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = pathlib.Path(path)
    try:
        with _files.replacing(path) as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)
    return path


def _fmt(value, kind="float"):
    if value is None:
        return "n/a"
    if kind == "pct":
        return f"{100 * value:.2f}%"
    if kind == "int":
        return f"{int(value):,}"
    return f"{value:.4g}"


def summary_markdown(results):
    """A short Markdown summary of a distillation run's `results` dict (`summary.md`).

    Example:

    ```python
    text = summary_markdown(json.loads(pathlib.Path("runs/r/results.json").read_text()))
    ```
    """
    teacher, student = results.get("teacher", {}), results.get("student", {})
    lines = [
        f"# keras-anc run: {results.get('method', '?')} on {results.get('dataset', '?')}",
        "",
        "| model | architecture | parameters | MACs | test accuracy |",
        "|---|---|---|---|---|",
    ]
    for role, info in (("teacher", teacher), ("student (before)", None), ("student", student)):
        if info is None:
            if "accuracy_before" in student:
                lines.append(
                    f"| student (before) | {student.get('architecture', '?')} | | | "
                    f"{_fmt(student['accuracy_before'], 'pct')} |"
                )
            continue
        lines.append(
            f"| {role} | {info.get('architecture', '?')} | {_fmt(info.get('params'), 'int')} | "
            f"{_fmt(info.get('macs'), 'int')} | {_fmt(info.get('accuracy'), 'pct')} |"
        )
    lines += [
        "",
        f"- compression ratio (teacher/student parameters): "
        f"{_fmt(results.get('compression_ratio'))}x",
        f"- accuracy gap to the teacher: {_fmt(results.get('accuracy_gap'), 'pct')}",
        f"- student/teacher argmax agreement: {_fmt(student.get('teacher_agreement'), 'pct')}",
        f"- labels used for training the student: {results.get('labels_used', False)}",
        f"- wall time: {_fmt(results.get('wall_time_s'))} s",
        "",
        "Files: `student.keras`, `results.json`, `curves.png`, `config.yaml` "
        "(re-run with `keras-anc distill --config config.yaml`).",
    ]
    return "\n".join(lines) + "\n"
