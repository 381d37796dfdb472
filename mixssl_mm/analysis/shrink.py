# Copyright (c) mixssl_mm contributors. All rights reserved.
"""cfg-options that shrink any shipped config to a test size, read from the
config's content (not from a table of known configs), so a config added
later is shrunk the same way. Used by the config x launcher matrix test and
by the acceptance command's ``--tiny`` mode.

- :func:`shipped_configs`: every config file under configs/;
- :func:`config_kind`: ``'pretrain'`` (a self-supervised algorithm) or
  ``'downstream'`` (a classifier: fine-tune, linear probe), from the class
  the config's ``model.type`` builds;
- :func:`model_options`: a narrower, shallower ResNet and every neck/head
  width that follows the encoder's (see :data:`WIDTH_KEYS`);
- :func:`encoder_options`: a non-ResNet encoder at its family's smallest
  arch (:data:`SMALLEST_ARCH`) with every setting that reads it
  (:func:`~mixssl_mm.benchmark.config_fit.reader_options`);
- :func:`data_options`: few samples, small batches, no workers, data read
  from given test files (a MedMNIST ``.npz``, an image folder);
- :func:`shrink_options`: all of them plus the resolution (reusing
  :func:`mixssl_mm.benchmark.methods.resolution_options`), one epoch, and
  the settings a CPU cannot run (``compile``).
"""
import copy
import glob
import os.path as osp
from collections import OrderedDict
from typing import List, Optional, Sequence, Tuple

from mixssl_mm.benchmark.config_fit import reader_options
from mixssl_mm.benchmark.methods import (LOADERS, largest_size,
                                         resolution_options)
from mixssl_mm.preflight.config import config_dicts

# neck/head arguments that follow the encoder's output width: a value at or
# above it is scaled with the encoder (2048 -> 128 for a ResNet-50 shrunk to
# a ResNet-18 of width 16; DINO's 65536 prototypes -> 4096, BYOL's 4096
# hidden units -> 256); smaller values (projection sizes such as 128 or 256,
# the decoder's channels) are left as they are.
WIDTH_KEYS = ('in_channels', 'hid_channels', 'out_channels', 'input_features')
# SparseResNet (SparK's encoder) has ResNet's widths
RESNETS = ('ResNet', 'mmpretrain.ResNet', 'SparseResNet')
# the smallest arch of each non-ResNet family mmpretrain names:
# ConvNeXt-atto (3.7 M parameters, 320 channels), DeiT-tiny (5.7 M, 192)
SMALLEST_ARCH = {'ConvNeXt': 'atto', 'VisionTransformer': 'deit-tiny'}


def shipped_configs(root: str = 'configs') -> List[str]:
    """Every config under ``root`` except the ``_base_`` files, sorted
    (paths as ``root`` gives them: relative to the working directory by
    default)."""
    return sorted(
        p for p in glob.glob(osp.join(root, '**', '*.py'), recursive=True)
        if '_base_' not in p.split(osp.sep))


def _plain(cfg, key):
    node = cfg.get(key)
    return node.to_dict() if hasattr(node, 'to_dict') else node


def config_kind(cfg) -> str:
    """``'pretrain'`` when ``cfg.model`` builds a self-supervised algorithm
    (an mmpretrain ``BaseSelfSupervisor``), ``'downstream'`` when it builds a
    classifier (``BaseClassifier``: fine-tune and linear-probe configs).

    Raises:
        ValueError: the model is neither (a new kind of config must be
            classified explicitly rather than skip the tests built on this).
    """
    from mmpretrain.models import BaseClassifier, BaseSelfSupervisor
    from mmpretrain.registry import MODELS
    model_type = cfg.model['type']
    cls = MODELS.get(model_type) if isinstance(model_type, str) \
        else model_type
    if cls is not None and issubclass(cls, BaseSelfSupervisor):
        return 'pretrain'
    if cls is not None and issubclass(cls, BaseClassifier):
        return 'downstream'
    raise ValueError(
        f'{cfg.filename}: model.type={model_type!r} is neither a '
        'self-supervised algorithm nor a classifier; say how to shrink and '
        'launch it in mixssl_mm/analysis/shrink.py.')


def model_options(cfg, depth: int = 18, width: int = 16) -> 'OrderedDict':
    """cfg-options for a ResNet-``depth`` encoder of base width ``width``
    (mmpretrain's ``base_channels``/``stem_channels``; 64 is the standard
    ResNet) and every width in ``cfg.model`` that follows the encoder's.

    Raises:
        ValueError: the encoder is not an mmpretrain ResNet.
    """
    model = _plain(cfg, 'model')
    backbone = model.get('backbone') or {}
    if backbone.get('type') not in RESNETS:
        raise ValueError(f'{cfg.filename}: model.backbone is '
                         f'{backbone.get("type")!r}, not a ResNet; cannot '
                         'shrink it.')
    expansion = 1 if backbone.get('depth', 50) in (18, 34) else 4
    old = 64 * 8 * expansion * backbone.get('base_channels', 64) // 64
    new = 8 * width * (1 if depth in (18, 34) else 4)
    opts = OrderedDict([('model.backbone.depth', depth),
                        ('model.backbone.base_channels', width),
                        ('model.backbone.stem_channels', width)])
    for path, node in config_dicts(model, 'model'):
        if path.startswith('model.backbone'):
            continue
        for key in WIDTH_KEYS:
            value = node.get(key)
            if isinstance(value, int) and value >= old:
                opts[f'{path}.{key}'] = value * new // old
    return opts


def encoder_options(cfg) -> 'OrderedDict':
    """cfg-options for the smallest arch of the config's (non-ResNet)
    encoder family (:data:`SMALLEST_ARCH`) and every reader of it
    (:func:`~mixssl_mm.benchmark.config_fit.reader_options`).

    Raises:
        KeyError: an encoder family not in :data:`SMALLEST_ARCH`.
    """
    model = copy.deepcopy(_plain(cfg, 'model'))
    arch = SMALLEST_ARCH[model['backbone']['type']]
    model['backbone']['arch'] = arch
    opts = OrderedDict([('model.backbone.arch', arch)])
    opts.update(reader_options(model)[0])
    return opts


def data_options(cfg,
                 samples: int,
                 batch_size: int,
                 medmnist: Optional[Tuple[str, str]] = None,
                 folder: Optional[str] = None,
                 num_workers: int = 0,
                 loaders: Sequence[str] = LOADERS) -> 'OrderedDict':
    """cfg-options for the first ``samples`` samples of every split, in
    batches of ``batch_size`` (per process), with ``num_workers`` workers.

    Args:
        medmnist: ``(data_root, ann_file)`` read by every ``MedMNIST``
            dataset instead of the config's file.
        folder: an image folder read by every other dataset that has a
            ``data_root`` (``CustomDataset`` targets and auxiliary sets);
            its ``data_prefix`` is cleared.
    """
    opts = OrderedDict()
    for loader in loaders:
        node = _plain(cfg, loader)
        if not node:
            continue
        opts[f'{loader}.batch_size'] = batch_size
        opts[f'{loader}.num_workers'] = num_workers
        opts[f'{loader}.persistent_workers'] = num_workers > 0
        opts[f'{loader}.pin_memory'] = False
        opts[f'{loader}.dataset.indices'] = samples
        for path, d in config_dicts(node, loader):
            if d.get('type') == 'MedMNIST' and medmnist is not None:
                opts[f'{path}.data_root'] = medmnist[0]
                opts[f'{path}.ann_file'] = medmnist[1]
            elif 'data_root' in d and folder is not None \
                    and d.get('type') != 'MedMNIST':
                opts[f'{path}.data_root'] = folder
                if d.get('data_prefix'):
                    opts[f'{path}.data_prefix'] = ''
    return opts


def pretrained_options(cfg, checkpoint: str) -> 'OrderedDict':
    """Point every ``init_cfg=dict(type='Pretrained')`` of ``cfg.model`` at
    ``checkpoint``."""
    return OrderedDict(
        (f'{path}.checkpoint', checkpoint)
        for path, d in config_dicts(_plain(cfg, 'model'), 'model')
        if d.get('type') == 'Pretrained')


def shrink_options(cfg,
                   size: int = 32,
                   depth: int = 18,
                   width: int = 16,
                   samples: int = 16,
                   batch_size: int = 4,
                   medmnist: Optional[Tuple[str, str]] = None,
                   folder: Optional[str] = None,
                   pretrained: Optional[str] = None,
                   num_workers: int = 0,
                   cuda: bool = False) -> 'OrderedDict':
    """Everything above for one config: ``size`` px crops (smaller crops
    keep their ratio to the config's largest), one epoch, a log line per
    iteration; without ``cuda``, no ``torch.compile`` (on a CPU it needs a
    C++ tool chain and minutes per model).

    Returns:
        ``{cfg key: value}`` for
        :func:`mixssl_mm.benchmark.planning.to_cfg_options`.
    """
    opts = model_options(cfg, depth, width)
    opts.update(
        data_options(cfg, samples, batch_size, medmnist, folder, num_workers))
    opts.update(resolution_options(cfg, size, full=largest_size(cfg)))
    if pretrained is not None:
        opts.update(pretrained_options(cfg, pretrained))
    train_cfg = _plain(cfg, 'train_cfg') or {}
    if 'max_epochs' in train_cfg:
        opts['train_cfg.max_epochs'] = 1
    opts['default_hooks.logger.interval'] = 1
    if cfg.get('compile') and not cuda:
        opts['compile'] = False
    return opts
