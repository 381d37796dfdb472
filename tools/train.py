# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Train a model: mmpretrain's ``tools/train.py`` with mixssl_mm loaded.

Same flags as mmpretrain's (``--work-dir --resume --amp --auto-scale-lr
--cfg-options --launcher ...``); see ``python tools/train.py -h``. Added:
checks that refuse bad inputs before any work starts, a clean work dir when
a run fails before its first iteration, and ``--overwrite`` (a work dir that
holds checkpoints is otherwise refused without ``--resume``). The same
program, from any directory: ``python -m mixssl_mm.apis.train``. Details:
``mixssl_mm/apis/train.py`` and docs/reliability.md.
"""

from mixssl_mm.apis.train import main

if __name__ == '__main__':
    main()
