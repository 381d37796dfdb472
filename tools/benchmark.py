# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Benchmark MixSSL against mmpretrain's built-in SSL methods on BloodMNIST.

One command runs, for every method and seed, the paper's protocol as normal
mm runs (``python -m mixssl_mm.apis.train`` / ``mixssl_mm.apis.test``
subprocesses, each stage with its own work dir)::

    pretrain -> fine-tune -> test        (Rand: no pretraining)
             -> linear probe -> test

and writes ``results.md`` (Table 1: per-class test accuracy; Table 2: macro
precision / recall / F1 / ROC-AUC / accuracy; mean ± std over seeds),
``results.csv`` (one row per method x protocol x seed) and ``results.png``
(top-1 per method) into the work dir. Run it from the repository root (the
method configs are relative to it).

Examples::

    python tools/benchmark.py --preset tiny                # CI smoke run
    python tools/benchmark.py --preset cpu-small          # 31 min, 2 CPU cores
    python tools/benchmark.py --preset gpu-paper --seeds 0 1 2
    python tools/benchmark.py --preset cpu-small --methods mixssl rand \\
        --classes 8 --work-dir work_dirs/bench8
    python tools/benchmark.py --preset cpu-small --ablations   # Table 3
    python tools/benchmark.py --preset cpu-small --methods table1 \\
        --imagenet-ckpt checkpoints/dino_resnet50_mmpretrain.pth

A finished stage (its ``done.json``) is skipped when the command is run
again, so an interrupted benchmark resumes where it stopped; a training stage
that was interrupted mid-way resumes from its last checkpoint. See
``docs/benchmark.md``; the code is in ``mixssl_mm/benchmark/`` (methods and
presets, stage planning, the runner, the report).
"""
import sys

from mixssl_mm.benchmark.runner import main
from mixssl_mm.compat import apply_compat_fixes

if __name__ == '__main__':
    apply_compat_fixes()
    sys.exit(main())
