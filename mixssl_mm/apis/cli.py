# Copyright (c) mixssl_mm contributors. All rights reserved.
"""What ``mixssl_mm.apis.train`` and ``.test`` share: mmpretrain's own
``parse_args``/``merge_args`` of ``tools/<name>.py`` (so every flag behaves as
there), the config as read, and the Runner as mmpretrain builds it.

mmpretrain's parsers are completed before they parse: the plugin's options
(``--overwrite``) take their place in the usage and option list, each option
without a help text gets one, and ``-h`` states every default
(:class:`~mixssl_mm.utils.cli_help.HelpFormatter`)."""
import argparse
import runpy
import sys
import types
from typing import Callable, Dict, List, Optional, Tuple

from mixssl_mm.utils.cli_help import HelpFormatter
from mixssl_mm.utils.mmpretrain_tools import mmpretrain_tool_path

__all__ = ['mmpretrain_tool', 'tool_parser', 'parse_and_read', 'build_runner']

# mmpretrain's options that come without a help text
MISSING_HELP = {
    '--local_rank':
    'rank of this process on its machine, passed by '
    'torch.distributed.launch (torchrun sets LOCAL_RANK instead)',
}


class _Built(Exception):
    """Carries a parser out of a tool's ``parse_args`` (see
    :func:`tool_parser`)."""

    def __init__(self, parser):
        super().__init__()
        self.parser = parser


def mmpretrain_tool(name: str) -> dict:
    """The namespace of mmpretrain's ``tools/<name>`` (run as a module, not
    as ``__main__``): ``parse_args``, ``merge_args``, ..."""
    return runpy.run_path(
        mmpretrain_tool_path(name), run_name=f'mmpretrain_tools_{name[:-3]}')


def _complete(parser, extra: Dict[str, dict], epilog: Optional[str]):
    """Add the ``extra`` options (flag -> ``add_argument`` keywords), fill
    in :data:`MISSING_HELP` and make ``-h`` state the defaults."""
    for flag, kwargs in extra.items():
        parser.add_argument(flag, **kwargs)
    for action in parser._actions:
        for flag in action.option_strings:
            if not action.help and flag in MISSING_HELP:
                action.help = MISSING_HELP[flag]
    parser.formatter_class = HelpFormatter
    if epilog:
        parser.epilog = epilog


def _call_parse_args(mm: dict, argv: List[str], on_parse: Callable):
    """Run mmpretrain's ``parse_args`` with ``argv`` as the command line,
    its ``argparse.ArgumentParser`` being one whose ``parse_args`` is
    ``on_parse(parser, stock_parse_args)``. The tool's namespace is ours
    (:func:`mmpretrain_tool` runs it afresh), so only its ``argparse``
    name is replaced; the module itself is untouched."""

    class ArgumentParser(argparse.ArgumentParser):

        def parse_args(self, args=None, namespace=None):
            return on_parse(
                self, lambda: super(ArgumentParser, self).parse_args(
                    args, namespace))

    parse_args = mm['parse_args']
    parse_args.__globals__['argparse'] = types.SimpleNamespace(
        **{
            **vars(argparse), 'ArgumentParser': ArgumentParser
        })
    saved_argv = sys.argv
    sys.argv = [mm['__file__'], *argv]
    try:
        return parse_args()
    finally:
        sys.argv = saved_argv
        parse_args.__globals__['argparse'] = argparse


def tool_parser(name: str,
                extra: Optional[Dict[str, dict]] = None,
                epilog: Optional[str] = None) -> argparse.ArgumentParser:
    """The completed parser of mmpretrain's ``tools/<name>`` (``extra``
    options and ``epilog`` as in :func:`parse_and_read`), without parsing
    anything: what ``-h`` prints and what the help-text test walks."""

    def built(parser, _):
        _complete(parser, extra or {}, epilog)
        raise _Built(parser)

    try:
        _call_parse_args(mmpretrain_tool(name), [], built)
    except _Built as done:
        return done.parser
    raise RuntimeError(f'mmpretrain tools/{name} built no parser')


def parse_and_read(
        name: str,
        argv: List[str],
        extra: Optional[Dict[str, dict]] = None,
        epilog: Optional[str] = None) -> Tuple[dict, object, object]:
    """``(tool namespace, args, config as read)`` for ``tools/<name>``'s
    command line ``argv``, parsed by mmpretrain's ``parse_args`` with its
    parser completed: ``extra`` options (flag -> ``add_argument``
    keywords; their values land in ``args`` too), help texts and defaults
    in ``-h``, and ``epilog`` printed below the options. After the
    arguments are parsed (``-h`` prints nothing else) the stack fixes are
    applied (:func:`mixssl_mm.compat.apply_compat_fixes`: ``mmpretrain::``
    bases, checkpoint loading, ...) and the plugin is imported.

    Raises:
        SystemExit: from mmpretrain's argument parser (``-h``, bad flags).
    """
    from mmengine.config import Config

    from mixssl_mm.compat import apply_compat_fixes

    def completed(parser, stock_parse):
        _complete(parser, extra or {}, epilog)
        return stock_parse()

    mm = mmpretrain_tool(name)
    args = _call_parse_args(mm, argv, completed)
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
