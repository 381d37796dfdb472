# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Pre-flight check of the training batches each rank will get, from the
train dataset's length, the batch size, the world size and the sampler:

- an epoch with no batch (``drop_last=True`` with fewer samples per rank than
  the batch size) is refused: mmengine would run the epochs without a single
  iteration, save checkpoints of the initial weights and exit 0;
- a last batch of one sample in a model with BatchNorm in training mode
  (BatchNorm cannot normalise one value per channel: ``Expected more than 1
  value per channel when training``, raised by the epoch's last batch, after
  the first iterations trained) is resolved with ``drop_last=True`` when that
  loses less than one batch per epoch (said on the console), refused
  otherwise, naming the fix.

Per-rank sample counts follow mmengine's ``DefaultSampler`` (``round_up``
pads every rank to ``ceil(N / world_size)``; without it rank ``r`` gets
``len(range(r, N, world_size))``); ``InfiniteSampler`` never ends an epoch,
so its batches are always full. Other samplers are not checked.
"""
import math
import os
from typing import List, Optional

from .error import ConfigError

__all__ = [
    'world_size_of', 'samples_per_rank', 'batches_per_epoch',
    'has_training_batchnorm', 'check_train_batches'
]

_LOADER = 'train_dataloader'


def world_size_of(cfg) -> int:
    """The number of training processes: ``WORLD_SIZE`` (torchrun) or
    ``SLURM_NTASKS`` (srun) under a launcher, else 1."""
    if cfg.get('launcher', 'none') in (None, 'none'):
        return 1
    for var in ('WORLD_SIZE', 'SLURM_NTASKS'):
        if os.environ.get(var, '').isdigit():
            return max(1, int(os.environ[var]))
    return 1


def _sampler_type(sampler_cfg) -> str:
    kind = (sampler_cfg or {}).get('type', 'DefaultSampler')
    return kind if isinstance(kind, str) else getattr(kind, '__name__', '')


def samples_per_rank(n: int, world_size: int,
                     sampler_cfg) -> Optional[List[int]]:
    """The samples each rank draws in an epoch of a dataset of ``n``
    samples; None for a sampler without epochs or one this check does not
    know."""
    kind = _sampler_type(sampler_cfg).split('.')[-1]
    if kind != 'DefaultSampler':
        return None
    if (sampler_cfg or {}).get('round_up', True):
        return [math.ceil(n / world_size)] * world_size
    return [len(range(r, n, world_size)) for r in range(world_size)]


def batches_per_epoch(samples: int, batch_size: int, drop_last: bool) -> int:
    """Batches of one rank's epoch."""
    if drop_last:
        return samples // batch_size
    return math.ceil(samples / batch_size)


def has_training_batchnorm(cfg) -> Optional[bool]:
    """Whether the model of ``cfg`` has a BatchNorm layer that trains
    (``model.train()``; e.g. ResNet's ``norm_eval=True`` keeps its own in
    eval mode); None when the model cannot be built here (the Runner then
    reports it). Weights are not initialised or loaded."""
    import torch
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    from mixssl_mm.utils import runner_model_cfg
    if not isinstance(cfg.get('model'), dict):
        return None
    model_cfg = runner_model_cfg(cfg)
    try:
        with DefaultScope.overwrite_default_scope(
                cfg.get('default_scope', 'mmpretrain')):
            model = MODELS.build(model_cfg)
    except Exception:  # noqa: B902  reported by the Runner
        return None
    model.train()
    return any(
        isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.training
        for m in model.modules())


def _loses(samples: List[int], batch_size: int) -> str:
    last = {s % batch_size for s in samples}
    return ', '.join(str(x) for x in sorted(last))


def check_train_batches(cfg, dataset, report=print) -> None:
    """Refuse a training length (``max_epochs`` / ``max_iters``) that is no
    whole number >= 0 (0 is said: nothing is trained) and a training run
    whose epochs have no batch on some rank, and resolve or refuse a last
    training batch of one sample in a model with BatchNorm (see the module
    docstring). ``cfg.train_dataloader`` is changed in place when resolved
    (``drop_last=True``).

    Args:
        cfg: The merged config.
        dataset: The built train dataset (its ``len`` is used).
        report: Where the resolution is said.

    Raises:
        ConfigError: naming the numbers and the fix.
    """
    loader = cfg.get(_LOADER)
    train_cfg = cfg.get('train_cfg') or {}
    key = 'max_epochs' if 'max_epochs' in train_cfg else 'max_iters'
    length = train_cfg.get(key)
    # mmengine's loops take a whole float (int(x) == x) too
    whole = isinstance(
        length, int) or isinstance(length, float) and length.is_integer()
    if key in train_cfg and (isinstance(length, bool) or not whole
                             or length < 0):
        # mmengine runs no epoch for a negative one and exits 0
        raise ConfigError(
            f'train_cfg.{key}={length!r}: give a whole number >= 1 '
            f'(--cfg-options train_cfg.{key}=N); 0 trains nothing.')
    if length == 0:
        # asks for no training: the benchmark's k-NN stage evaluates the
        # initial weights that way
        report(f'train_cfg.{key}=0: nothing is trained (hooks that run '
               'before or after training, such as KNNEvalHook, still run).')
        return
    if dataset is None or not isinstance(loader, dict):
        return
    batch_size = loader.get('batch_size', 1)
    if loader.get('batch_sampler') is not None or not isinstance(
            batch_size, int) or batch_size < 1:
        return
    world_size = world_size_of(cfg)
    n = len(dataset)
    samples = samples_per_rank(n, world_size, loader.get('sampler'))
    if samples is None:
        return
    drop_last = bool(loader.get('drop_last', False))
    procs = (f' over {world_size} processes ({", ".join(map(str, samples))}'
             ' per rank)' if world_size > 1 else '')
    if min(batches_per_epoch(s, batch_size, drop_last) for s in samples) == 0:
        raise ConfigError(
            f'{_LOADER}: {n} training samples{procs} give no batch of '
            f'batch_size={batch_size}' +
            (' with drop_last=True' if drop_last else '') +
            ' in an epoch, so the run would train nothing, save checkpoints '
            'of the initial weights and exit 0. Set '
            f'{_LOADER}.batch_size to at most {min(samples)} (--cfg-options '
            f'{_LOADER}.batch_size={max(1, min(samples))}), ' +
            (f'or {_LOADER}.drop_last=False, ' if drop_last else '') +
            'or add training samples' +
            (' or use fewer processes' if world_size > 1 else '') + '.')
    if drop_last or not any(s % batch_size == 1 for s in samples):
        return
    if not has_training_batchnorm(cfg):
        return
    what = (f'{n} training samples{procs} at batch_size={batch_size} leave '
            'a last batch of one sample in every epoch')
    if batch_size == 1 or min(samples) < batch_size:
        raise ConfigError(
            f'{_LOADER}: {what}, and the model has BatchNorm layers, which '
            'cannot train on one sample (Expected more than 1 value per '
            'channel when training); dropping it would leave no batch. Use '
            f'batch_size >= 2 with at least that many samples per rank '
            f'(--cfg-options {_LOADER}.batch_size=N), add training samples, '
            'or use a model without BatchNorm (e.g. norm_cfg=dict('
            "type='GN', num_groups=32)).")
    loader['drop_last'] = True
    report(f'{_LOADER}: {what}, which the model\'s BatchNorm layers cannot '
           'train on (Expected more than 1 value per channel when '
           f'training); set drop_last=True: each epoch leaves out '
           f'{_loses(samples, batch_size)} sample(s) per rank, less than '
           'one batch, in a different order every epoch when the sampler '
           f'shuffles. To keep them, set {_LOADER}.batch_size so that the '
           'last batch has 2 or more samples.')
