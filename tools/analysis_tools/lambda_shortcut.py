# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Does MixSSL's transparency head read λ from BatchNorm's batch statistics?
Issue 18's table; the logic and its options:
:mod:`mixssl_mm.analysis.lambda_shortcut` (``--help``). Example (the
``cpu-small`` budget)::

    python tools/analysis_tools/lambda_shortcut.py \\
        configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py \\
        --iters 192 --depth 18 --img-size 64 --batch-size 32 \\
        --train-subset 2048 --lr 1e-3 --objective T \\
        --work-dir work_dirs/lambda_shortcut_cpu-small
"""
import sys

from mixssl_mm.analysis.lambda_shortcut import main

if __name__ == '__main__':
    main(sys.argv[1:])
