# Copyright (c) mixssl_mm contributors. All rights reserved.
"""GPU acceptance run: on one CUDA GPU, inside a time budget (default 8
min, a hard stop), (a) every shipped pretraining config ~20 iterations with
bf16 AMP, (b) dist_train.sh CONFIG 1 + --resume and dist_test.sh on a
fine-tune checkpoint, (c) MixSSL (fast) / SimCLR / MoCo v2 throughput at
ResNet-50 / 224 px / batch 256, synthetic and real pipeline, (d) the
gpu-quick benchmark preset with the time left; the Markdown report
(``<out>/report.md``) is rewritten after every step.

Examples (from the repository root)::

    python tools/analysis_tools/gpu_acceptance.py            # on a GPU
    python tools/analysis_tools/gpu_acceptance.py --tiny     # CPU, CI size
    bash tools/analysis_tools/gpu_acceptance.sh              # a bare GPU box

Details: ``mixssl_mm/analysis/acceptance.py`` and docs/distributed.md.
"""
import sys

from mixssl_mm.analysis.acceptance import main

if __name__ == '__main__':
    sys.exit(main())
