"""The `keras-anc` command-line application: train-teacher, distill, evaluate, export.

An application built on the library, never imported by it: `main` (the parser and the
`keras-anc` entry point), `config` (run configurations), `commands` (one module per
command, imported only when it runs) and `results` (the files a run writes).
"""
