# Copyright (c) mixssl_mm contributors. All rights reserved.
import difflib
import glob
import os.path as osp
import runpy
import sys
from typing import List, Optional


def mmpretrain_tool_path(name: str) -> str:
    """Path of one of mmpretrain's own tools (shipped under ``.mim/tools``
    in the wheel, under ``tools/`` in a source checkout)."""
    import mmpretrain
    pkg = osp.dirname(mmpretrain.__file__)
    roots = [
        osp.join(pkg, '.mim', 'tools'),
        osp.join(osp.dirname(pkg), 'tools')
    ]
    for root in roots:
        if osp.isfile(osp.join(root, name)):
            return osp.join(root, name)
    # a misspelt name (trian) is named with the tools there are
    found = sorted({
        osp.relpath(p, root)[:-3]
        for root in roots if osp.isdir(root)
        for p in glob.glob(osp.join(root, '**', '*.py'), recursive=True)
    })
    if found:
        close = difflib.get_close_matches(name[:-3], found, n=3)
        raise FileNotFoundError(f'mmpretrain has no tool {name[:-3]!r}. ' + (
            f'Did you mean {" or ".join(map(repr, close))}? ' if close else ''
        ) + f'Its tools: {", ".join(found)}.')
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
    if name not in _PREFLIGHTS:
        runpy.run_path(path, run_name='__main__')
        return
    # train.py / test.py: run their own main(), with the plugin's pre-flight
    # right after their merge_args (the tool's namespace is a fresh one of
    # ours; mmpretrain's module itself is untouched)
    main = runpy.run_path(path, run_name='mmpretrain_tool')['main']
    stock_merge = main.__globals__['merge_args']
    merged = []

    def merge_args(cfg, args):
        cfg = stock_merge(cfg, args)
        _PREFLIGHTS[name](cfg)
        merged.append(cfg)
        return cfg

    main.__globals__['merge_args'] = merge_args
    # a misspelt key of the model, a hook, a metric: named with its fix
    from mixssl_mm.preflight.component_errors import explained_component_errors
    with explained_component_errors(lambda: merged[-1] if merged else None):
        main()


def _preflight_train(cfg) -> None:
    from mixssl_mm.preflight import preflight_train

    # mmpretrain's train.py overwrites a work dir's checkpoints: so may we
    preflight_train(cfg, overwrite=True, tool='mmpretrain tools/train.py')


def _preflight_test(cfg) -> None:
    from mixssl_mm.preflight import preflight_test
    preflight_test(cfg, tool='mmpretrain tools/test.py')


# the plugin's pre-flight (docs/reliability.md) for mmpretrain's tools
_PREFLIGHTS = {'train.py': _preflight_train, 'test.py': _preflight_test}
