"""Image-classification input pipelines for distillation: TFDS names, NumPy arrays, `tf.data`.

Every pipeline yields batches of float32 images standardised with per-channel statistics and,
unless `labels=False`, int32 class labels. Training pipelines add the augmentation that is
standard in the knowledge-distillation literature:

| dataset | standardisation (mean, std per channel) | training augmentation |
|---|---|---|
| `mnist`, `mnist_sample`, `fashion_mnist` | canonical train-split values | none |
| `cifar10`, `cifar100` | canonical train-split values | 4-pixel pad + random crop + h-flip |
| `svhn_cropped` | canonical train-split values | 4-pixel pad + random crop (no flip) |
| other TFDS image/label datasets | estimated from train images | pad + crop + flip if colour |

TFDS data sets are read from a TFDS data directory: `data_dir=` if given, otherwise the
`TFDS_DATA_DIR` environment variable, otherwise `~/tensorflow_datasets`. A data set missing
there is downloaded only when that can work (decided within seconds); otherwise `load()` and
`raw()` fail at once with one line saying how to provide it. `is_prepared()` and
`require_prepared()` check, `prepare()` prepares one from files downloaded by hand. Set
`KERAS_ANC_OFFLINE=1` to turn automatic downloads off. The embedded MNIST sample
(`"mnist_sample"`, `load_sample()`) needs no TFDS data at all.

Label-free streams can be turned into *function matching* streams (Beyer et al., CVPR 2022):
aggressive augmentation (`augment="aggressive"`) and mixing of the images of each batch
(`mixing="mixup"` or `"cutmix"`, refused on streams with labels), or `function_matching(ds)`
on any label-free stream. Streams with random augmentation are marked: `is_augmented(ds)`.

The modules: `pipeline` (`load`, `from_arrays`, `from_dataset`, `drop_labels`),
`augmentation` (`Augmentation`, presets, `is_augmented`), `function_matching`
(`function_matching`, mixing), `dataset_info` (`DatasetInfo`, `info`,
statistics), `tfds_source` (TFDS look-up, prepared check, `prepare`, `raw`) and `sample`
(`load_sample`). This package needs TensorFlow (`tf.data`) and, for TFDS names,
TensorFlow Datasets.

Example:

```python
import keras_anc

train = keras_anc.data.load("cifar10", "train", batch_size=128)  # (x, y), augmented, shuffled
images = keras_anc.data.load("cifar10", "train", labels=False)  # x only: label-free stream
test = keras_anc.data.load("cifar10", "test")  # (x, y), no augmentation, fixed order
meta = keras_anc.data.info("cifar10")  # num_classes, image_shape, mean, std, ...
sample = keras_anc.data.load_sample("train")  # embedded MNIST sample, works offline
views = keras_anc.data.load(
    "cifar10", "train", labels=False, augment="aggressive", mixing="mixup"
)  # function matching: teacher and student see the same mixed views
```
"""

try:
    import tensorflow  # noqa: F401
except ImportError as e:
    raise ImportError(
        "`keras_anc.data` builds `tf.data` pipelines and needs TensorFlow and TensorFlow "
        "Datasets. Install them with `pip install tensorflow tensorflow-datasets`. "
        f"Received: {type(e).__name__}: {e}"
    ) from e

from keras_anc.data._catalog import KNOWN_DATASETS, SAMPLE_NAME
from keras_anc.data.augmentation import Augmentation, is_augmented
from keras_anc.data.dataset_info import DatasetInfo, info
from keras_anc.data.function_matching import function_matching
from keras_anc.data.pipeline import drop_labels, from_arrays, from_dataset, load
from keras_anc.data.sample import load_sample
from keras_anc.data.tfds_source import (
    DatasetNotPreparedError,
    is_prepared,
    prepare,
    raw,
    require_prepared,
)

__all__ = [
    "KNOWN_DATASETS",
    "SAMPLE_NAME",
    "Augmentation",
    "DatasetInfo",
    "DatasetNotPreparedError",
    "drop_labels",
    "from_arrays",
    "from_dataset",
    "function_matching",
    "info",
    "is_augmented",
    "is_prepared",
    "load",
    "load_sample",
    "prepare",
    "raw",
    "require_prepared",
]
