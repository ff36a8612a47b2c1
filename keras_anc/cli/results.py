"""The files a command-line run writes beside its model: `results.json`, `summary.md`
and `curves.png`.

(The deployment measurements of `keras-anc export`, `keras_anc.export.export_report`, are
stored under the `"deployment"` key of the same `results.json`.)
"""

import json
import math
import pathlib

from keras_anc.cli import _files

# Panel titles ("{model}" is the trained model: "Student" or "Teacher") and their curves.
_CURVE_PANELS = (
    ("{model} objective", ("loss", "adversarial_loss", "mimic_loss")),
    ("Discriminator", ("discriminator_loss", "discriminator_accuracy")),
    ("{model} quality", ("accuracy", "teacher_agreement")),
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


def plot_history(history, path, title=None, model="student"):
    """Plots a run's training curves (losses, discriminator, model quality) to a PNG.

    Args:
        history: A `keras.callbacks.History` or its `.history` dict.
        path: Where to write the PNG.
        title: Optional figure title.
        model: The model the run trains (`"student"` or `"teacher"`), for panel titles.

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
        (
            name.format(model=model.capitalize()),
            [k for k in keys if k in logs or f"val_{k}" in logs],
        )
        for name, keys in _CURVE_PANELS
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


def size_comparison(results):
    """'14.36x smaller' (or '1.22x larger'): the student's parameters against the teacher's.

    Example:

    ```python
    size_comparison({"teacher": {"params": 100}, "student": {"params": 50}})  # '2.00x smaller'
    ```
    """
    teacher = results.get("teacher", {}).get("params")
    student = results.get("student", {}).get("params")
    if not teacher or not student:
        ratio = results.get("compression_ratio")
        if not ratio:
            return "of unknown size relative to the teacher"
        teacher, student = ratio, 1.0
    if student <= teacher:
        return f"{teacher / student:.2f}x smaller"
    return f"{student / teacher:.2f}x larger"


def accuracy_gap_text(results):
    """'0.80 points below it' (or 'above it'): the student's test accuracy against the teacher's.

    Accuracies are percentages, so their difference is in percentage points.

    Example:

    ```python
    accuracy_gap_text({"accuracy_gap": 0.008})  # '0.80 points below it'
    ```
    """
    gap = results.get("accuracy_gap")
    if gap is None:
        return "of unknown accuracy relative to it"
    if abs(gap) < 5e-5:
        return "as accurate as it"
    return f"{100 * abs(gap):.2f} points {'below' if gap > 0 else 'above'} it"


def comparison_table(results):
    """The teacher / untrained student / trained student table of a distillation run.

    Columns are as wide as their longest entry, so long method and model names line up.

    Returns:
        The table as one string (no trailing newline).

    Example:

    ```python
    print(comparison_table(json.loads(pathlib.Path("runs/r/results.json").read_text())))
    ```
    """
    t, s = results["teacher"], results["student"]
    rows = [
        ("teacher", t["architecture"], t["params"], t["accuracy"]),
        ("student, untrained", s["architecture"], s["params"], s.get("accuracy_before")),
        (f"student, {results['method']}", s["architecture"], s["params"], s["accuracy"]),
    ]
    header = ("model", "architecture", "parameters", "test accuracy")
    cells = [header] + [
        (role, str(arch), f"{params:,}", _fmt(acc, "pct")) for role, arch, params, acc in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    lines = [
        f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  "
        f"{row[3]:>{widths[3]}}"
        for row in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


def verdict(results):
    """One sentence on the trained student: size, labels, agreement and accuracy gap."""
    labels = "with labels" if results.get("labels_used") else "without labels"
    agreement = results.get("student", {}).get("teacher_agreement")
    agrees = (
        f", agrees with it on {100 * agreement:.1f}% of test images"
        if agreement is not None
        else ""
    )
    return (
        f"The student is {size_comparison(results)} than the teacher, was trained {labels}"
        f"{agrees}, and is {accuracy_gap_text(results)}."
    )


def summary_markdown(results, run_dir=None):
    """A short Markdown summary of a run's `results` dict (`summary.md`).

    Args:
        results: The results of a `distill` or `train-teacher` run.
        run_dir: The run's folder, for the commands it suggests; `None` for relative paths.

    Example:

    ```python
    text = summary_markdown(json.loads(pathlib.Path("runs/r/results.json").read_text()))
    ```
    """
    if results.get("command") == "train-teacher":
        return _teacher_summary(results, run_dir)
    teacher, student = results.get("teacher", {}), results.get("student", {})
    lines = [
        f"# keras-anc distill: {results.get('method', '?')} on {results.get('dataset', '?')}",
        "",
        "| model | architecture | parameters | MACs | test accuracy |",
        "|---|---|---|---|---|",
        _model_row("teacher", teacher),
    ]
    if "accuracy_before" in student:
        lines.append(
            f"| student (untrained) | {student.get('architecture', '?')} | | | "
            f"{_fmt(student['accuracy_before'], 'pct')} |"
        )
    lines += [
        _model_row(f"student ({results.get('method', '?')})", student),
        "",
        f"- size: the student is {size_comparison(results)} than the teacher (compression "
        f"ratio, teacher/student parameters: {_fmt(results.get('compression_ratio'))})",
        f"- accuracy: the student is {accuracy_gap_text(results).replace(' it', ' the teacher')}",
        f"- student/teacher argmax agreement: {_fmt(student.get('teacher_agreement'), 'pct')}",
        f"- labels used for training the student: {results.get('labels_used', False)}",
        f"- wall time: {_fmt(results.get('wall_time_s'))} s",
        "",
        "Files: `student.keras`, `results.json`, `curves.png`, `config.yaml`. Re-run (into a new "
        f"folder): `keras-anc distill --config {_path(run_dir, 'config.yaml')}`.",
    ]
    return "\n".join(lines) + "\n"


def _path(run_dir, name):
    return str(pathlib.Path(run_dir) / name) if run_dir is not None else name


def _model_row(role, info):
    return (
        f"| {role} | {info.get('architecture', '?')} | {_fmt(info.get('params'), 'int')} | "
        f"{_fmt(info.get('macs'), 'int')} | {_fmt(info.get('accuracy'), 'pct')} |"
    )


def _teacher_summary(results, run_dir):
    teacher = results.get("teacher", {})
    epochs = len(results.get("history", {}).get("loss", [])) or results.get("epochs")
    lines = [
        f"# keras-anc train-teacher: {teacher.get('architecture', '?')} on "
        f"{results.get('dataset', '?')}",
        "",
        "| model | architecture | parameters | MACs | test accuracy | test loss |",
        "|---|---|---|---|---|---|",
        _model_row("teacher", teacher) + f" {_fmt(teacher.get('loss'))} |",
        "",
        f"- trained with labels for {epochs} epoch{'' if epochs == 1 else 's'}"
        if epochs
        else "- trained with labels",
        f"- wall time: {_fmt(results.get('wall_time_s'))} s",
        "",
        "Files: `teacher.keras`, `results.json`, `curves.png`, `config.yaml`.",
    ]
    if results.get("next_command"):
        lines.append(f"Distil a student from it: `{results['next_command']}`.")
    lines.append(
        "Re-run (into a new folder): "
        f"`keras-anc train-teacher --config {_path(run_dir, 'config.yaml')}`."
    )
    return "\n".join(lines) + "\n"
