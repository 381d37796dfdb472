# Copyright (c) mixssl_mm contributors. All rights reserved.
"""What ``mixssl_mm.apis.train`` and ``.test`` share: mmpretrain's own
``parse_args``/``merge_args`` of ``tools/<name>.py`` (so every flag behaves as
there), the config as read, and the Runner as mmpretrain builds it."""
import runpy
import sys
from typing import List, Tuple

from mixssl_mm.utils.mmpretrain_tools import mmpretrain_tool_path

__all__ = ['mmpretrain_tool', 'parse_and_read', 'build_runner']


def mmpretrain_tool(name: str) -> dict:
    """The namespace of mmpretrain's ``tools/<name>`` (run as a module, not
    as ``__main__``): ``parse_args``, ``merge_args``, ..."""
    return runpy.run_path(mmpretrain_tool_path(name),
                          run_name=f'mmpretrain_tools_{name[:-3]}')


def parse_and_read(name: str, argv: List[str]) -> Tuple[dict, object, object]:
    """``(tool namespace, args, config as read)`` for ``tools/<name>``'s
    command line ``argv``. After the arguments are parsed (``-h`` prints
    nothing else) the stack fixes are applied
    (:func:`mixssl_mm.compat.apply_compat_fixes`: ``mmpretrain::`` bases,
    checkpoint loading, ...) and the plugin is imported.

    Raises:
        SystemExit: from mmpretrain's argument parser (``-h``, bad flags).
    """
    from mmengine.config import Config

    from mixssl_mm.compat import apply_compat_fixes
    mm = mmpretrain_tool(name)
    saved_argv = sys.argv
    sys.argv = [mmpretrain_tool_path(name), *argv]
    try:
        args = mm['parse_args']()
    finally:
        sys.argv = saved_argv
    apply_compat_fixes()  # before the config is read
    import mixssl_mm  # noqa: F401
    return mm, args, Config.fromfile(args.config)


def build_runner(cfg):
    """The Runner of ``cfg``, as mmpretrain's tools build it; with
    ``quiet_startup = True`` (and no ``runner_type``) one whose console
    leaves out mmengine's start-up dumps (:mod:`mixssl_mm.apis.console`)."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    from mixssl_mm.apis.console import QUIET_KEY, runner_class
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    if cfg.get(QUIET_KEY):
        return runner_class().from_cfg(cfg)
    return Runner.from_cfg(cfg)
