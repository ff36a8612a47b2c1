"""A small training run with `keras.callbacks.BackupAndRestore`, for the kill tests.

Usage: python backup_run.py BACKUP_DIR OUT_NPZ DOUBLE_CHECKPOINT(0|1)

Trains 4 epochs of 8 batches on fixed data (no shuffling, so an uninterrupted run and a
resumed one see the same batches) and writes the final weights and the optimizer's step
count to OUT_NPZ.
"""

import sys

import keras
import numpy as np


def main(backup_dir, out, double_checkpoint):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("int64")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(2)])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    backup = keras.callbacks.BackupAndRestore(backup_dir, double_checkpoint=double_checkpoint)
    model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0, callbacks=[backup])
    weights = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    np.savez(out, iterations=int(model.optimizer.iterations.numpy()), **weights)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] == "1")
