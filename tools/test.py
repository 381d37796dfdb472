# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Test a model: mmpretrain's ``tools/test.py`` with mixssl_mm loaded.

Same flags as mmpretrain's (``checkpoint --work-dir --out --cfg-options
--launcher ...``); see ``python tools/test.py -h``. The same program, from
any directory: ``python -m mixssl_mm.apis.test``.
"""

from mixssl_mm.apis.test import main

if __name__ == '__main__':
    main()
