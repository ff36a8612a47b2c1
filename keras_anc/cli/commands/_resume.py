"""Resuming an interrupted `keras-anc distill` run exactly (`--resume`).

A distill run keeps `<out>/checkpoint/`: its configuration (`config.yaml`, written before
training starts) and a `keras_anc.callbacks.TrainingCheckpoint` (the training state after
the last completed epoch, committed by one atomic rename). `--resume` with the same command
checks that the configuration is the interrupted run's, restores the state, skips the
data of the completed epochs (the `tf.data` pipeline reshuffles every epoch) and trains
the remaining epochs: the student equals the one of an uninterrupted run. The
folder is deleted once the run's results are written.
"""

import json

from keras_anc.callbacks import TrainingCheckpoint
from keras_anc.cli import config as config_lib

CHECKPOINT_DIR = "checkpoint"
CONFIG_FILE = "config.yaml"
# Keys that do not change what the run computes.
IGNORED_KEYS = ("out", "quiet", "resume")


def _comparable(config):
    kept = {k: v for k, v in config.items() if k not in IGNORED_KEYS}
    return json.loads(json.dumps(kept))


def open_checkpoint(config, out, say):
    """The run's `TrainingCheckpoint`, after checking (or recording) its configuration.

    Called before any work is done. Without `--resume` a checkpoint left by an interrupted
    run in `out` is replaced (and the user told how to resume instead); with `--resume` the
    configuration must equal the interrupted run's.

    Args:
        config: The run configuration.
        out: The run's folder.
        say: `say(line)` prints a progress line.

    Returns:
        A `keras_anc.callbacks.TrainingCheckpoint`.

    Raises:
        ConfigError: `--resume` with another configuration than the interrupted run's.
    """
    folder = out / CHECKPOINT_DIR
    checkpoint = TrainingCheckpoint(folder)
    saved_path = folder / CONFIG_FILE
    if config.get("resume") and saved_path.is_file():
        saved = _comparable(
            config_lib.resolve("distill", config_lib.read_file(saved_path, "distill"))
        )
        current = _comparable(config)
        differ = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
        if differ:
            shown = ", ".join(
                f"{k}: {saved.get(k)!r} there, {current.get(k)!r} here" for k in differ
            )
            raise config_lib.ConfigError(
                f"--resume: the configuration differs from the interrupted run's in {out} "
                f"({shown}). Repeat the interrupted command exactly, adding --resume."
            )
        state = checkpoint.read_state()
        done = state["epoch"] if state else 0
        say(f"Resuming the run in {out} after epoch {done} of {config['epochs']}.")
        return checkpoint
    if config.get("resume"):
        say(f"Nothing to resume in {out} (no checkpoint): starting the run from the beginning.")
    elif folder.exists():
        say(
            f"Starting over in {out}; its checkpoint of an interrupted run is replaced (add "
            "--resume to continue that run instead)."
        )
        checkpoint.delete()
    folder.mkdir(parents=True, exist_ok=True)
    config_lib.save(config, saved_path)
    return checkpoint


def restore(checkpoint, model, train, say):
    """Restores the last completed epoch into `model`; returns what `fit` then takes.

    `fit` gets one repeated stream with `steps_per_epoch` (`fit` would otherwise make
    several iterators per epoch of a reshuffling `tf.data` pipeline, each with a new
    order), and a resumed run skips the batches of the completed epochs, so its epochs see
    the data of an uninterrupted run's.

    Returns:
        `(initial_epoch, stream, steps_per_epoch)`; `steps_per_epoch` is `None` when the
        stream's length is unknown (then a resumed run's data order differs).
    """
    initial_epoch = checkpoint.restore(model)
    steps = int(train.cardinality())
    if steps <= 0:  # unknown or infinite length
        if initial_epoch:
            say("The data stream's length is unknown: the resumed epochs draw a new order.")
        return initial_epoch, train, None
    stream = train.repeat()
    if initial_epoch:
        say(f"Skipping the data of the {initial_epoch} completed epoch(s) ...")
        stream = stream.skip(initial_epoch * steps)
    return initial_epoch, stream, steps
