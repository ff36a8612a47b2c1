"""The contract between `AdversarialDistiller` and its backend training steps."""

import abc

# Keras' undocumented trainer hook used here; tests/trainers/test_base.py pins it.
KERAS_PRIVATE_API = ("_symbolic_build",)


class AdversarialTrainerContract(abc.ABC):
    """What a backend `train_step` of `AdversarialDistiller` may use, and nothing else.

    A backend trainer (`keras_anc/trainers/<backend>_trainer.py`) is a mixin that
    implements `train_step` and `test_step` with that backend's machinery, built only
    from the members declared here (`_evaluate_batch` puts them together for a
    `test_step`). The
    distiller implements them with `keras.ops`, so they run on every backend; adding a
    backend means writing one trainer module and one line in `trainers/__init__.py`.

    Attributes a trainer may read: `teacher`, `student`, `discriminator`,
    `student_projection` (or `None`), `optimizer` (the student's),
    `discriminator_optimizer`, `discriminator_steps`, `student_trainable_variables`,
    `discriminator_trainable_variables` (every discriminator's, which the discriminator
    optimizer trains), and the Keras `Model` API (`compute_metrics`, `metrics`, ...).

    `features` (from `_teacher_outputs` / `_student_outputs`) is a tensor or a nested
    structure of tensors (when more than one layer is compared): a trainer passes it on
    untouched, stopping gradients with `keras.tree.map_structure(ops.stop_gradient, ...)`.

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
        """The discriminators' `(loss, accuracy, ...)` on one teacher and one student batch.

        `loss` (the first item) is what the discriminator optimizer minimises over
        `discriminator_trainable_variables`; the whole tuple goes to `_update_trackers`.
        """

    @abc.abstractmethod
    def _student_objective(
        self,
        teacher_features,
        student_features,
        student_logits,
        y,
        sample_weight,
        training,
        teacher_logits=None,
    ):
        """The student's `(total, adversarial, mimic, ...)` losses against D: `total`
        (the first item) is what the student optimizer minimises."""

    @abc.abstractmethod
    def _update_trackers(
        self, objective, discriminator, teacher_logits, student_logits, sample_weight
    ):
        """Records one batch's losses, D accuracy and teacher agreement in the trackers."""

    def _evaluate_batch(self, x, y, sample_weight, cached):
        """One evaluation batch from the declared pieces: trackers updated, logs returned.

        Needs no gradients, so every backend's `test_step` runs it (JAX inside a
        `keras.StatelessScope` that maps the variables).
        """
        teacher_features, teacher_logits = self._teacher_outputs(x, cached)
        student_features, student_logits = self._student_outputs(x, training=False)
        discriminator = self._discriminator_objective(
            teacher_features, student_features, training=False
        )
        objective = self._student_objective(
            teacher_features,
            student_features,
            student_logits,
            y,
            sample_weight,
            training=False,
            teacher_logits=teacher_logits,
        )
        self._update_trackers(
            objective, discriminator, teacher_logits, student_logits, sample_weight
        )
        return self.compute_metrics(x, y, student_logits, sample_weight)

    def _symbolic_build(self, iterator=None, data_batch=None):
        # Keras' own hook, run by fit/evaluate before the first step (and, on JAX,
        # before the variables are detached from the models): check the first batch's
        # structure here, so that a user error gets our message and never reaches a
        # traced step.
        if data_batch is None and iterator is not None:
            for _, _, data_or_iterator in iterator:
                if isinstance(data_or_iterator, (list, tuple)):
                    data_batch = data_or_iterator[0]
                else:
                    data_batch = next(data_or_iterator)
                break
        if data_batch is not None:
            self._unpack(data_batch)
        return super()._symbolic_build(iterator=iterator, data_batch=data_batch)

    def _check_backend_supports_training(self):
        """Raises `keras_anc.errors.UnsupportedBackendError` where `fit` cannot run."""
        return None
