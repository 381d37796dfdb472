# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Entry points behind ``tools/train.py`` and ``tools/test.py``.

Run them as ``python -m mixssl_mm.apis.train CONFIG [flags]`` and
``python -m mixssl_mm.apis.test CONFIG CHECKPOINT [flags]`` from any
directory, with exactly mmpretrain's flags (plus ``--overwrite`` for
training). The submodules are not imported here, so ``python -m`` runs each
one once, as ``__main__``.
"""
