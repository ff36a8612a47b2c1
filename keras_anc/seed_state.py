"""Saving the random-seed state of a layer along with its weights."""


class SeedStateMixin:
    """Saves and restores `self.seed_generator`'s state with the layer's variables.

    Keras does not save `SeedGenerator` states, so after a `.keras` reload or a
    `BackupAndRestore` resume the random stream would restart from the seed. With this
    mixin a resumed run draws the same random numbers as an uninterrupted one.
    """

    _SEED_KEY = "seed_generator_state"

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store[self._SEED_KEY] = self.seed_generator.state

    def load_own_variables(self, store):
        keys = list(store.keys())
        if self._SEED_KEY in keys:
            self.seed_generator.state.assign(store[self._SEED_KEY])
        super().load_own_variables({k: store[k] for k in keys if k != self._SEED_KEY})
