"""The default discriminator: the small MLP of the ANC paper."""

import keras


@keras.saving.register_keras_serializable(package="keras_anc")
class MLPDiscriminator(keras.Model):
    """A small fully connected discriminator that scores "teacher vs. student".

    Three hidden fully connected layers (128-256-128 units by default) and one output
    unit that returns a *logit*: positive means "looks like the teacher". The input width
    is inferred on first build, so the same object works for logits or any feature width.
    Every layer is named `discriminator_*`, names that survive a `.keras` round trip.

    The paper's regularizers act outside or inside this model: adversarial samples and
    input noise/dropout are applied by `AdversarialDistiller`; L1/L2 weight decay goes in
    `kernel_regularizer`; `dropout_rate` adds dropout after each hidden layer.

    Args:
        hidden_units: Sizes of the hidden layers. Defaults to `(128, 256, 128)`.
        activation: Activation of the hidden layers. Defaults to `"relu"`.
        dropout_rate: Dropout rate after every hidden layer (0 disables it).
        kernel_regularizer: A `keras.regularizers.Regularizer` (or its identifier,
            e.g. `keras.regularizers.L2(1e-4)`) applied to every kernel: the paper's
            L1/L2 weight-decay regularization of the discriminator.
        **kwargs: Passed to `keras.Model` (e.g. `name`).

    Example:

    ```python
    disc = keras_anc.MLPDiscriminator(kernel_regularizer=keras.regularizers.L2(1e-4))
    distiller = keras_anc.AdversarialDistiller(teacher, student, discriminator=disc)
    ```

    Reference:
        Belagiannis, Farshad, Galasso, "Adversarial Network Compression",
        ECCV Workshops 2018, arXiv:1803.10750.
    """

    def __init__(
        self,
        hidden_units=(128, 256, 128),
        activation="relu",
        dropout_rate=0.0,
        kernel_regularizer=None,
        **kwargs,
    ):
        kwargs.setdefault("name", "discriminator")
        super().__init__(**kwargs)
        hidden_units = tuple(int(u) for u in hidden_units)
        if not hidden_units or any(u <= 0 for u in hidden_units):
            raise ValueError(
                f"`hidden_units` must be a non-empty sequence of positive integers, "
                f"got {hidden_units}."
            )
        if not 0.0 <= float(dropout_rate) < 1.0:
            raise ValueError(f"`dropout_rate` must be in [0, 1), got {dropout_rate}.")
        self.hidden_units = hidden_units
        self.activation = keras.activations.get(activation)
        self.dropout_rate = float(dropout_rate)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.hidden_layers = [
            keras.layers.Dense(
                units,
                activation=self.activation,
                kernel_regularizer=self.kernel_regularizer,
                name=f"discriminator_dense_{i}",
            )
            for i, units in enumerate(hidden_units)
        ]
        self.dropout_layers = [
            keras.layers.Dropout(self.dropout_rate, name=f"discriminator_dropout_{i}")
            for i in range(len(hidden_units))
        ]
        self.output_layer = keras.layers.Dense(
            1, kernel_regularizer=self.kernel_regularizer, name="discriminator_logit"
        )

    def build(self, input_shape):
        shape = tuple(input_shape)
        for dense in self.hidden_layers:
            dense.build(shape)
            shape = shape[:-1] + (dense.units,)
        self.output_layer.build(shape)
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        for dense, dropout in zip(self.hidden_layers, self.dropout_layers):
            x = dense(x)
            if self.dropout_rate > 0:
                x = dropout(x, training=training)
        return self.output_layer(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (1,)

    def get_config(self):
        return {
            "name": self.name,
            "hidden_units": list(self.hidden_units),
            "activation": keras.activations.serialize(self.activation),
            "dropout_rate": self.dropout_rate,
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }
