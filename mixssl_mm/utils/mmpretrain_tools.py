# Copyright (c) mixssl_mm contributors. All rights reserved.
import os.path as osp
import runpy
import sys


def mmpretrain_tool_path(name: str) -> str:
    """Path of one of mmpretrain's own tools (shipped under ``.mim/tools``
    in the wheel, under ``tools/`` in a source checkout)."""
    import mmpretrain
    pkg = osp.dirname(mmpretrain.__file__)
    for path in (osp.join(pkg, '.mim', 'tools', name),
                 osp.join(osp.dirname(pkg), 'tools', name)):
        if osp.isfile(path):
            return path
    raise FileNotFoundError(
        f'mmpretrain tool {name!r} not found under {pkg}; reinstall '
        "mmpretrain from a wheel ('pip install mmpretrain==1.2.0').")


def run_mmpretrain_tool(name: str) -> None:
    """Run mmpretrain's ``tools/<name>`` as ``__main__`` in this process,
    after :mod:`mixssl_mm` is imported (registrations and stack fixes), so
    every flag behaves exactly as in mmpretrain."""
    import mixssl_mm  # noqa: F401
    path = mmpretrain_tool_path(name)
    sys.argv[0] = path
    runpy.run_path(path, run_name='__main__')
