"""Benchmarks of keras-anc: accuracy of every method (`benchmarks.accuracy`) and training
speed of the distillation loops (`benchmarks.speed`). Run them as modules, e.g.
`python -m benchmarks.accuracy --preset cpu`."""
