"""Compile configs name optimizers publicly, so a file saved on torch trains elsewhere."""

import keras

from keras_anc.distillers.portable_config import portable_compile_config


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
