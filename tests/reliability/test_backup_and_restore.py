"""The resume recipe for `keras.callbacks.BackupAndRestore` that docs and README recommend.

`BackupAndRestore(dir, double_checkpoint=True)` with the default epoch-level `save_freq`:
a kill while the checkpoint is written leaves the previous one, and the resumed run ends
with the weights of an uninterrupted one. The two other settings are shown to fail, which
is why they are not recommended: Keras' default `double_checkpoint=False` loses its only
checkpoint to such a kill, and `save_freq=<batches>` replays a partial epoch from its first
batch with mid-epoch weights.
"""

import keras
import numpy as np
import pytest

SCRIPT = "tests/reliability/backup_run.py"
KILL_DURING_THIRD_SAVE = {
    "op": "save_weights",
    "match": "*latest.weights.h5",
    "count": 3,
    "when": "during",
}


def _script(harness, *args, fault=None):
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    return harness.run("script", root / SCRIPT, *args, fault=fault)


@pytest.mark.slow
def test_double_checkpoint_survives_a_kill_during_the_write_and_resumes_exactly(harness, tmp_path):
    harness.expect(_script(harness, tmp_path / "b0", tmp_path / "reference.npz", "1"), 0)
    backup, out = tmp_path / "backup", tmp_path / "resumed.npz"
    killed = _script(harness, backup, out, "1", fault=KILL_DURING_THIRD_SAVE)
    harness.expect(killed, harness.KILLED)
    assert (backup / "latest.weights.h5.bkp").is_file()  # the previous checkpoint
    harness.expect(_script(harness, backup, out, "1"), 0)
    reference, resumed = np.load(tmp_path / "reference.npz"), np.load(out)
    assert int(resumed["iterations"]) == int(reference["iterations"]) == 32
    for key in reference.files:
        np.testing.assert_array_equal(resumed[key], reference[key])
    assert not backup.exists()  # deleted at the end of the completed run


@pytest.mark.slow
def test_keras_default_single_checkpoint_is_lost_to_a_kill_during_the_write(harness, tmp_path):
    backup, out = tmp_path / "backup", tmp_path / "resumed.npz"
    harness.expect(_script(harness, backup, out, "0", fault=KILL_DURING_THIRD_SAVE), harness.KILLED)
    restart = _script(harness, backup, out, "0")
    assert restart.returncode == 1 and not out.exists()
    assert "OSError: Unable to synchronously open file (truncated file" in restart.stderr


def test_batch_level_save_freq_replays_a_partial_epoch_with_mid_epoch_weights(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("int64")

    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        m.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(True))
        return m

    class Crash(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.model.optimizer.iterations.numpy() == 8 + 5:  # epoch 2, batch 5
                raise RuntimeError("simulated kill")

    backup = str(tmp_path / "backup")
    first = model()
    with pytest.raises(RuntimeError, match="simulated kill"):
        first.fit(
            x,
            y,
            batch_size=16,
            epochs=4,
            shuffle=False,
            verbose=0,
            callbacks=[keras.callbacks.BackupAndRestore(backup, save_freq=4), Crash()],
        )
    resumed = model()
    resumed.fit(
        x,
        y,
        batch_size=16,
        epochs=4,
        shuffle=False,
        verbose=0,
        callbacks=[keras.callbacks.BackupAndRestore(backup, save_freq=4)],
    )
    # An uninterrupted run takes 4 x 8 = 32 steps. The resumed one restored the weights
    # after batch 4 of epoch 2 but ran epoch 2 again from its first batch: 36 steps, and
    # batches 1-4 of epoch 2 were applied twice.
    assert int(resumed.optimizer.iterations.numpy()) == 36
