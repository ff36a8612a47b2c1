"""CIFAR-10 for the GPU benchmark: a compact file to carry, and batches made on the device.

The GPU machine has JAX but no TensorFlow, so `tfds` cannot read CIFAR-10 there. `prepare()`
runs beside TFDS (with TensorFlow), reads `tfds.load("cifar10")` from `TFDS_DATA_DIR` and
writes one `.npz` file: the training images as JPEG mosaics (quality 90, no chroma
subsampling: 100 x 100 tiles of 32 x 32 per 10,000 images, so JPEG's 8 x 8 blocks never
straddle two images) and the test images as lossless PNG mosaics. `load()` decodes it with
Pillow and NumPy only. All 60,000 images take ~52 MB (train ~30 MB, test ~22 MB): lossless
PNG for all of them would be ~130 MB, over the device tool's 64 MiB limit on what travels.
The training images differ from the originals by a mean absolute error of ~3 / 255 per pixel
value (stored in the file as `train_mean_abs_error`); test accuracy is measured on the exact
test images.

On the device, `DeviceData` holds the images in device memory and `epoch_batches` makes one
epoch of batches in one jitted JAX function: a seeded shuffle, the augmentation (4-pixel
zero pad + random crop + horizontal flip, or function matching's aggressive recipe), the
mixing (mixup) and the per-channel standardisation. The same `(seed, epoch)` gives the same
batches to every method: the comparison is paired.
"""

import io
import os
import pathlib
import secrets

import numpy as np

# Where `prepare()` writes by default, relative to the repository root (ignored by git; the
# device call carries it with `carry=[".gpu_data"]`).
DEFAULT_FILE = pathlib.Path(".gpu_data") / "cifar10.npz"
TRAIN_QUALITY = 90
_COLS = 100  # tiles per mosaic row
_TILES = 10_000  # images per mosaic
AUGMENTATIONS = ("none", "crop_flip", "aggressive")
MIXINGS = (None, "mixup")
# Function matching's aggressive recipe, as `keras_anc.data.aggressive_augmentation` gives it
# for 32 x 32 colour images: pad 4 + crop, flip, zoom up to 25% in or out, rotation up to
# 0.04 of a turn. Implemented here in JAX (one affine map per image, bilinear, zero fill).
AGGRESSIVE = {"pad": 4, "zoom": 0.25, "rotation": 0.04}


def _mosaic(images):
    n, h, w, c = images.shape
    rows = -(-n // _COLS)
    padded = np.zeros((rows * _COLS, h, w, c), np.uint8)
    padded[:n] = images
    return (
        padded.reshape(rows, _COLS, h, w, c)
        .transpose(0, 2, 1, 3, 4)
        .reshape(rows * h, _COLS * w, c)
    )


def _unmosaic(mosaic, count, size=32):
    rows = mosaic.shape[0] // size
    tiles = mosaic.reshape(rows, size, _COLS, size, -1).transpose(0, 2, 1, 3, 4)
    return tiles.reshape(rows * _COLS, size, size, -1)[:count]


def encode(images, lossless):
    """Encodes uint8 images `(n, 32, 32, 3)` as a list of mosaics (PNG or JPEG bytes).

    Args:
        images: uint8 array of shape `(n, height, width, channels)`.
        lossless: PNG if `True`, else JPEG of quality `TRAIN_QUALITY` with 4:4:4 chroma.

    Returns:
        A list of `bytes`, one per `_TILES` images.

    Example:

    ```python
    blobs = encode(np.zeros((10, 32, 32, 3), np.uint8), lossless=True)
    decode(blobs, 10).shape  # (10, 32, 32, 3)
    ```
    """
    from PIL import Image

    blobs = []
    for start in range(0, len(images), _TILES):
        buffer = io.BytesIO()
        picture = Image.fromarray(_mosaic(images[start : start + _TILES]))
        if lossless:
            picture.save(buffer, "PNG", optimize=True)
        else:
            picture.save(buffer, "JPEG", quality=TRAIN_QUALITY, subsampling=0)
        blobs.append(buffer.getvalue())
    return blobs


def decode(blobs, count):
    """Decodes the mosaics of `encode` back to `count` uint8 images."""
    from PIL import Image

    parts = []
    for index, blob in enumerate(blobs):
        mosaic = np.asarray(Image.open(io.BytesIO(bytes(blob))).convert("RGB"))
        parts.append(_unmosaic(mosaic, min(_TILES, count - index * _TILES)))
    return np.concatenate(parts)


def write_file(path, x_train, y_train, x_test, y_test, provenance):
    """Writes the compact file (atomically) and returns the decoded training images' error."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    train_blobs, test_blobs = encode(x_train, lossless=False), encode(x_test, lossless=True)
    error = float(np.abs(decode(train_blobs, len(x_train)).astype(int) - x_train).mean())
    arrays = {
        "train_labels": np.asarray(y_train, np.uint8),
        "test_labels": np.asarray(y_test, np.uint8),
        "train_mean_abs_error": np.float64(error),
        "provenance": np.array(provenance),
    }
    arrays.update({f"train_{i}": np.frombuffer(b, np.uint8) for i, b in enumerate(train_blobs)})
    arrays.update({f"test_{i}": np.frombuffer(b, np.uint8) for i, b in enumerate(test_blobs)})
    tmp = path.parent / f".{path.stem}-{os.getpid()}-{secrets.token_hex(4)}.npz"
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return error


def prepare(path=DEFAULT_FILE, train_split="train", test_split="test"):
    """Reads CIFAR-10 with `tfds.load` (from `TFDS_DATA_DIR`) and writes the compact file.

    Needs TensorFlow and tensorflow-datasets (run it where TFDS is, not on the GPU machine).

    Args:
        path: Where to write the `.npz` file.
        train_split: TFDS split of the training images (e.g. `"train[:512]"` for tests).
        test_split: TFDS split of the test images.

    Returns:
        `(path, size_in_bytes, train_mean_abs_error)`.

    Example:

    ```python
    prepare(".gpu_data/cifar10.npz")  # ~52 MB, ~40 s on 2 CPU cores
    ```
    """
    import tensorflow_datasets as tfds

    def split(name):
        images, labels = tfds.as_numpy(
            tfds.load("cifar10", split=name, batch_size=-1, as_supervised=True)
        )
        return images.astype(np.uint8), labels.astype(np.uint8)

    (x_train, y_train), (x_test, y_test) = split(train_split), split(test_split)
    builder = tfds.builder("cifar10")
    provenance = (
        f"tfds cifar10 {builder.version}, splits {train_split!r} and {test_split!r}, from "
        f"{os.environ.get('TFDS_DATA_DIR', '~/tensorflow_datasets')}; train JPEG "
        f"q{TRAIN_QUALITY} 4:4:4 mosaics, test PNG mosaics"
    )
    error = write_file(path, x_train, y_train, x_test, y_test, provenance)
    return pathlib.Path(path), pathlib.Path(path).stat().st_size, error


def load(path=DEFAULT_FILE):
    """Reads the compact file: `{"x_train", "y_train", "x_test", "y_test", ...}` (uint8).

    Uses NumPy and Pillow only (no TensorFlow).
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"No CIFAR-10 file at {str(path)!r}. Write it where TFDS is with "
            "`python -m benchmarks.gpu --prepare-data` (reads TFDS_DATA_DIR), and carry "
            "its folder to the GPU machine."
        )
    with np.load(path) as f:
        y_train, y_test = f["train_labels"].astype(np.int32), f["test_labels"].astype(np.int32)
        train = [f[f"train_{i}"] for i in range(-(-len(y_train) // _TILES))]
        test = [f[f"test_{i}"] for i in range(-(-len(y_test) // _TILES))]
        return {
            "x_train": decode(train, len(y_train)),
            "y_train": y_train,
            "x_test": decode(test, len(y_test)),
            "y_test": y_test,
            "train_mean_abs_error": float(f["train_mean_abs_error"]),
            "provenance": str(f["provenance"]),
            "file_bytes": path.stat().st_size,
        }


# ----------------------------------------------------------------------------- on the device


def _crop_flip(key, x, pad):
    import jax
    import jax.numpy as jnp

    n, h, w, c = x.shape
    k_y, k_x, k_flip = jax.random.split(key, 3)
    dy = jax.random.randint(k_y, (n,), 0, 2 * pad + 1)
    dx = jax.random.randint(k_x, (n,), 0, 2 * pad + 1)
    padded = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    crops = jax.vmap(lambda im, a, b: jax.lax.dynamic_slice(im, (a, b, 0), (h, w, c)))(
        padded, dy, dx
    )
    flip = jax.random.bernoulli(k_flip, 0.5, (n,))[:, None, None, None]
    return jnp.where(flip, crops[:, :, ::-1, :], crops)


def _affine(key, x, pad, zoom, rotation):
    """Per image: flip, zoom, rotation and an integer shift, sampled bilinearly, zero fill."""
    import jax
    import jax.numpy as jnp

    n, h, w, c = x.shape
    keys = jax.random.split(key, 5)
    scale = 1.0 + jax.random.uniform(keys[0], (n,), minval=-zoom, maxval=zoom)
    angle = jax.random.uniform(keys[1], (n,), minval=-rotation, maxval=rotation) * 2 * jnp.pi
    shift = jax.random.randint(keys[2], (n, 2), -pad, pad + 1).astype(jnp.float32)
    flip = jnp.where(jax.random.bernoulli(keys[3], 0.5, (n,)), -1.0, 1.0)
    rows, cols = jnp.meshgrid(
        jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij"
    )
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0

    def warp(image, s, a, t, f):
        # Output pixel p comes from source = R(-a) (p - centre - t) / s + centre, x flipped.
        y, xx = rows - cy - t[0], (cols - cx - t[1]) * f
        cos, sin = jnp.cos(a), jnp.sin(a)
        src_y = (cos * y - sin * xx) / s + cy
        src_x = (sin * y + cos * xx) / s + cx
        channels = [
            jax.scipy.ndimage.map_coordinates(image[..., k], [src_y, src_x], order=1, cval=0.0)
            for k in range(c)
        ]
        return jnp.stack(channels, axis=-1)

    return jax.vmap(warp)(x, scale, angle, shift, flip)


def _mixup(key, x):
    import jax

    k_w, k_p = jax.random.split(key)
    weight = jax.random.beta(k_w, 1.0, 1.0, (x.shape[0], 1, 1, 1))
    partner = x[jax.random.permutation(k_p, x.shape[0])]
    return weight * x + (1.0 - weight) * partner


def augment(key, x, augmentation="crop_flip", mixing=None):
    """Augments (and mixes) a batch of float images in [0, 1] with JAX ops.

    Args:
        key: A JAX PRNG key.
        x: float32 array `(n, height, width, channels)` of raw pixel values in [0, 1].
        augmentation: `"none"`, `"crop_flip"` (4-pixel zero pad + random crop + horizontal
            flip) or `"aggressive"` (`AGGRESSIVE`: also zoom and rotation).
        mixing: `None` or `"mixup"` (each image becomes `w x_i + (1 - w) x_j`, `w ~ U(0, 1)`,
            `j` a random partner).

    Returns:
        The augmented batch, same shape and dtype.

    Example:

    ```python
    out = augment(jax.random.key(0), images, "crop_flip")
    ```
    """
    import jax

    if augmentation not in AUGMENTATIONS:
        raise ValueError(
            f"Unknown augmentation. Use one of {AUGMENTATIONS}. Received: "
            f"`augmentation={augmentation!r}`."
        )
    if mixing not in MIXINGS:
        raise ValueError(f"Unknown mixing. Use one of {MIXINGS}. Received: `mixing={mixing!r}`.")
    k_aug, k_mix = jax.random.split(key)
    if augmentation == "crop_flip":
        x = _crop_flip(k_aug, x, 4)
    elif augmentation == "aggressive":
        x = _affine(k_aug, x, **AGGRESSIVE)
    if mixing == "mixup":
        x = _mixup(k_mix, x)
    return x


class DeviceData:
    """CIFAR-10 in device memory: uint8 training images, standardised test images.

    Args:
        arrays: The dict of `load()` (or any dict with the same four uint8/int arrays).

    Example:

    ```python
    data = DeviceData(load(".gpu_data/cifar10.npz"))
    x, y = data.epoch(seed=0, epoch=0, batch_size=512)  # (97, 512, 32, 32, 3), (97, 512)
    ```
    """

    def __init__(self, arrays):
        import jax.numpy as jnp

        x_train = arrays["x_train"]
        self.mean = (x_train.reshape(-1, x_train.shape[-1]) / 255.0).mean(axis=0)
        self.std = (x_train.reshape(-1, x_train.shape[-1]) / 255.0).std(axis=0)
        self.x_train = jnp.asarray(x_train)
        self.y_train = jnp.asarray(arrays["y_train"], jnp.int32)
        self.x_test = jnp.asarray(self.standardize(arrays["x_test"] / 255.0), jnp.float32)
        self.y_test = np.asarray(arrays["y_test"])
        self.num_train = len(x_train)
        self.image_shape = tuple(x_train.shape[1:])
        self._epoch_fns = {}

    def standardize(self, x):
        return (x - self.mean.astype(np.float32)) / self.std.astype(np.float32)

    def epoch(self, seed, epoch, batch_size, augmentation="crop_flip", mixing=None):
        """One epoch of shuffled, augmented, standardised batches: `(steps, batch, ...)`.

        The last partial batch is dropped (every batch has one shape: one compiled step).
        """
        import jax
        import jax.numpy as jnp

        steps = self.num_train // batch_size
        if steps < 1:
            raise ValueError(
                f"`batch_size` must be at most the number of training images "
                f"({self.num_train}). Received: `batch_size={batch_size}`."
            )
        signature = (steps, batch_size, augmentation, mixing)
        if signature not in self._epoch_fns:
            mean, std = jnp.asarray(self.mean, jnp.float32), jnp.asarray(self.std, jnp.float32)

            def make(key, x_all, y_all):
                k_perm, k_aug = jax.random.split(key)
                order = jax.random.permutation(k_perm, x_all.shape[0])[: steps * batch_size]
                x = x_all[order].astype(jnp.float32) / 255.0
                x = (augment(k_aug, x, augmentation, mixing) - mean) / std
                return (
                    x.reshape((steps, batch_size) + x.shape[1:]),
                    y_all[order].reshape(steps, batch_size),
                )

            self._epoch_fns[signature] = jax.jit(make)
        key = jax.random.fold_in(jax.random.key(seed), epoch)
        return self._epoch_fns[signature](key, self.x_train, self.y_train)

    def stream(self, seed, batch_size, augmentation="crop_flip", mixing=None, labels=True):
        """An endless generator of batches for `fit(..., steps_per_epoch=...)`.

        Yields `(x, y)` with labels, `(x,)` without; every batch stays on the device.
        """
        if mixing is not None and labels:
            raise ValueError(
                f"`mixing={mixing!r}` mixes images, so labels would not match them: pass "
                "`labels=False` (a teacher gives the targets)."
            )
        epoch = 0
        while True:
            x, y = self.epoch(seed, epoch, batch_size, augmentation, mixing)
            for step in range(x.shape[0]):
                yield (x[step], y[step]) if labels else (x[step],)
            epoch += 1
