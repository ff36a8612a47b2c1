"""The contract between `AdversarialDistiller` and its backend training steps."""

import abc


class AdversarialTrainerContract(abc.ABC):
    """What a backend `train_step` of `AdversarialDistiller` may use, and nothing else.

    A backend trainer (`keras_anc/trainers/<backend>_trainer.py`) is a mixin that
    implements `train_step` (and, where the backend needs it, `test_step`) with that
    backend's gradient machinery, built only from the members declared here. The
    distiller implements them with `keras.ops`, so they run on every backend; adding a
    backend means writing one trainer module and one line in `trainers/__init__.py`.

    Attributes a trainer may read: `teacher`, `student`, `discriminator`,
    `student_projection` (or `None`), `optimizer` (the student's),
    `discriminator_optimizer`, `discriminator_steps`, `student_trainable_variables`,
    and the Keras `Model` API (`compute_metrics`, `metrics`, ...).

    Example:

    ```python
    class MyBackendTrainer(AdversarialTrainerContract):
        def train_step(self, data):
            x, y, sample_weight, cached = self._unpack(data)
            ...
    ```
    """

    @abc.abstractmethod
    def _unpack(self, data):
        """Validates one batch and returns `(x, y, sample_weight, cached_teacher_outputs)`."""

    @abc.abstractmethod
    def _teacher_outputs(self, x, cached=None):
        """Teacher `(features, logits)`, gradient-stopped: one inference pass or the cache."""

    @abc.abstractmethod
    def _student_outputs(self, x, training):
        """Student `(features, logits)` (features projected to the teacher's width)."""

    @abc.abstractmethod
    def _discriminator_objective(self, teacher_features, student_features, training):
        """The discriminator's `(loss, accuracy)` on one teacher and one student batch."""

    @abc.abstractmethod
    def _student_objective(
        self, teacher_features, student_features, student_logits, y, sample_weight, training
    ):
        """The student's `(total, adversarial, mimic)` losses against the current D."""

    @abc.abstractmethod
    def _update_trackers(
        self, objective, discriminator, teacher_logits, student_logits, sample_weight
    ):
        """Records one batch's losses, D accuracy and teacher agreement in the trackers."""

    def _check_backend_supports_training(self):
        """Raises `keras_anc.errors.UnsupportedBackendError` where `fit` cannot run."""
        return None
