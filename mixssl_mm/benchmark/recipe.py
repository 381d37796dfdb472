# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The training recipe of every method of a run (``--recipe``: ``fair``,
AdamW with warm-up and cosine decay, or ``paper``, the shipped constant
Adam; docs/benchmark.md, "Recipe and protocols"), the crop range fitted to
the source resolution and Rand's start."""
import copy
import inspect
import math
import os
import os.path as osp
from typing import Optional

from .methods import plain, walk_transforms

RECIPES = ('fair', 'paper')
DEFAULT_RECIPE = 'fair'
WARMUP_FRACTION = 0.1
WEIGHT_DECAY = 0.05
ZERO_INIT_RESIDUAL = True
# the warm-up's end, set per stage (iterations) from its optimizer steps
WARMUP_END_KEY = 'param_scheduler.0.end'
SCHEDULE = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1),
    # no `end`: mmengine ends it at train_cfg.max_epochs (in iterations)
    dict(
        type='CosineAnnealingLR',
        eta_min=0.0,
        by_epoch=True,
        begin=0,
        convert_to_iter_based=True),
]
NO_DECAY = dict(norm_decay_mult=0.0, bias_decay_mult=0.0)
# the paper's optimizer (configs/_base_/schedules/adam_20e.py), which the
# shipped configs keep under --recipe paper and other configs are given
PAPER_LR = 1e-4
PAPER_OPTIM_WRAPPER = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=PAPER_LR, weight_decay=1e-4))


def foreign_optimizer(optim_wrapper) -> bool:
    """Whether a config's ``optim_wrapper`` has settings the fair recipe's
    merge would leave in place (LARS' momentum, AmpOptimWrapper, clip_grad,
    custom_keys, ...)."""
    ow = plain(optim_wrapper) or {}
    return (
        bool(set(ow) - {'type', 'optimizer', 'paramwise_cfg'})
        or ow.get('type', 'OptimWrapper') != 'OptimWrapper' or
        bool(set(ow.get('optimizer') or {}) - {'type', 'lr', 'weight_decay'})
        or ow.get('paramwise_cfg') not in (None, NO_DECAY))


def optimizer_overrides(recipe: str,
                        stage: str = 'pretrain',
                        config=None) -> dict:
    """Top-level keys a ``stage``'s wrapper (``'pretrain'``,
    ``'finetune'``, ``'linear'``) sets for ``recipe``; a ``config`` with a
    :func:`foreign_optimizer` gets the recipe's whole (lr :data:`PAPER_LR`
    unless the preset sets one).

    Raises:
        ValueError: an unknown recipe.
    """
    if recipe not in RECIPES:
        raise ValueError(f'unknown recipe {recipe!r}; choose from {RECIPES}')
    ow = plain(config.get('optim_wrapper')) if config is not None else None
    if recipe == 'paper':
        if config is None or ow == PAPER_OPTIM_WRAPPER:
            return {}
        return dict(
            optim_wrapper=dict(
                copy.deepcopy(PAPER_OPTIM_WRAPPER), _delete_=True),
            param_scheduler=[])
    optimizer = dict(type='AdamW')
    if stage != 'linear':
        optimizer['weight_decay'] = WEIGHT_DECAY
    out = dict(
        optim_wrapper=dict(optimizer=optimizer, paramwise_cfg=dict(NO_DECAY)),
        param_scheduler=copy.deepcopy(SCHEDULE))
    if config is not None and foreign_optimizer(ow):
        optimizer['lr'] = PAPER_LR
        # a parameter two modules share (SwAV's prototypes, held by its
        # head and its loss) is optimised once, not refused by mmengine
        out['optim_wrapper'] = dict(
            _delete_=True,
            type='OptimWrapper',
            optimizer=optimizer,
            paramwise_cfg=dict(NO_DECAY, bypass_duplicate=True))
    if stage == 'pretrain' and _takes_zero_init(config):
        out['model'] = dict(
            backbone=dict(zero_init_residual=ZERO_INIT_RESIDUAL))
    return out


def _takes_zero_init(config) -> bool:
    # ConvNeXt and ViT have no zero_init_residual
    from mmpretrain.registry import MODELS
    backbone = plain((config or {}).get('model') or {}).get('backbone') or {}
    cls = backbone.get('type')
    cls = MODELS.get(cls) if isinstance(cls, str) else cls
    if not isinstance(cls, type):
        return True
    params = inspect.signature(cls.__init__).parameters
    return 'zero_init_residual' in params or any(p.kind == p.VAR_KEYWORD
                                                 for p in params.values())


def steps_per_epoch(images: int, batch: int, drop_last: bool) -> int:
    """Optimizer steps of one epoch over ``images``."""
    return max(1, images // batch if drop_last else math.ceil(images / batch))


def warmup_options(recipe: str, epochs: int, steps: int) -> dict:
    """cfg-options ending a ``fair`` stage's warm-up after
    :data:`WARMUP_FRACTION` of its ``epochs`` x ``steps`` iterations."""
    if recipe == 'paper' or epochs <= 0:
        return {}
    return {WARMUP_END_KEY: max(1, round(WARMUP_FRACTION * epochs * steps))}


def crop_scale_min(source_px: int, keep_px: int) -> float:
    """The smallest RandomResizedCrop area fraction whose square crop keeps
    ``keep_px`` source pixels a side on a ``source_px`` image, rounded up
    to 0.01 (28 px, 16 px: 0.33)."""
    return min(1.0, math.ceil((keep_px / source_px)**2 * 100) / 100)


def crop_options(cfg, scale_min: float) -> dict:
    """cfg-options raising every training ``RandomResizedCrop``'s area
    range (default 0.08-1) to at least ``scale_min``."""
    out = {}
    for path, t in walk_transforms(cfg, ['train_dataloader'],
                                   ('RandomResizedCrop', )):
        lo, hi = t.get('crop_ratio_range', (0.08, 1.0))
        lo = max(lo, scale_min)
        out[f'{path}.crop_ratio_range'] = (lo, max(hi, lo))
    return out


def blur_options(cfg, size: int, full: int) -> dict:
    """cfg-options scaling every training ``GaussianBlur``'s radius range
    (px of ``full``-px views) by ``size / full``: the same share of the
    image is blurred at every resolution."""
    out = {}
    for path, t in walk_transforms(cfg, ['train_dataloader'],
                                   ('GaussianBlur', )):
        if 'magnitude_range' in t:
            out[f'{path}.magnitude_range'] = tuple(
                round(m * size / full, 4) for m in t['magnitude_range'])
    return out


def write_random_start(path: str, depth: int, seed: int) -> Optional[str]:
    """Write Rand's start, a freshly initialised ``ResNet(depth)`` under
    ``backbone.``; the path, or None when it exists already."""
    if osp.isfile(path):
        return None
    import torch
    from mmengine.runner import set_random_seed
    from mmpretrain.models import ResNet
    set_random_seed(seed)
    encoder = ResNet(depth=depth, zero_init_residual=ZERO_INIT_RESIDUAL)
    encoder.init_weights()
    state = {f'backbone.{k}': v for k, v in encoder.state_dict().items()}
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    torch.save(dict(state_dict=state, meta=dict(seed=seed, depth=depth)), tmp)
    os.replace(tmp, path)
    return path
