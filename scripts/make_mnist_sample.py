"""Regenerate `keras_anc/resources/mnist_sample.npz`, the small MNIST sample shipped with keras-anc.

The sample is class-balanced: the first 600 examples of each digit from the TFDS `mnist` train
split and the first 100 of each digit from its test split, in TFDS's own example order (the order
`tfds.load("mnist", split=..., shuffle_files=False)` yields). The TFDS positions of the chosen
examples are stored beside the images so that the sample can be traced back to its source.

Usage:
    TFDS_DATA_DIR=/path/to/tfds python scripts/make_mnist_sample.py [--out PATH]
"""

import argparse
import pathlib

import numpy as np
import tensorflow_datasets as tfds

PER_CLASS = {"train": 600, "test": 100}
DEFAULT_OUT = (
    pathlib.Path(__file__).resolve().parents[1] / "keras_anc" / "resources" / "mnist_sample.npz"
)


def _take_balanced(split, per_class, data_dir):
    ds = tfds.load("mnist", split=split, data_dir=data_dir, as_supervised=True, batch_size=-1)
    images, labels = tfds.as_numpy(ds)
    chosen = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(10)])
    chosen.sort()  # keep TFDS order, so the classes stay interleaved
    if len(chosen) != 10 * per_class:
        raise RuntimeError(f"MNIST {split} split has fewer than {per_class} examples of a class.")
    return images[chosen].astype(np.uint8), labels[chosen].astype(np.uint8), chosen


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    parser.add_argument("--data-dir", default=None, help="TFDS data dir (default: TFDS_DATA_DIR)")
    args = parser.parse_args(argv)

    arrays = {}
    for split, per_class in PER_CLASS.items():
        x, y, index = _take_balanced(split, per_class, args.data_dir)
        arrays[f"x_{split}"] = x
        arrays[f"y_{split}"] = y
        arrays[f"tfds_index_{split}"] = index.astype(np.uint16)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    for key, value in arrays.items():
        print(f"{key}: shape={value.shape} dtype={value.dtype}")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
