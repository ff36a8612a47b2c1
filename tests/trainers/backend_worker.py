"""Runs keras-anc under one Keras backend, for tests/trainers/test_cross_backend.py.

The Keras backend is fixed per process, so the cross-backend tests start this script with
`KERAS_BACKEND` set and compare what it writes. One process runs the tasks it is given, in
order (each start of Python with a Keras backend costs seconds):

    python backend_worker.py DIR imports          # DIR/imports_<backend>.json
    python backend_worker.py DIR train            # DIR/<backend>.json, .npz, .keras files
    python backend_worker.py DIR resume=SOURCE    # loads DIR/distiller_<SOURCE>.keras
    python backend_worker.py DIR imports train resume=tensorflow

`imports` must come first: it checks what importing keras-anc loads in a fresh process.
`train` runs the README example on the embedded MNIST sample (label-free `fit` with
validation and callbacks, `.keras` round trip, continued training), the deterministic
equivalence run, the share of relabelled samples and one epoch of every method. The
first `train` run (TensorFlow) also writes the teacher and the student's initial weights
that the others load, so every backend distils the same teacher into the same student.
"""

import json
import os
import sys
import time

BACKEND = os.environ["KERAS_BACKEND"]
# Divides the sample's 6,000 training and 1,000 test images: one compiled step per shape.
BATCH = 100
EPOCHS = 4


def imports(out):
    import keras_anc

    for name in (
        "AdversarialDistiller",
        "DiscriminatorTap",
        "MimicDistiller",
        "HintDistiller",
        "MLPDiscriminator",
    ):
        getattr(keras_anc, name)
    for name in ("callbacks", "discriminator", "distillers", "layers", "losses", "methods"):
        getattr(keras_anc, name)
    keras_anc.models.get_model("lenet5", num_classes=10)
    facts = {"tensorflow_imported": "tensorflow" in sys.modules, "backend": _backend()}
    _write_json(out, facts)


def _backend():
    import keras

    return keras.backend.backend()


# ---------------------------------------------------------------------- models


def _mlp(hidden, name, input_shape, num_classes):
    import keras

    inputs = keras.Input(input_shape)
    h = keras.layers.Flatten()(inputs)
    for i, units in enumerate(hidden):
        last = i == len(hidden) - 1
        h = keras.layers.Dense(units, activation="relu", name="features" if last else None)(h)
    outputs = keras.layers.Dense(num_classes, name="logits")(h)
    return keras.Model(inputs, outputs, name=name)


def _set_numpy_weights(model, seed, scale=0.3):
    """Same initial weights on every backend (Keras' initializers draw per backend)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    model.set_weights(
        [rng.normal(0.0, scale, w.shape).astype("float32") for w in model.get_weights()]
    )
    return model


def _weights(model):
    import keras

    return {f"{model.name}/{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.weights)}


# ---------------------------------------------------------------------- train


def train(directory):
    import keras
    import numpy as np

    facts = {"backend": BACKEND}
    arrays = {}
    start = time.time()
    facts.update(_equivalence(arrays))
    facts["relabelled_share"] = _relabelled_share()
    facts["methods"] = _methods()
    facts.update(_readme_example(directory, arrays))
    facts["seconds"] = time.time() - start
    facts["tensorflow_imported"] = "tensorflow" in sys.modules
    np.savez(os.path.join(directory, f"{BACKEND}.npz"), **arrays)
    _write_json(os.path.join(directory, f"{BACKEND}.json"), facts)
    del keras


def _equivalence(arrays):
    """A few steps with every random draw neutralised; the weights must agree."""
    import keras
    import numpy as np

    import keras_anc

    rng = np.random.default_rng(0)
    x = rng.normal(size=(192, 12)).astype("float32")
    teacher = _set_numpy_weights(_mlp([24, 16], "teacher", (12,), 5), seed=1)
    student = _set_numpy_weights(_mlp([8], "student", (12,), 5), seed=2)
    discriminator = keras_anc.MLPDiscriminator(hidden_units=(16, 8))
    discriminator.build((None, 16))
    _set_numpy_weights(discriminator, seed=3)
    distiller = keras_anc.AdversarialDistiller(
        teacher,
        student,
        discriminator=discriminator,
        teacher_layer="features",
        student_layer="features",  # 8 -> 16: a student projection is trained too
        adversarial_sample_rate=0.0,
        input_noise_stddev=0.0,
        discriminator_steps=2,
        seed=0,
    )
    _set_numpy_weights(distiller.student_projection, seed=4)
    distiller.compile(
        student_optimizer=keras.optimizers.Adam(1e-2),
        discriminator_optimizer=keras.optimizers.Adam(1e-3),
    )
    history = distiller.fit(x, batch_size=32, epochs=1, shuffle=False, verbose=0)
    for model in (student, discriminator, distiller.student_projection):
        for key, value in _weights(model).items():
            arrays[f"equivalence/{key}"] = value
    return {
        "equivalence/history": {k: float(v[-1]) for k, v in history.history.items()},
        "equivalence/discriminator_iterations": int(
            keras.ops.convert_to_numpy(distiller.discriminator_optimizer.iterations)
        ),
    }


def _relabelled_share(rate=0.1, samples=20000, batch=500, logit=1.0):
    """The share of student samples D is told are teacher's, read from D's loss.

    D outputs the constant `logit` (zero kernel, bias `logit`, learning rate 0), so its
    mean loss is `(2 softplus(c) - c - share * c) / 2`, which gives the share.
    """
    import keras
    import numpy as np

    import keras_anc

    x = np.random.default_rng(0).normal(size=(samples, 6)).astype("float32")
    teacher = _set_numpy_weights(_mlp([8], "teacher", (6,), 3), seed=1)
    student = _set_numpy_weights(_mlp([8], "student", (6,), 3), seed=2)
    discriminator = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(
                1,
                kernel_initializer="zeros",
                bias_initializer=keras.initializers.Constant(logit),
                name="discriminator_logit",
            ),
        ]
    )
    distiller = keras_anc.AdversarialDistiller(
        teacher, student, discriminator=discriminator, adversarial_sample_rate=rate, seed=1
    )
    distiller.compile(
        student_optimizer=keras.optimizers.SGD(0.0),
        discriminator_optimizer=keras.optimizers.SGD(0.0),
    )
    history = distiller.fit(x, batch_size=batch, epochs=1, verbose=0)
    loss = history.history["discriminator_loss"][-1]
    softplus = float(np.log1p(np.exp(logit)))
    return (2 * softplus - logit - 2 * loss) / logit


def _methods():
    import keras
    import numpy as np

    from keras_anc import methods

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 12)).astype("float32")
    y = rng.integers(0, 5, size=256)
    teacher = _set_numpy_weights(_mlp([24, 16], "teacher", (12,), 5), seed=1)
    results = {}
    for name in methods.available_methods():
        student = _set_numpy_weights(_mlp([16], "student", (12,), 5), seed=2)
        model = methods.make_method(name, teacher, student, jit_compile="auto")
        data = (x, y) if methods.uses_labels(name) else (x,)
        try:
            history = model.fit(*data, batch_size=64, epochs=1, verbose=0)
            loss = history.history["loss"][-1]
            results[name] = "ok" if np.isfinite(loss) else f"loss {loss}"
        except Exception as e:  # noqa: BLE001 - reported to the test
            results[name] = f"{type(e).__name__}: {e}"[:1000]
    del keras
    return results


def _mnist_sample():
    import importlib.resources

    import numpy as np

    resource = importlib.resources.files("keras_anc") / "resources" / "mnist_sample.npz"
    with importlib.resources.as_file(resource) as path, np.load(path) as data:
        return tuple(
            data[k].astype("float32") / 255.0 if k.startswith("x") else data[k].astype("int64")
            for k in ("x_train", "y_train", "x_test", "y_test")
        )


def _readme_example(directory, arrays):
    import keras
    import numpy as np

    import keras_anc

    x_train, y_train, x_test, y_test = _mnist_sample()
    teacher_path = os.path.join(directory, "teacher.keras")
    student_path = os.path.join(directory, "student_initial.keras")
    if not os.path.exists(teacher_path):
        keras.utils.set_random_seed(0)
        teacher = _mlp([256, 128], "teacher", (28, 28, 1), 10)
        teacher.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        teacher.fit(x_train, y_train, epochs=4, batch_size=128, verbose=0)
        teacher.save(teacher_path)
        _mlp([32], "student", (28, 28, 1), 10).save(student_path)
    teacher = keras.saving.load_model(teacher_path)
    student = keras.saving.load_model(student_path)
    teacher_before = keras.ops.convert_to_numpy(teacher.weights[0])

    distiller = keras_anc.AdversarialDistiller(teacher, student, seed=0)
    distiller.compile(
        student_optimizer=keras.optimizers.Adam(1e-3),
        discriminator_optimizer=keras.optimizers.Adam(1e-4),
        metrics=["accuracy"],
    )
    callbacks = [
        keras_anc.callbacks.DiscriminatorGuard(upper=0.9, lower=0.6),
        keras_anc.callbacks.HyperparameterScheduler(
            "adversarial_weight", lambda epoch, value: 1.0 if epoch == 0 else 0.5
        ),
    ]
    history = distiller.fit(
        x_train,  # no labels
        batch_size=BATCH,
        epochs=EPOCHS,
        shuffle=False,
        validation_data=(x_test, y_test),
        callbacks=callbacks,
        verbose=0,
    )
    path = os.path.join(directory, f"distiller_{BACKEND}.keras")
    distiller.save(path)
    probe = x_test[:100]
    arrays["readme/predictions"] = distiller.predict(probe, batch_size=BATCH, verbose=0)
    reloaded = keras.saving.load_model(path)
    reloaded_predictions = reloaded.predict(probe, batch_size=BATCH, verbose=0)
    iterations = _iterations(reloaded)
    reloaded.fit(x_train, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    steps = len(x_train) // BATCH
    return {
        "readme/history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "readme/student_accuracy": _accuracy(student, x_test, y_test),
        "readme/teacher_accuracy": _accuracy(teacher, x_test, y_test),
        "readme/teacher_unchanged": bool(
            np.array_equal(teacher_before, keras.ops.convert_to_numpy(teacher.weights[0]))
        ),
        "readme/reload_max_difference": float(
            np.max(np.abs(reloaded_predictions - arrays["readme/predictions"]))
        ),
        "readme/iterations_saved": iterations,
        "readme/iterations_continued": _iterations(reloaded),
        "readme/steps_per_epoch": steps,
        "readme/continued_accuracy": _accuracy(reloaded.student, x_test, y_test),
    }


def _iterations(distiller):
    import keras

    return [
        int(keras.ops.convert_to_numpy(opt.iterations))
        for opt in (distiller.optimizer, distiller.discriminator_optimizer)
    ]


def _accuracy(model, x, y):
    import numpy as np

    return float(np.mean(np.argmax(model.predict(x, batch_size=BATCH, verbose=0), -1) == y))


# ---------------------------------------------------------------------- resume


def resume(source, directory):
    """Loads the distiller another backend saved and trains it on."""
    import keras
    import numpy as np

    import keras_anc.distillers  # noqa: F401 - registers the classes the file names

    x_train, _, x_test, y_test = _mnist_sample()
    distiller = keras.saving.load_model(os.path.join(directory, f"distiller_{source}.keras"))
    saved = np.load(os.path.join(directory, f"{source}.npz"))["readme/predictions"]
    predictions = distiller.predict(x_test[:100], batch_size=BATCH, verbose=0)
    iterations = _iterations(distiller)
    history = distiller.fit(x_train, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    facts = {
        "source": source,
        "backend": BACKEND,
        "max_relative_difference": float(
            np.max(np.abs(predictions - saved)) / np.max(np.abs(saved))
        ),
        "iterations_loaded": iterations,
        "iterations_after": _iterations(distiller),
        "loss": float(history.history["loss"][-1]),
        "accuracy": _accuracy(distiller.student, x_test, y_test),
    }
    _write_json(os.path.join(directory, f"resume_{source}_on_{BACKEND}.json"), facts)


def _write_json(path, facts):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(facts, f, indent=1)
    os.replace(tmp, path)


def main(directory, *tasks):
    for i, task in enumerate(tasks):
        name, _, source = task.partition("=")
        if name == "imports":
            if i:
                raise ValueError(f"`imports` must be the first task, before {tasks[:i]}.")
            imports(os.path.join(directory, f"imports_{BACKEND}.json"))
        elif name == "train":
            train(directory)
        elif name == "resume":
            resume(source, directory)
        else:
            raise ValueError(f"Unknown task {task!r}; expected imports, train or resume=SOURCE.")


if __name__ == "__main__":
    main(*sys.argv[1:])
