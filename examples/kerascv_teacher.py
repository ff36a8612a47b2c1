"""
Title: A keras-cv backbone as the teacher
Author: keras-anc developers
Description: Any image model can teach: here a keras-cv ResNet-18 backbone with a linear
head, distilled into a CIFAR ResNet-8.

## Introduction

`keras_anc.models.keras_cv_classifier` wraps a keras-cv backbone (by preset name or as a
model) with global pooling (`"features"`) and a Dense head (`"logits"`), so it plugs into
`AdversarialDistiller` like any zoo model. The backbone is built from its architecture
only: no weights are downloaded. Distilling from intermediate features instead of logits
is one argument away (`teacher_layer="features"`, `student_layer="features"`); the widths
differ (512 vs 64), so a learned projection bridges them.

Set `KERAS_ANC_EXAMPLE_SMOKE=1` for a seconds-long run (what CI does).
"""

import os

import keras

import keras_anc

SMOKE = os.environ.get("KERAS_ANC_EXAMPLE_SMOKE") == "1"
TAKE = 256 if SMOKE else None
TEACHER_EPOCHS, STUDENT_EPOCHS = (1, 1) if SMOKE else (30, 30)

labelled = keras_anc.data.load("cifar10", "train", labels=True, take=TAKE)
unlabelled = keras_anc.data.load("cifar10", "train", labels=False, take=TAKE)
test = keras_anc.data.load("cifar10", "test", take=TAKE)

teacher = keras_anc.models.keras_cv_classifier(
    "resnet18", input_shape=(32, 32, 3), num_classes=10, name="teacher"
)
teacher.compile(
    optimizer="adam",
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
teacher.fit(labelled, epochs=TEACHER_EPOCHS, verbose=2)

"""
## Distil on the pooled features
"""

student = keras_anc.models.get_model("resnet8", name="student")
distiller = keras_anc.AdversarialDistiller(
    teacher, student, teacher_layer="features", student_layer="features", seed=0
)
distiller.compile(
    student_optimizer=keras.optimizers.Adam(1e-3),
    discriminator_optimizer=keras.optimizers.Adam(1e-4),
    metrics=["accuracy"],
)
distiller.fit(unlabelled, epochs=STUDENT_EPOCHS, validation_data=test, verbose=2)
print(
    f"teacher {teacher.count_params():,} parameters -> student {student.count_params():,}: "
    f"{distiller.evaluate(test, verbose=0, return_dict=True)}"
)
