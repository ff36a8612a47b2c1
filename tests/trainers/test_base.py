"""The trainer contract: what a backend training step may use is declared in one place."""

import inspect

from keras.src.trainers.trainer import Trainer

import keras_anc
from keras_anc.trainers import base
from keras_anc.trainers.base import AdversarialTrainerContract


def test_the_distiller_implements_every_member_of_the_contract():
    abstract = AdversarialTrainerContract.__abstractmethods__
    assert {"_unpack", "_teacher_outputs", "_student_objective"} <= abstract
    for name in abstract:
        member = getattr(keras_anc.AdversarialDistiller, name)
        assert not getattr(member, "__isabstractmethod__", False), name


def test_the_steps_come_from_the_backend_trainer_not_the_distiller():
    # A `train_step`/`test_step` on the distiller class would hide the trainer's (JAX's
    # take `(state, data)`, the others `(data)`).
    for name in ("train_step", "test_step"):
        assert name not in vars(keras_anc.AdversarialDistiller), name
        assert name in vars(keras_anc.trainers.BackendTrainer), name


def test_backend_trainers_use_only_declared_private_members():
    import keras_anc.trainers as trainers

    module = inspect.getmodule(trainers.BackendTrainer)
    declared = (
        set(AdversarialTrainerContract.__abstractmethods__)
        | {"_check_backend_supports_training", "_evaluate_batch"}
        | set(getattr(module, "KERAS_PRIVATE_API", ()))
    )
    source = inspect.getsource(module)
    used = {
        token.split("(")[0]
        for token in source.replace("self.", " self.").split()
        if token.startswith("self._")
    }
    used = {name.removeprefix("self.").rstrip(",):") for name in used}
    own = {name for name in vars(trainers.BackendTrainer) if name.startswith("_")}
    assert used <= declared | own, used - declared - own


def test_the_keras_hook_the_contract_overrides_still_exists():
    # `_symbolic_build(iterator=None, data_batch=None)` is Keras' undocumented hook that
    # fit/evaluate call before the first step; the contract checks the batch there.
    assert base.KERAS_PRIVATE_API == ("_symbolic_build",)
    parameters = list(inspect.signature(Trainer._symbolic_build).parameters)
    assert parameters == ["self", "iterator", "data_batch"]
