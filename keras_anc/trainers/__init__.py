"""Backend-specific training steps for `AdversarialDistiller`.

Keras splits its trainers per backend (`keras/src/backend/*/trainer.py`); we do the same.
Each backend module defines a mixin with a `train_step` that alternates discriminator and
student updates using that backend's gradient machinery, built from the backend-neutral
pieces of `AdversarialDistiller` (`_teacher_outputs`, `_student_outputs`,
`_discriminator_objective`, `_student_objective`, `_update_trackers`), which
`trainers.base.AdversarialTrainerContract` declares. Adding a backend means adding one
module here.
"""

import keras

_BACKEND = keras.backend.backend()

if _BACKEND == "tensorflow":
    from keras_anc.trainers.tensorflow_trainer import TensorFlowDistillerTrainer as BackendTrainer
elif _BACKEND == "jax":
    from keras_anc.trainers.jax_trainer import JAXDistillerTrainer as BackendTrainer
elif _BACKEND == "torch":
    from keras_anc.trainers.torch_trainer import TorchDistillerTrainer as BackendTrainer
else:
    from keras_anc.trainers.unsupported_trainer import UnsupportedDistillerTrainer as BackendTrainer

__all__ = ["BackendTrainer"]
