# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Benchmark MixSSL against mmpretrain's SSL methods (or any SSL config) on
BloodMNIST, another MedMNIST file or your own image folders.

One command runs, for every method and seed, normal mm runs (``python -m
mixssl_mm.apis.train`` / ``mixssl_mm.apis.test`` subprocesses, each stage
with its own work dir)::

    pretrain -> fine-tune (and on label fractions) -> test  (Rand: none)
             -> linear probe -> test
             -> k-NN

and writes results.md (top-1, per-class accuracy, macro metrics, the
paired difference to MixSSL with its 95 % interval), results.csv,
deltas.csv and results.png into the work dir. Run it from the repository
root (the method configs are relative to it).

Examples::

    python tools/benchmark.py --preset cpu-small --dry-run  # the plan
    python tools/benchmark.py --preset cpu-small
    python tools/benchmark.py --preset cpu-small --methods table1 --ablations
    python tools/benchmark.py --methods mixssl mmpretrain MySimSiam=x.py

A finished stage (its ``done.json``) is skipped when the command is run
again, so an interrupted benchmark resumes where it stopped. Presets, run
times and the protocol: ``--help`` and docs/benchmark.md; the code:
``mixssl_mm/benchmark/`` (docs/architecture.md).
"""
import sys

from mixssl_mm.benchmark.runner import main

if __name__ == '__main__':
    sys.exit(main())
