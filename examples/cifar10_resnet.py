"""
Title: CIFAR-10: a ResNet teacher distilled into ResNet-20
Author: keras-anc developers
Description: The paper's CIFAR setting, with standard augmentation, regularizer schedule and
resumable training.

## Introduction

The ANC paper distils CIFAR ResNets (e.g. ResNet-164) into ResNet-20. This example runs the
same pipeline at a size you choose: by default a ResNet-56 teacher and a ResNet-20 student
(0.27M parameters). Training on a CPU takes hours at full size; on a GPU, minutes. Set
`KERAS_ANC_EXAMPLE_SMOKE=1` for a seconds-long run on a slice of the data (what CI does).
"""

import os

import keras
import matplotlib
import matplotlib.pyplot as plt

import keras_anc

SMOKE = os.environ.get("KERAS_ANC_EXAMPLE_SMOKE") == "1"
TEACHER, STUDENT = ("resnet8", "resnet8") if SMOKE else ("resnet56", "resnet20")
TAKE = 512 if SMOKE else None
TEACHER_EPOCHS, STUDENT_EPOCHS = (1, 1) if SMOKE else (60, 60)
OUT = os.environ.get("KERAS_ANC_EXAMPLE_OUT", "cifar10_run")

"""
## Data

4-pixel pad + random crop + horizontal flip for training, per-channel normalisation, all in
the `tf.data` pipeline (not in the model, so the exported student stays small).
"""

labelled = keras_anc.data.load("cifar10", "train", labels=True, take=TAKE)
unlabelled = keras_anc.data.load("cifar10", "train", labels=False, take=TAKE)
test = keras_anc.data.load("cifar10", "test", take=TAKE)

"""
## Teacher
"""

teacher = keras_anc.models.get_model(TEACHER, name="teacher")
teacher.compile(
    optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
teacher.fit(labelled, epochs=TEACHER_EPOCHS, validation_data=test, verbose=2)

"""
## Distil with the paper's regularizer, adapted on the fly

`DiscriminatorGuard` raises the share of adversarial samples while the discriminator wins
too easily; `BackupAndRestore` lets a killed run resume with both optimizers' states.
"""

student = keras_anc.models.get_model(STUDENT, name="student")
distiller = keras_anc.AdversarialDistiller(teacher, student, seed=0)
schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=STUDENT_EPOCHS * 400)
distiller.compile(
    student_optimizer=keras.optimizers.Adam(schedule),
    discriminator_optimizer=keras.optimizers.Adam(1e-4),
    metrics=["accuracy"],
)
history = distiller.fit(
    unlabelled,
    epochs=STUDENT_EPOCHS,
    validation_data=test,
    verbose=2,
    callbacks=[
        keras_anc.callbacks.DiscriminatorGuard(upper=0.9, lower=0.6, step=0.05),
        keras.callbacks.BackupAndRestore(os.path.join(OUT, "backup"), double_checkpoint=True),
    ],
)

"""
## Report and deploy
"""

print(distiller.evaluate(test, verbose=0, return_dict=True))

# The discriminator's accuracy shows the game's balance: near 1, D wins and the guard
# raises the regularizer; near 0.5, the student fools it.
matplotlib.use("Agg")
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
for key in ("accuracy", "val_accuracy", "teacher_agreement"):
    left.plot(history.history.get(key, []), marker="o", label=key)
right.plot(history.history["discriminator_accuracy"], marker="o", label="discriminator_accuracy")
for ax in (left, right):
    ax.set_xlabel("epoch")
    ax.legend()
fig.tight_layout()
os.makedirs(OUT, exist_ok=True)
fig.savefig(os.path.join(OUT, "curves.png"))
distiller.export_student(os.path.join(OUT, "serving", "student"))
