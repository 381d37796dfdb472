# Copyright (c) mixssl_mm contributors. All rights reserved.
"""mmpretrain's own tools with this project's stack fixes applied first.

``python -m mixssl_mm.apis.mmpretrain_tool TOOL [ARGS ...]`` runs
mmpretrain's ``tools/TOOL.py`` (``train``, ``test``, or a path under
``tools/`` such as ``analysis_tools/get_flops``) exactly as
``python tools/TOOL.py ARGS`` would in an mmpretrain checkout, after
:func:`mixssl_mm.compat.apply_compat_fixes` (docs/compat.md). It is the
documented one-line opt-in for mmpretrain's tools, e.g. under torchrun::

    torchrun --nproc_per_node=2 -m mixssl_mm.apis.mmpretrain_tool train \\
        CONFIG --launcher pytorch
"""
import sys

from mixssl_mm.utils.mmpretrain_tools import run_mmpretrain_tool

USAGE = ('usage: python -m mixssl_mm.apis.mmpretrain_tool TOOL [ARGS ...]\n'
         "  TOOL: one of mmpretrain's tools, e.g. train, test, "
         'analysis_tools/get_flops;\n  ARGS: that tool\'s own arguments '
         '(TOOL -h lists them)')


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ('-h', '--help'):
        print(USAGE)
        sys.exit(0 if argv else 2)
    name = argv[0] if argv[0].endswith('.py') else argv[0] + '.py'
    run_mmpretrain_tool(name, argv[1:])


if __name__ == '__main__':
    main()
