"""Reporting of `benchmarks.gpu`: summary statistics, the Markdown table and the figure."""

from benchmarks.common import save_figure


def _stats(values):
    import numpy as np

    values = np.asarray(values, dtype=float)
    return {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
    }


def summarize(results):
    """Adds mean, std, gap to the teacher and paired deltas vs `labels` to every arm."""
    entry = results["datasets"]["cifar10"]
    teacher = entry["teacher_accuracy"]
    reference = entry["methods"].get("labels", {}).get("accuracy", [])
    for arm, record in entry["methods"].items():
        if not record["accuracy"]:
            continue
        record.update(_stats(record["accuracy"]))
        record["gap_to_teacher"] = teacher - record["mean"]
        if arm != "labels" and len(reference) == len(record["accuracy"]):
            deltas = [a - b for a, b in zip(record["accuracy"], reference)]
            record["paired_delta_vs_labels"] = {**_stats(deltas), "per_seed": deltas}
    if reference:
        entry["teacher_minus_labels"] = teacher - _stats(reference)["mean"]
    return results


def markdown_table(results):
    """The results as Markdown: the set-up, one row per arm, phase times."""
    from keras_anc.methods import uses_labels

    config, entry = results["config"], results["datasets"]["cifar10"]
    env = results["environment"]
    seeds = results["seeds"]
    lines = [
        f"### cifar10: {entry['teacher']} -> {entry['student']} ({results['preset']} preset)",
        "",
        f"Teacher {entry['teacher_accuracy'] * 100:.2f}% ({entry['teacher_params']:,} params, "
        f"{config['teacher_epochs']} epochs); student {entry.get('student_params', 0):,} "
        f"params; compression {entry.get('compression_ratio', 0):.1f}x. Train "
        f"{entry['train_size']} images, test {entry['test_size']} images; {config['epochs']} "
        f"epochs, batch {config['batch_size']}, SGD Nesterov 0.9, lr {config['learning_rate']:g} "
        f"({config['warmup_epochs']:g}-epoch warm-up + cosine), weight decay "
        f"{config['weight_decay']:g}; seeds {seeds}. {', '.join(env['devices'])}, JAX "
        f"{env['jax']}, Keras {env['keras']}, XLA.",
        "",
        "| arm | labels | stream | test accuracy (%) | per seed (%) | gap to teacher (pp) "
        "| paired Δ vs labels (pp) | s / run (1st epoch) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm, rec in entry["methods"].items():
        if not rec["accuracy"]:
            continue
        method = results["arms"][arm]["method"]
        augmentation, mixing = results["arms"][arm]["augmentation"], results["arms"][arm]["mixing"]
        delta = rec.get("paired_delta_vs_labels")
        first = [r["epoch_seconds"][0] for r in rec["runs"] if r["epoch_seconds"]]
        labels = "yes" if uses_labels(method) else "no"
        lines.append(
            f"| {arm} | {labels} | {augmentation}{' + ' + mixing if mixing else ''} | "
            f"{rec['mean'] * 100:.2f} ± {rec['std'] * 100:.2f} | "
            f"{' / '.join(f'{a * 100:.2f}' for a in rec['accuracy'])} | "
            f"{rec['gap_to_teacher'] * 100:+.2f} | "
            + (f"{delta['mean'] * 100:+.2f} ± {delta['std'] * 100:.2f}" if delta else "-")
            + f" | {sum(rec['seconds']) / len(rec['seconds']):.0f} "
            f"({sum(first) / max(1, len(first)):.0f}) |"
        )
    if "teacher_minus_labels" in entry:
        lines += ["", f"Teacher − labelled student: {entry['teacher_minus_labels'] * 100:+.2f} pp."]
    phases = results["phases"]
    lines += [
        "",
        "Paired Δ: mean ± std over seeds of (arm − labels), same seed (same student "
        "initialization, batches and augmentation). s / run: `fit` wall time; in brackets the "
        "first epoch's, which includes XLA compilation.",
        "",
        "| phase | seconds |",
        "|---|---|",
        *(f"| {name.removesuffix('_seconds')} | {value:.1f} |" for name, value in phases.items()),
        f"| total | {results.get('wall_seconds', 0):.1f} |",
        "",
    ]
    if results.get("stopped_early"):
        lines.insert(-1, f"Stopped early: {results['stopped_early']}.")
    return "\n".join(lines)


def plot(results, out):
    """Writes `accuracy.png` (mean ± std per arm) and `curves.png` (test accuracy per epoch)."""
    try:
        import matplotlib
    except ImportError:
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    entry = results["datasets"]["cifar10"]
    arms = [arm for arm, rec in entry["methods"].items() if rec["accuracy"]]
    if not arms:
        return
    fig, (bars, curves) = plt.subplots(1, 2, figsize=(11, 4))
    means = [entry["methods"][a]["mean"] * 100 for a in arms]
    stds = [entry["methods"][a]["std"] * 100 for a in arms]
    bars.bar(range(len(arms)), means, yerr=stds, capsize=3, color="tab:blue")
    bars.axhline(entry["teacher_accuracy"] * 100, color="k", ls="--", label="teacher")
    bars.set_xticks(range(len(arms)), arms, rotation=45, ha="right")
    low = min(m - s for m, s in zip(means, stds))
    bars.set_ylim(max(0.0, low - 5), min(100.0, max(*means, entry["teacher_accuracy"] * 100) + 2))
    bars.set_ylabel("test accuracy (%)")
    bars.legend(loc="lower right")
    for arm in arms:
        runs = [r["curves"]["test_accuracy"] for r in entry["methods"][arm]["runs"]]
        length = min(len(r) for r in runs)
        mean = np.mean([r[:length] for r in runs], axis=0) * 100
        curves.plot(range(1, length + 1), mean, marker="o", label=arm)
    curves.set_xlabel("epoch")
    curves.set_ylabel("test accuracy (%)")
    curves.legend(fontsize=7)
    fig.suptitle(f"CIFAR-10 {entry['teacher']} -> {entry['student']} ({results['preset']})")
    fig.tight_layout()
    save_figure(fig, out / "accuracy.png", dpi=110)
    plt.close(fig)
