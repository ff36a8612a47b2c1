"""Model zoo: Keras builders of the networks that distillation papers compare.

Every builder returns a functional `keras.Model` that outputs logits (no softmax) and has a
layer named "features" (the pooled feature vector) and a final Dense layer named "logits", so
any two zoo models can be paired as teacher and student. All image models are channels_last.

Example:

```python
from keras_anc import models

teacher = models.get_model("resnet56", num_classes=10)
student = models.get_model("resnet20", num_classes=10, name="student")
models.available_models()
```
"""

from keras_anc.models.complexity import macs
from keras_anc.models.kerascv import KERAS_CV_BACKBONES, keras_cv_backbone, keras_cv_classifier
from keras_anc.models.lenets import lenet, lenet5, lenet5_half, lenet5_wide, lenet_tiny
from keras_anc.models.multilayer_perceptron import mlp
from keras_anc.models.network_in_network import nin
from keras_anc.models.registry import (
    available_models,
    default_input_shape,
    get_model,
    register_model,
)
from keras_anc.models.resnet_cifar import (
    ZeroPadShortcut,
    cifar_resnet,
    resnet8,
    resnet8x4,
    resnet14,
    resnet20,
    resnet32,
    resnet32x4,
    resnet44,
    resnet56,
    resnet110,
    resnet164,
)
from keras_anc.models.summary import format_summary_table, summary_table
from keras_anc.models.vgg_cifar import vgg, vgg8, vgg11, vgg13
from keras_anc.models.wrn import wide_resnet, wrn_16_1, wrn_16_2, wrn_40_1, wrn_40_2

__all__ = [
    "KERAS_CV_BACKBONES",
    "ZeroPadShortcut",
    "available_models",
    "cifar_resnet",
    "default_input_shape",
    "format_summary_table",
    "get_model",
    "keras_cv_backbone",
    "keras_cv_classifier",
    "lenet",
    "lenet5",
    "lenet5_half",
    "lenet5_wide",
    "lenet_tiny",
    "macs",
    "mlp",
    "nin",
    "register_model",
    "resnet8",
    "resnet8x4",
    "resnet14",
    "resnet20",
    "resnet32",
    "resnet32x4",
    "resnet44",
    "resnet56",
    "resnet110",
    "resnet164",
    "summary_table",
    "vgg",
    "vgg8",
    "vgg11",
    "vgg13",
    "wide_resnet",
    "wrn_16_1",
    "wrn_16_2",
    "wrn_40_1",
    "wrn_40_2",
]
