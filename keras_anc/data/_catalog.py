"""The data sets keras-anc has recipes for: names and canonical normalisation statistics."""

SAMPLE_NAME = "mnist_sample"
KNOWN_DATASETS = (SAMPLE_NAME, "mnist", "fashion_mnist", "cifar10", "cifar100", "svhn_cropped")

# Per-channel mean and std of [0, 1]-scaled pixels over each train split. MNIST, Fashion-MNIST
# and CIFAR-10 were recomputed here from the full TFDS train splits (they agree to 4 decimals);
# the CIFAR-100 and SVHN values are the widely used published ones. The stds are population stds
# over all pixels, not means of per-image stds (the often-quoted CIFAR-10 (0.2023, 0.1994,
# 0.2010) is the latter).
CANONICAL_STATS = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "svhn_cropped": ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
}
CANONICAL_STATS[SAMPLE_NAME] = CANONICAL_STATS["mnist"]
