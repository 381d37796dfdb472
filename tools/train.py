# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Train a model: mmpretrain's ``tools/train.py`` with mixssl_mm loaded.

Same flags as mmpretrain's (``--work-dir --resume --amp --auto-scale-lr
--cfg-options --launcher ...``); see ``python tools/train.py -h``. Added:
checks that refuse bad inputs before any work starts, a clean work dir when
a run fails before its first iteration, and ``--overwrite`` (a work dir that
holds checkpoints is otherwise refused without ``--resume``). Details:
``mixssl_mm/utils/train_tool.py`` and docs/reliability.md.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mixssl_mm.utils.train_tool import main  # noqa: E402

if __name__ == '__main__':
    main()
