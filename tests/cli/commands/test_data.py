"""`keras-anc data prepare` / `data list`: preparing TFDS data offline, seeing what is there."""

import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_anc import data
from keras_anc.cli import main as cli


def _run(capsys, *argv):
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


class KerasAncToyDigits(tfds.core.GeneratorBasedBuilder):
    """A TFDS data set prepared only from a manually downloaded file, as offline users do."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Place toy_digits.npz in the manual folder."

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(28, 28, 1)),
                    "label": tfds.features.ClassLabel(num_classes=10),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        path = os.path.join(dl_manager.manual_dir, "toy_digits.npz")
        return {split: self._generate_examples(path, split) for split in ("train", "test")}

    def _generate_examples(self, path, split):
        with np.load(path) as arrays:
            images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        for i, (image, label) in enumerate(zip(images, labels)):
            yield i, {"image": image, "label": int(label)}


def test_prepare_from_downloaded_files_then_list(tmp_path, capsys):
    downloads, data_dir = tmp_path / "downloads", tmp_path / "tfds"
    downloads.mkdir()
    rng = np.random.default_rng(0)
    np.savez(
        downloads / "toy_digits.npz",
        x_train=rng.integers(0, 256, (40, 28, 28, 1), dtype=np.uint8),
        y_train=rng.integers(0, 10, 40),
        x_test=rng.integers(0, 256, (20, 28, 28, 1), dtype=np.uint8),
        y_test=rng.integers(0, 10, 20),
    )
    name = "keras_anc_toy_digits"
    status, out, err = _run(
        capsys, "data", "prepare", name, "--from", str(downloads), "--data-dir", str(data_dir)
    )
    assert status == 0, err
    assert f"'{name}' is prepared in {data_dir / name / '1.0.0'}." in out
    assert f"keras-anc distill --dataset {name} --data-dir {data_dir}" in out
    assert data.is_prepared(name, data_dir=str(data_dir))
    images, labels = next(iter(data.raw(name, "test", data_dir=str(data_dir)).batch(20)))
    assert images.shape == (20, 28, 28, 1) and labels.shape == (20,)

    status, out, _ = _run(capsys, "data", "prepare", name, "--data-dir", str(data_dir))
    assert status == 0 and "is already prepared" in out

    status, out, _ = _run(capsys, "data", "list", "--data-dir", str(data_dir))
    assert status == 0
    assert f"TFDS data directory: {data_dir} (from --data-dir)" in out
    assert [line.split()[:2] for line in out.splitlines() if line.startswith(name)] == [
        [name, "1.0.0"]
    ]
    assert "train 40, test 20" in out
    assert "Not prepared there: mnist, fashion_mnist, cifar10, cifar100, svhn_cropped" in out


def test_prepare_names_the_files_a_from_folder_lacks(tmp_path, capsys):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / "train-images-idx3-ubyte.gz").write_bytes(b"")
    data_dir = tmp_path / "tfds"
    status, _, err = _run(
        capsys, "data", "prepare", "mnist", "--from", str(downloads), "--data-dir", str(data_dir)
    )
    assert status == 2
    [line] = err.strip().splitlines()
    assert line.startswith(
        f"keras-anc data prepare: error: --from {downloads} lacks t10k-images-idx3-ubyte.gz, "
        "t10k-labels-idx1-ubyte.gz, train-labels-idx1-ubyte.gz, the files TFDS prepares 'mnist'"
    )
    assert "https://" in line
    assert not data_dir.exists()


def test_prepare_without_network_says_how_to_prepare_offline(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KERAS_ANC_OFFLINE", "1")  # as without network, decided at once
    data_dir = tmp_path / "tfds"
    status, _, err = _run(capsys, "data", "prepare", "mnist", "--data-dir", str(data_dir))
    assert status == 2
    [line] = err.strip().splitlines()
    assert "Cannot download 'mnist': downloads are off (KERAS_ANC_OFFLINE is set)" in line
    assert f"`keras-anc data prepare mnist --data-dir {data_dir} --from FOLDER`" in line
    assert "train-images-idx3-ubyte.gz" in line
    assert not data_dir.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["data", "prepare", "mnsit"], "Unknown dataset name 'mnsit' (did you mean 'mnist'?)"),
        (["data", "prepare", "mnist", "--from", "/no/such/folder"], "--from must be an existing"),
    ],
)
def test_prepare_errors_are_one_line_in_cli_terms(argv, message, capsys, tmp_path):
    status, _, err = _run(capsys, *argv, "--data-dir", str(tmp_path / "tfds"))
    assert status == 2
    [line] = err.strip().splitlines()
    assert message in line
    assert "data_dir=" not in line and "manual_dir" not in line


def test_the_embedded_sample_needs_no_preparation(capsys):
    status, out, _ = _run(capsys, "data", "prepare", "mnist_sample")
    assert status == 0 and "nothing to prepare" in out
