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
import warnings

# mmcv-lite warns, when mixssl_mm imports mmpretrain's models, that it lacks
# a CUDA op nothing here uses: filtered before that import (docs/compat.md)
warnings.filterwarnings(
    'ignore',
    message=r'Fail to import ``MultiScaleDeformableAttention``',
    category=UserWarning,
    module=r'mmcv\.cnn\.bricks\.transformer')

from mixssl_mm.analysis.lambda_shortcut import main  # noqa: E402
from mixssl_mm.compat import apply_compat_fixes  # noqa: E402

if __name__ == '__main__':
    apply_compat_fixes()
    main(sys.argv[1:])
