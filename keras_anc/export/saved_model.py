"""Versioned TensorFlow SavedModel export of a student, laid out for TensorFlow Serving.

TF-Serving watches a model base path and loads its numeric version directories
(`path/1/saved_model.pb`, `path/2/...`). `export_student()` writes the next version there, through
a hidden temporary directory that is renamed into place, so a watching server never loads a
half-written version. Concurrent exports each claim their own version (an exclusively created
`.claim-<n>` file), and a replaced version is swapped in one step, so a complete version is in
place at every instant. Only the student's variables are saved.

Reference:
    [TF-Serving: serving a TensorFlow model](https://www.tensorflow.org/tfx/serving/serving_basic)
"""

import contextlib
import ctypes
import errno
import numbers
import os
import pathlib
import re
import shutil
import socket
import sys
import uuid

import keras

from keras_anc.errors import require_tensorflow
from keras_anc.export.signature import SIGNATURE_KEY, ServingPlan, resolve_signature
from keras_anc.export.warmup import resolve_warmup, warmup_batches, write_warmup_file

_VERSION_RE = re.compile(r"[0-9]+")
_TMP_PREFIX = ".tmp-export-"
_CLAIM_PREFIX = ".claim-"


def existing_versions(path):
    """Lists the numeric version directories under a TF-Serving model base path.

    Args:
        path: the model base path (the directory that holds `1/`, `2/`, ...).

    Returns:
        Sorted list of ints; empty if `path` does not exist. Non-numeric entries (including
        the hidden temporary directories used while exporting) are ignored, as TF-Serving
        ignores them.

    Example:

    ```python
    keras_anc.export.existing_versions("models/student")  # [1, 2, 7]
    ```
    """
    path = pathlib.Path(path)
    if not path.is_dir():
        return []
    return sorted(
        int(p.name) for p in path.iterdir() if p.is_dir() and _VERSION_RE.fullmatch(p.name)
    )


def write_saved_model(plan, directory):
    """Writes the `serving_default` SavedModel of `plan` into `directory`.

    Only the variables of the model (and of a preprocessing layer, if any) are saved, each
    once. Used by `export_student()` and, as the converter's input, by `export_tflite()`.

    Args:
        plan: a `ServingPlan`.
        directory: an empty or missing directory.

    Example:

    ```python
    write_saved_model(ServingPlan(student, ServingSignature()), tmp_dir)
    ```
    """
    tf = require_tensorflow("Writing a SavedModel")
    archive = keras.export.ExportArchive()
    tracked = [plan.model]
    if plan.preprocessing_layer is not None:
        tracked.append(plan.preprocessing_layer)
    for layer in tracked:
        archive.track(layer)

    # `track()` lists the Keras variable wrappers while the endpoint captures the
    # `tf.Variable`s inside them; both would be written to the checkpoint, doubling the
    # size of `variables/`. List the wrapped `tf.Variable`s so each weight is stored once.
    def unwrap(v):
        value = getattr(v, "value", None)
        return value if isinstance(value, tf.Variable) else v

    for collection in ("variables", "trainable_variables", "non_trainable_variables"):
        archive.add_variable_collection(
            collection, [unwrap(v) for layer in tracked for v in getattr(layer, collection)]
        )
    archive.add_endpoint(SIGNATURE_KEY, plan.serve, input_signature=[plan.input_spec])
    archive.write_out(str(directory), verbose=False)


def _validate_version(version):
    if isinstance(version, bool) or not isinstance(version, (numbers.Integral, str)):
        raise ValueError(
            "`version` must be a positive integer (TF-Serving loads numeric version "
            f"directories), or None to use the next free version. Received: `version={version!r}`."
        )
    if isinstance(version, str) and not _VERSION_RE.fullmatch(version):
        raise ValueError(
            "`version` must be a positive integer such as 1 or '3', or None to use the "
            f"next free version. Received: `version={version!r}`."
        )
    version = int(version)
    if version <= 0:
        raise ValueError(
            "`version` must be a positive integer (1, 2, ...), or None to use the next free "
            f"version. Received: `version={version}`."
        )
    return version


def _check_base_path(path):
    path = pathlib.Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(
            f"Export path '{path}' exists and is a file. `path` is the model base directory "
            "that TF-Serving watches (versions are written to `path/1`, `path/2`, ...): pass a "
            f"directory path, or remove the file. Received: `path='{path}'`."
        )
    return path


def export_student(
    model,
    path,
    version=None,
    *,
    signature=None,
    overwrite=False,
    warmup=None,
    warmup_examples=None,
    num_warmup_records=10,
    warmup_batch_size=1,
    **signature_options,
):
    """Exports a student model as a versioned SavedModel for TensorFlow Serving.

    The SavedModel is written to `path/<version>/` (`saved_model.pb`, `variables/` and,
    with warm-up, `assets.extra/tf_serving_warmup_requests`), the layout TF-Serving polls for
    new versions. It is written to a hidden temporary directory beside the target and renamed
    into place, so a watching server never sees a half-written version. Only the variables of
    `model` (and of a `preprocessing` layer, if any) are saved; a teacher or discriminator that
    trained it is not part of the artefact.

    The `serving_default` signature (input `"images"`, outputs `"logits"`, `"probabilities"`,
    `"class_id"` and optionally `"class_name"`) is described by `signature`; see
    `keras_anc.export.ServingSignature` for the input contract and the baked-in preprocessing.

    Args:
        model: a built Keras classifier (the student) with one image input and one
            `(batch, num_classes)` output. Pass `distiller.student`, not the distiller.
        path: model base directory, e.g. `"models/student"`. Created if missing. Must not be a
            file.
        version: positive integer version. Defaults to `None`: one more than the largest
            numeric version directory in `path`, or 1. The number is claimed atomically
            when the export is complete, so concurrent exports to the same `path` each get
            their own version and none is lost.
        signature: a `keras_anc.export.ServingSignature`. Defaults to `None`: the signature
            built from `**signature_options` (all defaults when there are none).
        overwrite: if the explicit `version` already exists, replace it. The new version
            is written beside it and the two are swapped in one step (Linux, macOS), so a
            complete version is in place at every instant. Defaults to `False`, which raises
            `FileExistsError`. With `version=None` nothing is ever replaced.
        warmup: whether to write the TF-Serving warm-up file. `None` (default) writes it when
            `tensorflow-serving-api` is installed and warns otherwise; `True` requires it;
            `False` skips it.
        warmup_examples: optional array of example inputs, shape `(N, H, W, C)` in the
            signature's dtype (raw `uint8` images when preprocessing is baked in), used for
            the warm-up requests. Defaults to zeros.
        num_warmup_records: number of warm-up requests. Defaults to 10.
        warmup_batch_size: batch size of each warm-up request. Defaults to 1.
        **signature_options: the `ServingSignature` fields (`class_names`, `preprocessing`,
            `input_dtype`, `input_shape`, `from_logits`), as a shorthand for
            `signature=ServingSignature(...)`. Cannot be combined with `signature`.

    Returns:
        `pathlib.Path` of the exported version directory, e.g. `models/student/3`.

    Raises:
        ValueError: the model is not built, is a distiller, or is not a `(batch, classes)`
            classifier; `version` is not a positive integer; the signature or the warm-up
            options are inconsistent with the model.
        FileExistsError: `path/<version>` exists and `overwrite=False`.
        NotADirectoryError: `path` is an existing file.
        ImportError: a warm-up file was requested but `tensorflow-serving-api` is missing.
        keras_anc.errors.UnsupportedBackendError: TensorFlow is not installed or is not the
            Keras backend.

    Example:

    ```python
    version_dir = keras_anc.export.export_student(
        distiller.student,
        "models/cifar_student",
        signature=keras_anc.export.ServingSignature(
            class_names=ds_info.features["label"].names,
            preprocessing={"mean": [0.4914, 0.4822, 0.4465], "std": [0.247, 0.243, 0.261]},
        ),
        warmup_examples=raw_test_images[:10],
    )
    # docker run -p 8501:8501 -v $PWD/models/cifar_student:/models/student \\
    #     -e MODEL_NAME=student tensorflow/serving
    ```
    """
    signature = resolve_signature(signature, signature_options, "export_student")
    path = _check_base_path(path)
    if version is not None:
        version = _validate_version(version)
    write_warmup = resolve_warmup(warmup, warmup_examples, num_warmup_records, warmup_batch_size)
    plan = ServingPlan(model, signature)
    if write_warmup:
        # Validate the examples before anything is written.
        next(warmup_batches(plan, warmup_examples, 1, 1))
    if version is not None:
        target = path / str(version)
        if target.exists() and not overwrite:
            raise FileExistsError(
                f"Version {version} already exists at '{target}'. Pass `version=None` to "
                "export the next free version, another `version`, or `overwrite=True` to "
                "replace it."
            )

    path.mkdir(parents=True, exist_ok=True)
    # A hidden, non-numeric name: TF-Serving ignores it until it is renamed to `<version>`.
    # (Not `tempfile.mkdtemp`: its 0700 mode would hide the version from a server running
    # as another user; `os.mkdir` honours the umask.)
    tmp_dir = path / f"{_TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    os.mkdir(tmp_dir)
    try:
        write_saved_model(plan, tmp_dir)
        if write_warmup:
            write_warmup_file(
                plan,
                tmp_dir,
                model_name=path.resolve().name,
                warmup_examples=warmup_examples,
                num_records=int(num_warmup_records),
                batch_size=int(warmup_batch_size),
            )
        if version is None:
            return _publish_next_version(tmp_dir, path)
        _move_into_place(tmp_dir, target, overwrite=overwrite)
    finally:
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir, ignore_errors=True)
    return target


def _claimed_versions(path):
    """Versions claimed by exports in progress (their `.claim-<n>` files)."""
    claimed = []
    for p in path.iterdir():
        number = p.name[len(_CLAIM_PREFIX) :]
        if p.name.startswith(_CLAIM_PREFIX) and _VERSION_RE.fullmatch(number):
            claimed.append(int(number))
    return claimed


def _publish_next_version(tmp_dir, path):
    """Moves the finished export `tmp_dir` to the next free version of `path`; returns it.

    Safe with concurrent exporters, in threads or processes (also on other machines
    sharing the folder, where the file system honours exclusive creation): each version is
    claimed by creating the hidden file `path/.claim-<n>` exclusively (`O_CREAT | O_EXCL`)
    before the rename, so two exports never pick the same number, and an export that finds
    its number taken (e.g. by an export with an explicit `version`) claims the next one. No
    export is lost and none replaces another. The claim is removed once the version
    exists. A process killed between claiming and renaming leaves its claim file behind;
    that number is then skipped (a gap, which TF-Serving does not mind).

    Args:
        tmp_dir: The complete SavedModel, in a hidden folder inside `path`.
        path: The model base path.

    Returns:
        The `pathlib.Path` of the new version directory.

    """
    path = pathlib.Path(path)
    while True:
        version = max(existing_versions(path) + _claimed_versions(path), default=0) + 1
        claim = path / f"{_CLAIM_PREFIX}{version}"
        try:
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue  # another export claimed it first
        os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
        os.close(fd)
        target = path / str(version)
        try:
            if target.exists():
                continue  # written meanwhile with an explicit `version`
            try:
                os.rename(tmp_dir, target)
            except OSError:
                if target.exists():
                    continue  # appeared between the check and the rename
                raise
            return target
        finally:
            with contextlib.suppress(OSError):
                os.unlink(claim)


def _exchange(a, b):
    """Swaps two paths in one atomic step; `False` where the platform cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        at_fdcwd, rename_exchange = -100, 2
        result = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        result = libc.renamex_np(os.fsencode(a), os.fsencode(b), 0x2)  # RENAME_SWAP
    else:
        return False
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False  # not supported by this kernel or file system
    raise OSError(code, os.strerror(code), str(b))


def _move_into_place(tmp_dir, target, overwrite):
    """Renames the finished `tmp_dir` to `target` (replacing it only if `overwrite`).

    A replacement swaps the two folders in one step where the platform can (Linux
    `renameat2(RENAME_EXCHANGE)`, macOS `renamex_np(RENAME_SWAP)`), so a complete version
    is in place at every instant; elsewhere it falls back to two renames, with a short
    moment in between when the version is absent.
    """
    if target.exists():
        if not overwrite:  # Appeared while we were exporting.
            raise FileExistsError(
                f"Version directory '{target}' was created by someone else during the export. "
                "Export again with `version=None` or `overwrite=True`."
            )
        if _exchange(tmp_dir, target):
            shutil.rmtree(tmp_dir, ignore_errors=True)  # now the previous version
            return
        old = target.parent / f".old-{target.name}-{uuid.uuid4().hex[:8]}"
        os.rename(target, old)
        os.rename(tmp_dir, target)
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        os.rename(tmp_dir, target)
    except OSError as e:
        raise FileExistsError(
            f"Could not move the export into '{target}' ({e}). Another process may have "
            "created it; export again with `version=None` or `overwrite=True`."
        ) from e
