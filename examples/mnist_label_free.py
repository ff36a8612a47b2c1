"""
Title: Label-free distillation on MNIST
Author: keras-anc developers
Description: Compress a LeNet-5 into a 14x smaller network without using a single label.

## Introduction

Adversarial network compression (Belagiannis et al., 2018) trains a small *student* to
imitate a large *teacher* by playing a GAN game: a discriminator learns to tell teacher
outputs from student outputs, and the student learns to fool it while an L2 term pulls its
logits to the teacher's. No labels are needed for the student, which is the point: any
pile of unlabelled images from the deployment domain will do.

Run it with `python examples/mnist_label_free.py`; set `KERAS_ANC_EXAMPLE_SMOKE=1` for a
seconds-long run on a slice of the data (what CI does).
"""

import os

import keras

import keras_anc

SMOKE = os.environ.get("KERAS_ANC_EXAMPLE_SMOKE") == "1"
TRAIN = 2000 if SMOKE else None
TEACHER_EPOCHS, STUDENT_EPOCHS = (1, 2) if SMOKE else (5, 10)

"""
## Data

`keras_anc.data.load` reads MNIST through TensorFlow Datasets (set `TFDS_DATA_DIR` to use a
local copy) and normalises it. For the student we ask for `labels=False`: the stream yields
images only, so the labels cannot leak into distillation.
"""

labelled = keras_anc.data.load("mnist", "train", labels=True, take=TRAIN)
unlabelled = keras_anc.data.load("mnist", "train", labels=False, take=TRAIN)
test = keras_anc.data.load("mnist", "test", take=1000 if SMOKE else None)

"""
## A teacher

In practice you already have one. Here we train a LeNet-5 from the model zoo.
"""

teacher = keras_anc.models.get_model("lenet5", name="teacher")
teacher.compile(
    optimizer="adam",
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
teacher.fit(labelled, epochs=TEACHER_EPOCHS, verbose=2)

"""
## Distil

The student has 4,298 parameters against the teacher's 61,706.
"""

student = keras_anc.models.get_model("lenet_tiny", name="student")
distiller = keras_anc.AdversarialDistiller(teacher, student, seed=0)
distiller.compile(
    student_optimizer=keras.optimizers.Adam(3e-3),
    discriminator_optimizer=keras.optimizers.Adam(1e-4),
    metrics=["accuracy"],
)
distiller.fit(unlabelled, epochs=STUDENT_EPOCHS, validation_data=test, verbose=2)

"""
## Compare
"""

teacher_acc = teacher.evaluate(test, verbose=0)[1]
student_acc = distiller.evaluate(test, verbose=0, return_dict=True)["accuracy"]
print(f"teacher: {teacher.count_params():,} parameters, {100 * teacher_acc:.2f}% accuracy")
print(f"student: {student.count_params():,} parameters, {100 * student_acc:.2f}% accuracy")
student.save(os.path.join(os.environ.get("KERAS_ANC_EXAMPLE_OUT", "."), "mnist_student.keras"))
