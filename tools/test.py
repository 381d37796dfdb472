# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Test a model: mmpretrain's ``tools/test.py`` with mixssl_mm loaded.

Same flags as mmpretrain's (``checkpoint --work-dir --out --cfg-options
--launcher ...``); see ``python tools/test.py -h``. The same program, from
any directory: ``python -m mixssl_mm.apis.test``.
"""
import warnings

# mmcv-lite warns, when mixssl_mm imports mmpretrain's models, that it lacks
# a CUDA op nothing here uses: filtered before that import (docs/compat.md)
warnings.filterwarnings(
    'ignore',
    message=r'Fail to import ``MultiScaleDeformableAttention``',
    category=UserWarning,
    module=r'mmcv\.cnn\.bricks\.transformer')

from mixssl_mm.apis.test import main  # noqa: E402

if __name__ == '__main__':
    main()
