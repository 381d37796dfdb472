# Copyright (c) mixssl_mm contributors. All rights reserved.
import os.path as osp
import runpy
import sys
from typing import List, Optional


def mmpretrain_tool_path(name: str) -> str:
    """Path of one of mmpretrain's own tools (shipped under ``.mim/tools``
    in the wheel, under ``tools/`` in a source checkout)."""
    import mmpretrain
    pkg = osp.dirname(mmpretrain.__file__)
    for path in (osp.join(pkg, '.mim', 'tools',
                          name), osp.join(osp.dirname(pkg), 'tools', name)):
        if osp.isfile(path):
            return path
    raise FileNotFoundError(
        f'mmpretrain tool {name!r} not found under {pkg}; reinstall '
        "mmpretrain from a wheel ('pip install mmpretrain==1.2.0').")


def run_mmpretrain_tool(name: str, argv: Optional[List[str]] = None) -> None:
    """Run mmpretrain's ``tools/<name>`` as ``__main__`` in this process with
    the command line ``argv`` (default: ``sys.argv[1:]``), after
    :func:`mixssl_mm.compat.apply_compat_fixes`, so every flag behaves
    exactly as in mmpretrain. The config's ``custom_imports`` brings the
    plugin in, as it would without the fixes."""
    from mixssl_mm.compat import apply_compat_fixes
    path = mmpretrain_tool_path(name)
    apply_compat_fixes()
    sys.argv = [path, *(sys.argv[1:] if argv is None else argv)]
    runpy.run_path(path, run_name='__main__')
