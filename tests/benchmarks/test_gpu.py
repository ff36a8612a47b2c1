"""The GPU benchmark (`benchmarks/gpu.py`) on the CPU: its data file, its device-side batches,
and a smoke run end to end under the JAX backend (no TensorFlow imported, seeds paired)."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax")

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import _gpu_data as gpu_data  # noqa: E402


def _images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def test_png_mosaics_are_lossless_and_jpeg_mosaics_close():
    x = _images(150)  # not a multiple of the 10,000-image mosaic nor of its 100-image rows
    np.testing.assert_array_equal(gpu_data.decode(gpu_data.encode(x, lossless=True), 150), x)
    smooth = np.repeat(np.repeat(_images(150)[:, ::8, ::8], 8, axis=1), 8, axis=2)
    decoded = gpu_data.decode(gpu_data.encode(smooth, lossless=False), 150)
    assert decoded.shape == smooth.shape
    assert np.abs(decoded.astype(int) - smooth).mean() < 6


def test_file_round_trip_keeps_labels_and_exact_test_images(tmp_path):
    x_train, x_test = _images(120, 1), _images(30, 2)
    y_train, y_test = np.arange(120) % 10, np.arange(30) % 10
    path = tmp_path / "c.npz"
    gpu_data.write_file(path, x_train, y_train, x_test, y_test, "synthetic")
    arrays = gpu_data.load(path)
    np.testing.assert_array_equal(arrays["x_test"], x_test)
    np.testing.assert_array_equal(arrays["y_train"], y_train)
    np.testing.assert_array_equal(arrays["y_test"], y_test)
    assert arrays["x_train"].shape == x_train.shape
    assert arrays["provenance"] == "synthetic"
    with pytest.raises(FileNotFoundError, match="--prepare-data"):
        gpu_data.load(tmp_path / "missing.npz")


def test_crop_flip_gives_a_zero_padded_crop_or_its_mirror_per_image():
    x = np.random.default_rng(0).uniform(size=(64, 32, 32, 3)).astype(np.float32)
    out = np.asarray(gpu_data.augment(jax.random.key(1), x, "crop_flip"))
    padded = np.pad(x, ((0, 0), (4, 4), (4, 4), (0, 0)))
    offsets, flips = set(), set()
    for i in range(len(x)):
        found = [
            (dy, dx, flip)
            for dy in range(9)
            for dx in range(9)
            for flip in (False, True)
            if np.array_equal(
                out[i],
                padded[i, dy : dy + 32, dx : dx + 32][:, ::-1]
                if flip
                else padded[i, dy : dy + 32, dx : dx + 32],
            )
        ]
        assert found, f"image {i} is no crop of its padded original"
        offsets.add(found[0][:2])
        flips.add(found[0][2])
    assert len(offsets) > 10 and flips == {False, True}  # random per image, not per batch


def test_mixup_makes_convex_combinations_of_two_images():
    values = np.linspace(0.0, 1.0, 32, dtype=np.float32)
    x = np.broadcast_to(values[:, None, None, None], (32, 8, 8, 3)).copy()
    out = np.asarray(gpu_data.augment(jax.random.key(0), x, "none", "mixup"))
    # Constant images stay constant, inside [0, 1], and most of them change.
    assert np.allclose(out, out[:, :1, :1, :1])
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.mean(~np.isclose(out[:, 0, 0, 0], values)) > 0.5
    with pytest.raises(ValueError, match="mixing"):
        gpu_data.augment(jax.random.key(0), x, "none", "cutmix")


def test_device_epochs_are_seeded_and_keep_labels_with_their_images():
    n = 200
    x = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 32, 32, 3))
    data = gpu_data.DeviceData(
        {"x_train": x, "y_train": np.arange(n) % 7, "x_test": x[:10], "y_test": np.zeros(10)}
    )
    xb, yb = data.epoch(seed=3, epoch=0, batch_size=64, augmentation="none")
    assert xb.shape == (3, 64, 32, 32, 3) and yb.shape == (3, 64)  # last partial batch dropped
    index = np.rint(np.asarray(xb)[..., 0, 0, 0] * data.std[0] * 255 + data.mean[0] * 255)
    np.testing.assert_array_equal(index.astype(int) % 7, np.asarray(yb))
    assert len(np.unique(index)) == 192  # a permutation: no image twice
    again, _ = data.epoch(seed=3, epoch=0, batch_size=64, augmentation="none")
    other, _ = data.epoch(seed=3, epoch=1, batch_size=64, augmentation="none")
    np.testing.assert_array_equal(np.asarray(xb), np.asarray(again))
    assert not np.array_equal(np.asarray(xb), np.asarray(other))
    with pytest.raises(ValueError, match="labels=False"):
        next(data.stream(0, 64, "none", "mixup", labels=True))


@pytest.mark.slow
@pytest.mark.tfds("cifar10")
def test_smoke_run_pairs_seeds_and_imports_no_tensorflow(tmp_path):
    data = tmp_path / "cifar10_small.npz"
    gpu_data.prepare(data, "train[:512]", "test[:256]")
    out = tmp_path / "gpu"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.gpu",
            "--preset",
            "smoke",
            "--data",
            str(data),
            "--out",
            str(out),
            "--compile-cache",
            str(tmp_path / "cache"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    from benchmarks.gpu import ARMS, RESULT_KEYS

    assert set(RESULT_KEYS) <= set(results)
    assert results["environment"]["backend"] == "jax"
    assert results["environment"]["tensorflow_imported"] is False
    assert results["seeds"] == [0, 1]
    entry = results["datasets"]["cifar10"]
    assert (entry["train_size"], entry["test_size"]) == (512, 256)
    assert set(entry["methods"]) == set(ARMS)
    checksums = entry["student_init_checksums"]
    assert set(checksums) == {"0", "1"} and checksums["0"] != checksums["1"]
    labels = entry["methods"]["labels"]["accuracy"]
    for arm, record in entry["methods"].items():
        assert [run["seed"] for run in record["runs"]] == [0, 1], arm
        assert len(record["accuracy"]) == 2 and 0.0 <= record["mean"] <= 1.0
        assert len(record["runs"][0]["curves"]["test_accuracy"]) == 1
        assert record["gap_to_teacher"] == pytest.approx(entry["teacher_accuracy"] - record["mean"])
        if arm != "labels":
            per_seed = record["paired_delta_vs_labels"]["per_seed"]
            assert per_seed == pytest.approx([a - b for a, b in zip(record["accuracy"], labels)])
    assert entry["teacher_minus_labels"] == pytest.approx(
        entry["teacher_accuracy"] - np.mean(labels)
    )
    assert results["arms"]["anc"]["global_clipnorm"] == 10.0
    assert results["arms"]["labels"]["global_clipnorm"] is None
    table = (out / "results.md").read_text()
    assert "| anc_fm_mixup | no | aggressive + mixup |" in table
    assert "Teacher − labelled student" in table
