# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Test a model: mmpretrain's ``tools/test.py`` with mixssl_mm imported.

``python -m mixssl_mm.apis.test CONFIG CHECKPOINT [--work-dir --out
--cfg-options --launcher ...]`` (what ``tools/test.py`` runs). mmpretrain's
own script parses the flags and runs the test, so every flag behaves exactly
as there; this module only imports the plugin first (registrations and the
stack fixes of :mod:`mixssl_mm.mm_compat`).
"""
import sys
from typing import List, Optional

from mixssl_mm.apis.teardown import finish_run
from mixssl_mm.utils.mmpretrain_tools import (mmpretrain_tool_path,
                                              run_mmpretrain_tool)


def main(argv: Optional[List[str]] = None) -> None:
    """Run mmpretrain's ``tools/test.py`` with ``argv`` (default:
    ``sys.argv[1:]``) in this process.

    Raises:
        SystemExit: from mmpretrain's argument parser (``-h``, bad flags).
        FileNotFoundError: mmpretrain's ``tools/test.py`` is not installed.
    """
    if argv is not None:
        sys.argv = [mmpretrain_tool_path('test.py'), *argv]
    run_mmpretrain_tool('test.py')
    finish_run()  # workers and process group end before the interpreter


if __name__ == '__main__':
    main()
