# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Test a model: mmpretrain's ``tools/test.py`` with mixssl_mm loaded.

Same flags as mmpretrain's (``checkpoint --work-dir --out --cfg-options
--launcher ...``); see ``python tools/test.py -h``.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mixssl_mm.utils import run_mmpretrain_tool  # noqa: E402

if __name__ == '__main__':
    run_mmpretrain_tool('test.py')
