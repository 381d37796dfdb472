# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Pre-flight checks of command-line flags against the config parts they
need, run on the config as read, before mmpretrain's ``merge_args`` (which
would fail on a missing part with a bare ``AttributeError``, e.g.
``'ConfigDict' object has no attribute 'auto_scale_lr'`` for
``--auto-scale-lr``, or quietly replace a part, e.g. ``--amp`` overwriting
``optim_wrapper.type``). Each refusal names what to add or change."""
import os
import os.path as osp
from typing import Optional

from .config import config_name as _name
from .error import ConfigError

__all__ = [
    'check_train_flags', 'check_test_flags', 'check_launcher',
    'check_auto_scale_lr'
]

# wrappers whose type --amp may set to AmpOptimWrapper without losing any
# behaviour (the Amp wrapper is an OptimWrapper)
_AMP_REPLACEABLE = ('OptimWrapper', 'AmpOptimWrapper')
_DIST_USAGE = dict(
    train='train.sh CONFIG NUM_PROCESSES',
    test='test.sh CONFIG CHECKPOINT NUM_PROCESSES')
_LAUNCHER_ENV = {
    'pytorch': (('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'),
                'start it with torchrun, which sets them (e.g. bash '
                'tools/dist_{usage})'),
    'slurm': (('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST'),
              'start it with srun (e.g. tools/slurm_train.sh), which sets '
              'them'),
}


def _type_name(kind) -> str:
    name = kind if isinstance(kind, str) else getattr(kind, '__name__', '')
    return name.split('.')[-1]


def check_launcher(launcher: str, tool: str = 'train') -> None:
    """``--launcher pytorch/slurm`` needs the environment its launcher sets;
    without it mmengine fails in torch's rendezvous or with a ``KeyError``.

    Raises:
        ConfigError: naming the variables and how to start the run.
    """
    if launcher not in _LAUNCHER_ENV:
        return
    names, how = _LAUNCHER_ENV[launcher]
    missing = [n for n in names if n not in os.environ]
    if missing:
        raise ConfigError(
            f'--launcher {launcher} needs the environment variables '
            f'{", ".join(missing)}, which are not set: '
            f'{how.format(usage=_DIST_USAGE[tool])}'
            f'; for one process, leave --launcher out.')


def check_auto_scale_lr(cfg) -> None:
    """An enabled ``auto_scale_lr`` needs ``base_batch_size`` (mmengine's
    ``RuntimeError`` comes only once the Runner is built).

    Raises:
        ConfigError: naming the key to add.
    """
    auto = cfg.get('auto_scale_lr')
    if isinstance(auto, dict) and auto.get('enable') and \
            auto.get('base_batch_size') is None:
        raise ConfigError(
            'auto_scale_lr is enabled but has no base_batch_size: add '
            'auto_scale_lr.base_batch_size=N, the total batch size (GPUs x '
            'batch_size) that optim_wrapper.optimizer.lr is set for.')


def check_train_flags(cfg, args) -> None:
    """mmpretrain's ``tools/train.py`` flags against ``cfg`` as read.

    Raises:
        ConfigError: ``--auto-scale-lr`` without ``auto_scale_lr``; ``--amp``
            without an ``optim_wrapper`` or with a wrapper type it would
            replace.
    """
    if args.auto_scale_lr and not isinstance(cfg.get('auto_scale_lr'), dict):
        raise ConfigError(
            '--auto-scale-lr scales the learning rate by (total batch size) '
            f'/ auto_scale_lr.base_batch_size, but {_name(cfg)} has no '
            'auto_scale_lr. Add to the config\n  auto_scale_lr = '
            'dict(base_batch_size=N)\nwith N the total batch size (GPUs x '
            'batch_size) its learning rate is set for, e.g. 64 for 1 GPU x '
            '64; or, instead of --auto-scale-lr, pass --cfg-options '
            'auto_scale_lr.base_batch_size=N auto_scale_lr.enable=True.')
    if args.amp:
        wrapper = cfg.get('optim_wrapper')
        if not isinstance(wrapper, dict):
            raise ConfigError(
                '--amp turns optim_wrapper into an AmpOptimWrapper, but '
                f'{_name(cfg)} has no optim_wrapper; add one, e.g. '
                "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1)).")
        kind = _type_name(wrapper.get('type', 'OptimWrapper'))
        if kind not in _AMP_REPLACEABLE:
            raise ConfigError(
                f'--amp sets optim_wrapper.type to AmpOptimWrapper, which '
                f'would replace optim_wrapper.type={wrapper["type"]!r} and '
                'drop what that wrapper does. Drop --amp, or use '
                f'mixed precision through {kind}\'s own options.')


def check_test_flags(cfg, args) -> None:
    """mmpretrain's ``tools/test.py`` flags against ``cfg`` as read.

    Raises:
        ConfigError: ``--amp`` without ``test_cfg``; ``--tta`` without a
            ``test_dataloader`` pipeline; ``--show``/``--show-dir`` without
            ``default_hooks.visualization``; ``--out-item`` without
            ``--out``; an ``--out`` that is a folder or whose suffix the
            writer does not take (found after the whole test otherwise).
    """
    if args.out_item is not None and args.out is None:
        raise ConfigError(f'--out-item {args.out_item} says what --out '
                          'writes; give --out FILE as well.')
    if args.out is not None:
        _check_out(args.out, args.out_item)
    if args.amp and not isinstance(cfg.get('test_cfg'), dict):
        raise ConfigError(
            '--amp sets test_cfg.fp16=True, but '
            f'{_name(cfg)} has no test_cfg; add test_cfg = dict() to the '
            "config (mmpretrain sets it before it applies --cfg-options).")
    if args.tta:
        loader = cfg.get('test_dataloader')
        dataset = loader.get('dataset') if isinstance(loader, dict) else None
        if not isinstance(dataset, dict) or not (dataset.get('pipeline')
                                                 or cfg.get('tta_pipeline')):
            raise ConfigError(
                '--tta tests test_dataloader.dataset with a flip pipeline '
                'made from test_dataloader.dataset.pipeline (or the '
                f"config's tta_pipeline), which {_name(cfg)} lacks; add a "
                'test_dataloader whose dataset has a pipeline.')
    if args.show or args.show_dir is not None:
        if 'visualization' not in (cfg.get('default_hooks') or {}):
            raise ConfigError('--show/--show-dir draw through default_hooks.'
                              f'visualization, which {_name(cfg)} lacks; add '
                              "default_hooks = dict(visualization=dict(type="
                              "'VisualizationHook', enable=False)).")


# the suffixes mmengine.dump writes (metrics) and DumpResults takes (pred)
_OUT_SUFFIXES = dict(
    metrics=('.json', '.yaml', '.yml', '.pkl', '.pickle'),
    pred=('.pkl', '.pickle'))


def _check_out(out: str, item: Optional[str]) -> None:
    item = item or 'pred'  # mmpretrain's default
    suffixes = _OUT_SUFFIXES[item]
    if osp.isdir(out) or out.endswith(('/', os.sep)):
        raise ConfigError(
            f'--out {out} is a folder; give a file in it, e.g. --out '
            f'{osp.join(out, "metrics" if item == "metrics" else "preds")}'
            f'{suffixes[0]}.')
    if not out.endswith(suffixes):  # the writers match it as written
        raise ConfigError(
            f'--out {out}: the {item} ({"--out-item " + item}) are written '
            f'as {" / ".join(suffixes)} only, chosen by the suffix; name the '
            f'file {osp.splitext(out)[0]}{suffixes[0]}.')
