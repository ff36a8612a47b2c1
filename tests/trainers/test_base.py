"""The trainer contract: what a backend training step may use is declared in one place."""

import inspect

import keras_anc
from keras_anc.trainers.base import AdversarialTrainerContract


def test_the_distiller_implements_every_member_of_the_contract():
    abstract = AdversarialTrainerContract.__abstractmethods__
    assert {"_unpack", "_teacher_outputs", "_student_objective"} <= abstract
    for name in abstract:
        member = getattr(keras_anc.AdversarialDistiller, name)
        assert not getattr(member, "__isabstractmethod__", False), name


def test_backend_trainers_use_only_declared_private_members():
    import keras_anc.trainers as trainers

    declared = set(AdversarialTrainerContract.__abstractmethods__) | {
        "_check_backend_supports_training"
    }
    source = inspect.getsource(inspect.getmodule(trainers.BackendTrainer))
    used = {
        token.split("(")[0]
        for token in source.replace("self.", " self.").split()
        if token.startswith("self._")
    }
    used = {name.removeprefix("self.").rstrip(",):") for name in used}
    own = {name for name in dir(trainers.BackendTrainer) if name.startswith("_")}
    assert used <= declared | own, used - declared - own
