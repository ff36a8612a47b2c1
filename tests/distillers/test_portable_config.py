"""Compile configs name optimizers publicly, so a file saved on torch trains elsewhere."""

import keras

from keras_anc.distillers.portable_config import (
    portable_compile_config,
    with_requested_jit_compile,
)


def _serialized(module, class_name):
    return {"module": module, "class_name": class_name, "config": {}, "registered_name": None}


def test_a_torch_optimizer_class_is_saved_under_its_public_name():
    torch_adam = _serialized("keras.src.backend.torch.optimizers.torch_adam", "Adam")
    config = {
        "optimizer": torch_adam,
        "discriminator_optimizer": {
            **_serialized("keras.src.optimizers.loss_scale_optimizer", "LossScaleOptimizer"),
            "config": {"inner_optimizer": torch_adam},
        },
        "metrics": ["accuracy"],
        "jit_compile": False,
    }
    portable = portable_compile_config(config)
    assert portable["optimizer"]["module"] == "keras.optimizers"
    inner = portable["discriminator_optimizer"]["config"]["inner_optimizer"]
    assert inner["module"] == "keras.optimizers"
    assert portable["metrics"] == ["accuracy"] and portable["jit_compile"] is False
    assert config["optimizer"]["module"].startswith("keras.src.backend")  # input untouched
    restored = keras.saving.deserialize_keras_object(portable["optimizer"])
    assert isinstance(restored, keras.optimizers.Adam)


def test_other_classes_are_left_alone():
    custom = _serialized("my_package.optimizers", "Adam")
    backend_but_not_an_optimizer = _serialized("keras.src.backend.torch.layer", "TorchLayer")
    assert portable_compile_config(custom) == custom
    assert portable_compile_config(backend_but_not_an_optimizer) == backend_but_not_an_optimizer


def test_jit_compile_is_saved_as_requested_not_as_resolved():
    assert with_requested_jit_compile({"jit_compile": True, "x": 1}, "auto") == {
        "jit_compile": "auto",
        "x": 1,
    }
    assert with_requested_jit_compile({"jit_compile": True}, False) == {"jit_compile": False}
    assert with_requested_jit_compile({}, "auto") == {}  # an uncompiled model's config


def test_a_distiller_compiled_with_auto_saves_auto(mnist_teacher, student_factory):
    from keras_anc import AdversarialDistiller, MimicDistiller

    anc = AdversarialDistiller(mnist_teacher, student_factory([16], "student"))
    anc.compile(student_optimizer="adam", discriminator_optimizer="adam")
    mimic = MimicDistiller(mnist_teacher, student_factory([16], "student"))
    mimic.compile(optimizer="adam")
    for distiller in (anc, mimic):
        assert distiller.get_compile_config()["jit_compile"] == "auto"
    anc.compile(student_optimizer="adam", discriminator_optimizer="adam", jit_compile=False)
    assert anc.get_compile_config()["jit_compile"] is False
