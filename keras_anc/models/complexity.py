"""Analytic multiply-accumulate (MAC) counting for Keras models."""

import math

import keras

_CONV_TYPES = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
)
_TRANSPOSED_TYPES = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)

_SEPARABLE_TYPES = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
_DEPTHWISE_TYPES = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
_COUNTED_TYPES = (
    _SEPARABLE_TYPES + _DEPTHWISE_TYPES + _TRANSPOSED_TYPES + _CONV_TYPES + (keras.layers.Dense,)
)


def _spatial(shape):
    """Product of the non-batch, non-channel dimensions of a channels_last shape."""
    return math.prod(shape[1:-1])


def _layer_macs(layer, input_shape, output_shape):
    """MACs of one call of `layer` for batch size 1, or 0 for layers that are not counted."""
    # In Keras 3 none of the separable, depthwise or transposed convolutions derives from Conv*D.
    if isinstance(layer, _SEPARABLE_TYPES):
        depthwise = _spatial(output_shape) * math.prod(layer.depthwise_kernel.shape)
        pointwise = _spatial(output_shape) * math.prod(layer.pointwise_kernel.shape)
        return depthwise + pointwise
    if isinstance(layer, _DEPTHWISE_TYPES):
        return _spatial(output_shape) * math.prod(layer.kernel.shape)
    if isinstance(layer, _TRANSPOSED_TYPES):
        # Every input position is multiplied with the whole kernel.
        return _spatial(input_shape) * math.prod(layer.kernel.shape)
    if isinstance(layer, _CONV_TYPES):
        return _spatial(output_shape) * math.prod(layer.kernel.shape)
    if isinstance(layer, keras.layers.Dense):
        return math.prod(input_shape[1:-1]) * math.prod(layer.kernel.shape)
    return 0


def _is_counted(layer):
    return isinstance(layer, _COUNTED_TYPES)


def _first_shape(structure):
    return tuple(keras.tree.flatten(structure)[0].shape)


def _spec_with_sublayers(operation, args, kwargs, per_layer):
    """`operation.compute_output_spec`, counting the convs/denses its `call` runs internally.

    Composite layers (e.g. KerasCV's `MBConvBlock`) hold convolutions that never appear in the
    functional graph. Their `call` is traced by `compute_output_spec`, so the counted sub-layers'
    `call` methods are wrapped on the instance for the duration of that trace.
    """
    sublayers = [
        layer
        for layer in operation._flatten_layers(include_self=False, recursive=True)
        if _is_counted(layer)
    ]
    patched = []

    def wrap(layer):
        original = layer.call

        def call(*call_args, **call_kwargs):
            outputs = original(*call_args, **call_kwargs)
            count = _layer_macs(layer, _first_shape(call_args), _first_shape(outputs))
            if count:
                per_layer.append((f"{operation.name}/{layer.name}", int(count)))
            return outputs

        return call

    try:
        for layer in sublayers:
            object.__setattr__(layer, "call", wrap(layer))
            patched.append(layer)
        return operation.compute_output_spec(*args, **kwargs)
    finally:
        for layer in patched:
            object.__delattr__(layer, "call")


def _is_graph_model(layer):
    return isinstance(layer, keras.Model) and hasattr(layer, "_run_through_graph")


def _trace(model, inputs, per_layer):
    """Run `model`'s graph symbolically on `inputs`, recording each counted layer's MACs."""
    if isinstance(model, keras.Sequential):
        model = model._functional

    def operation_fn(operation):
        def run(*args, **kwargs):
            if _is_graph_model(operation) or isinstance(operation, keras.Sequential):
                return _trace(operation, args[0], per_layer)
            if isinstance(operation, keras.layers.Layer) and not _is_counted(operation):
                return _spec_with_sublayers(operation, args, kwargs, per_layer)
            outputs = operation.compute_output_spec(*args, **kwargs)
            count = _layer_macs(operation, _first_shape((args, kwargs)), _first_shape(outputs))
            if count:
                per_layer.append((operation.name, int(count)))
            return outputs

        return run

    return model._run_through_graph(inputs, operation_fn=operation_fn)


def macs(model, input_shape=None, per_layer=False):
    """Count the multiply-accumulates of one forward pass of a functional model, batch size 1.

    The count is analytic: it walks the model's graph (descending into nested functional or
    Sequential models such as KerasCV backbones) with symbolic tensors of the given shape and
    adds, per call, `Conv1D/2D/3D`: output positions x kernel size; `DepthwiseConv1D/2D`:
    output positions x depthwise kernel size; `SeparableConv1D/2D`: the depthwise plus the
    pointwise part; `Conv*DTranspose`: input positions x kernel size; `Dense`: leading positions x
    kernel size. Such layers inside composite custom layers (e.g. KerasCV's `MBConvBlock`) are
    counted too, by tracing the composite layer's `call`. Biases, BatchNorm, activations,
    pooling, element-wise additions and attention ops are not counted (they are small next to
    the convolutions of the zoo's CNNs). FLOPs are usually quoted as about 2 x MACs.

    Args:
        model: a functional or Sequential `keras.Model` (subclassed models cannot be traced).
        input_shape: optional shape of one example; defaults to the model's input shape, which
            must then be fully defined.
        per_layer: bool. If True, also return a list of `(layer_name, macs)` pairs.

    Returns:
        The total MACs as an int, or `(total, per_layer_list)` when `per_layer=True`.

    Example:

    ```python
    macs(resnet20())  # about 41 million
    ```
    """
    if isinstance(model, keras.Sequential):
        if not model.built or not hasattr(model, "_functional"):
            raise ValueError(
                "`macs` needs a built Sequential model with a known input shape. Start it with "
                "`keras.Input(shape=...)` or call `model.build(input_shape)` first."
            )
    elif not _is_graph_model(model):
        raise ValueError(
            f"`macs` can only trace functional or Sequential models, got "
            f"{type(model).__name__}. Rebuild the network with the functional API, or count a "
            "functional equivalent."
        )
    if len(model.inputs) != 1:
        raise ValueError(
            f"`macs` supports single-input models; this one has {len(model.inputs)} inputs."
        )
    if input_shape is None:
        input_shape = tuple(model.inputs[0].shape[1:])
    input_shape = tuple(input_shape)
    if any(d is None for d in input_shape):
        raise ValueError(
            f"The input shape {input_shape} has unknown dimensions; MACs depend on them. Pass "
            "`input_shape=(height, width, channels)` explicitly."
        )
    spec = keras.KerasTensor((1, *input_shape), dtype=model.inputs[0].dtype)
    counts = []
    _trace(model, spec, counts)
    total = sum(count for _, count in counts)
    return (total, counts) if per_layer else total
