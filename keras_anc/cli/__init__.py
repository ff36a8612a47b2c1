"""The `keras-anc` command-line application: train-teacher, distill, evaluate, export, data.

An application built on the library, never imported by it: `main` (the parser and the
`keras-anc` entry point), `config` (run configurations), `commands` (one module per
command, imported only when it runs), `results` (the files a run writes), `run_dir` (run
folders, never over a finished run) and `data_dir` (the TFDS data directory, read without
TensorFlow).
"""
