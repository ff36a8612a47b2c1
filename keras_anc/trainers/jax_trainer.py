"""The JAX training step of `AdversarialDistiller`."""

import jax
import keras
from keras import ops

from keras_anc.trainers.base import AdversarialTrainerContract

# The members of Keras' JAX trainer this module overrides or relies on. Keras does not
# document them; tests/trainers/test_jax_trainer.py fails loudly if one disappears or
# changes its signature.
KERAS_PRIVATE_API = (
    "_get_jax_state",
    "jax_state_sync",
    "_purge_model_variables",
    "_get_state_sharding_spec",
    "make_train_function",
    "make_test_function",
    "make_predict_function",
    "_jax_state",
    "_jax_state_synced",
)


class JAXDistillerTrainer(AdversarialTrainerContract):
    """Alternating discriminator / student updates as one stateless JAX function.

    Keras' JAX trainer threads the model state through `train_step(state, data)` as
    `(trainable, non_trainable, optimizer, metrics)` values and writes it back to the
    variables at the end of the epoch. Here the optimizer part holds *both* optimizers'
    variables (the student's, `self.optimizer`, first, so learning-rate callbacks act
    on it; the discriminator's after), and one traced function does the whole step:

    1. inside a `keras.StatelessScope` mapping every variable once, one teacher pass
       (inference mode) and one student pass (training mode);
    2. `discriminator_steps` updates of `D`: `jax.value_and_grad` over D's weights on
       the gradient-stopped student features, `stateless_apply` of D's optimizer, the
       new values written into the scope;
    3. the student objective against the updated `D`, differentiated (with 1 and 2)
       by `jax.value_and_grad` over the student's weights, then `stateless_apply` of
       the student's optimizer;
    4. the trackers and compiled metrics, in a scope mapping the metric variables.

    The batch structure is checked before anything is traced (see
    `AdversarialTrainerContract._symbolic_build`), and a step that fails puts the values
    it was given back into the variables, so an error never leaves the teacher (often
    shared with user code) without weights.
    """

    # ------------------------------------------------------------------ steps

    def train_step(self, state, data):
        trainable, non_trainable, optimizer_values, metrics_values = state
        x, y, sample_weight, cached = self._unpack(data)
        trainable_refs = self.trainable_variables
        position = {id(v): i for i, v in enumerate(trainable_refs)}
        student_index = [position[id(v)] for v in self.student_trainable_variables]
        state_refs = [
            *trainable_refs,
            *self.non_trainable_variables,
            *self._jax_optimizer_variables(),
        ]

        def student_loss(student_values):
            values = list(trainable)
            for i, value in zip(student_index, student_values):
                values[i] = value
            values += [*non_trainable, *optimizer_values]
            mapping = list(zip(state_refs, values))
            with keras.StatelessScope(state_mapping=mapping, collect_losses=True) as scope:
                teacher_features, teacher_logits = self._teacher_outputs(x, cached)
                student_features, student_logits = self._student_outputs(x, training=True)
                discriminator = self._stateless_discriminator_updates(
                    teacher_features, keras.tree.map_structure(ops.stop_gradient, student_features)
                )
                objective = self._student_objective(
                    teacher_features,
                    student_features,
                    student_logits,
                    y,
                    sample_weight,
                    training=True,
                    teacher_logits=teacher_logits,
                )
                scaled = self.optimizer.scale_loss(objective[0])
            updated = [scope.get_current_value(v) for v in state_refs]
            return scaled, (objective, discriminator, teacher_logits, student_logits, updated)

        (_, aux), gradients = jax.value_and_grad(student_loss, has_aux=True)(
            [trainable[i] for i in student_index]
        )
        objective, discriminator, teacher_logits, student_logits, updated = aux
        n_trainable, n_non_trainable = len(trainable), len(non_trainable)
        trainable = updated[:n_trainable]
        non_trainable = updated[n_trainable : n_trainable + n_non_trainable]
        optimizer_values = updated[n_trainable + n_non_trainable :]
        n_student_optimizer = len(self.optimizer.variables)
        student_values, student_optimizer_values = self.optimizer.stateless_apply(
            optimizer_values[:n_student_optimizer],
            gradients,
            [trainable[i] for i in student_index],
        )
        for i, value in zip(student_index, student_values):
            trainable[i] = value
        optimizer_values = [
            *student_optimizer_values,
            *optimizer_values[n_student_optimizer:],
        ]
        logs, metrics_values = self._stateless_metrics(
            metrics_values,
            objective,
            discriminator,
            teacher_logits,
            student_logits,
            x,
            y,
            sample_weight,
        )
        return logs, (trainable, non_trainable, optimizer_values, metrics_values)

    def test_step(self, state, data):
        trainable, non_trainable, metrics_values = state
        x, y, sample_weight, cached = self._unpack(data)
        refs = [*self.trainable_variables, *self.non_trainable_variables, *self.metrics_variables]
        mapping = list(zip(refs, [*trainable, *non_trainable, *metrics_values]))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            logs = self._evaluate_batch(x, y, sample_weight, cached)
        metrics_values = [
            _current(scope, v, value) for v, value in zip(self.metrics_variables, metrics_values)
        ]
        return logs, (trainable, non_trainable, metrics_values)

    def _stateless_discriminator_updates(self, teacher_features, student_features):
        """`discriminator_steps` updates of D, run inside the step's `StatelessScope`.

        Reads the current values of every variable from the enclosing scope and writes
        D's new weights, its optimizer's state and the advanced random seeds back into
        it (`assign` in a stateless scope records the value in the scope).
        """
        optimizer = self.discriminator_optimizer
        weights = self.discriminator_trainable_variables
        weight_ids = {id(v) for v in weights}
        others = [
            v
            for v in (*self.trainable_variables, *self.non_trainable_variables)
            if id(v) not in weight_ids
        ]
        non_trainable = self.non_trainable_variables
        result = None
        for _ in range(self.discriminator_steps):
            fixed = [(v, v.value) for v in (*others, *optimizer.variables)]

            def loss_fn(weight_values, fixed=fixed):
                mapping = fixed + list(zip(weights, weight_values))
                with keras.StatelessScope(state_mapping=mapping, collect_losses=True) as scope:
                    objective = self._discriminator_objective(
                        teacher_features, student_features, training=True
                    )
                    scaled = optimizer.scale_loss(objective[0])
                updated = [scope.get_current_value(v) for v in non_trainable]
                return scaled, (objective, updated)

            (_, (objective, updated)), gradients = jax.value_and_grad(loss_fn, has_aux=True)(
                [v.value for v in weights]
            )
            new_weights, new_optimizer_values = optimizer.stateless_apply(
                [v.value for v in optimizer.variables],
                gradients,
                [v.value for v in weights],
            )
            for variable, value in zip(
                (*weights, *optimizer.variables, *non_trainable),
                (*new_weights, *new_optimizer_values, *updated),
            ):
                variable.assign(value)
            result = objective
        return result

    def _stateless_metrics(
        self,
        metrics_values,
        objective,
        discriminator,
        teacher_logits,
        student_logits,
        x,
        y,
        sample_weight,
    ):
        refs = self.metrics_variables
        with keras.StatelessScope(state_mapping=list(zip(refs, metrics_values))) as scope:
            self._update_trackers(
                objective, discriminator, teacher_logits, student_logits, sample_weight
            )
            logs = self.compute_metrics(x, y, student_logits, sample_weight)
        return logs, [_current(scope, v, value) for v, value in zip(refs, metrics_values)]

    # ------------------------------------------------------------------ state
    # Keras' JAX trainer carries `self.optimizer.variables` only; the discriminator
    # optimizer's variables travel in the same list, after the student optimizer's.

    def _jax_optimizer_variables(self):
        variables = list(self.optimizer.variables) if self.optimizer is not None else []
        if getattr(self, "discriminator_optimizer", None) is not None:
            variables += self.discriminator_optimizer.variables
        return variables

    def _get_jax_state(
        self,
        trainable_variables=False,
        non_trainable_variables=False,
        optimizer_variables=False,
        metrics_variables=False,
        purge_model_variables=False,
    ):
        state = list(
            super()._get_jax_state(
                trainable_variables=trainable_variables,
                non_trainable_variables=non_trainable_variables,
                metrics_variables=metrics_variables,
            )
        )
        if optimizer_variables:
            position = int(trainable_variables) + int(non_trainable_variables)
            state.insert(position, [v.value for v in self._jax_optimizer_variables()])
        if purge_model_variables:
            self._purge_model_variables(
                trainable_variables=trainable_variables,
                non_trainable_variables=non_trainable_variables,
                optimizer_variables=optimizer_variables,
                metrics_variables=metrics_variables,
            )
        return tuple(state)

    def _purge_model_variables(self, optimizer_variables=False, **kwargs):
        super()._purge_model_variables(optimizer_variables=optimizer_variables, **kwargs)
        if optimizer_variables and getattr(self, "discriminator_optimizer", None) is not None:
            for v in self.discriminator_optimizer.variables:
                v._value = None

    def jax_state_sync(self):
        state = getattr(self, "_jax_state", None)
        if state and not self._jax_state_synced:
            values = state.get("optimizer_variables") or []
            # Keras assigns the first `len(self.optimizer.variables)` values (it zips
            # with the student optimizer's variables); the rest are D's optimizer's.
            extra = values[len(self.optimizer.variables) :]
            if extra:
                for variable, value in zip(self.discriminator_optimizer.variables, extra):
                    variable.assign(value)
        super().jax_state_sync()

    def _get_state_sharding_spec(self):
        trainable, non_trainable, _, metrics = super()._get_state_sharding_spec()
        optimizer = [v.value.sharding for v in self._jax_optimizer_variables()]
        return trainable, non_trainable, optimizer, metrics

    # ------------------------------------------------------------------ safety

    def make_train_function(self, force=False):
        if self.train_function is not None and not force:
            return self.train_function
        super().make_train_function(force=force)
        self.train_function = _restoring_on_error(
            self.train_function,
            lambda: (
                self.trainable_variables,
                self.non_trainable_variables,
                self._jax_optimizer_variables(),
                self.metrics_variables,
            ),
        )
        return self.train_function

    def make_test_function(self, force=False):
        if self.test_function is not None and not force:
            return self.test_function
        super().make_test_function(force=force)
        self.test_function = _restoring_on_error(
            self.test_function,
            lambda: (
                self.trainable_variables,
                self.non_trainable_variables,
                self.metrics_variables,
            ),
        )
        return self.test_function

    def make_predict_function(self, force=False):
        if self.predict_function is not None and not force:
            return self.predict_function
        super().make_predict_function(force=force)
        self.predict_function = _restoring_on_error(
            self.predict_function,
            lambda: (self.trainable_variables, self.non_trainable_variables),
        )
        return self.predict_function


def _current(scope, variable, default):
    value = scope.get_current_value(variable)
    return default if value is None else value


def _restoring_on_error(step_function, references):
    """Wraps a Keras step function so that a failing call re-attaches its input state.

    Keras detaches the variables' values before the first step of an epoch and
    re-attaches them after the epoch; a step that raises (e.g. while tracing) would
    otherwise leave every variable empty, the teacher's included.
    """

    def step(state, iterator):
        try:
            return step_function(state, iterator)
        except Exception:
            for refs, values in zip(references(), state):
                for variable, value in zip(refs, values):
                    deleted = getattr(value, "is_deleted", None)
                    if not (deleted and deleted()):
                        variable.assign(value)
            raise

    return step
