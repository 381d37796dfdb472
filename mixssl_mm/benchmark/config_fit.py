# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Fit any self-supervised config (shipped or ``--methods``) to a benchmark
run from its content (docs/benchmark.md, "Any SSL config"): the data
(:func:`data_overrides`), the encoder and its readers (:func:`own_encoder`,
:func:`channel_keys`), the run settings (:func:`fitted_options`);
:func:`refusals` lists what cannot be fitted, with the key to set.
"""
import inspect
import os.path as osp
from collections import OrderedDict
from itertools import chain
from typing import List, Optional, Tuple

from mixssl_mm.preflight.channels import (_is_mixssl, _num_upsamples,
                                          _registered, _type_name,
                                          feature_channel_mismatches,
                                          probe_encoder, resnet_out_channels)
from mixssl_mm.preflight.config import config_dicts
from .methods import plain

# the encoders a benchmark's downstream stages load into mmpretrain's
# ResNet-<depth> (SparseResNet keeps ResNet's parameter names)
ENCODER_TYPES = ('ResNet', 'SparseResNet')
# SwAV's frozen prototypes: iterations of one ImageNet epoch at the
# config's batch (1,281,167 / 256 = 5005)
FROZEN_KEY = 'frozen_layers_cfg'


def _encoder_channels(model: dict) -> Optional[int]:
    """Output channels of a ResNet-family encoder (a SparseResNet counts as
    the ResNet of its depth); None for another backbone."""
    backbone = model.get('backbone') or {}
    if _type_name(backbone) not in ENCODER_TYPES:
        return None
    return resnet_out_channels(dict(backbone, type='ResNet'))


def own_encoder(cfg, img_size: Optional[int]) -> Optional[dict]:
    """``dict(backbone, options, channels, stride)`` of a MixSSL config's
    non-ResNet encoder (None for a ResNet: the preset's depth), given
    ``img_size`` px where it takes one (ViT; falsy: the config's), with the
    cfg-options of it and its readers (:func:`reader_options`); stride in
    px.

    Raises:
        mixssl_mm.preflight.error.ConfigError: the probe's refusal.
    """
    model = plain(cfg.model)
    backbone = dict(model.get('backbone') or {})
    if _type_name(backbone) in ENCODER_TYPES or not _is_mixssl(model):
        return None
    options = OrderedDict()
    cls = _registered(_type_name(backbone))
    if img_size and cls is not None and \
            'img_size' in inspect.signature(cls.__init__).parameters:
        backbone['img_size'] = options['model.backbone.img_size'] = img_size
    readers, channels, stride = reader_options(dict(model, backbone=backbone))
    options.update(readers)
    return dict(
        backbone=backbone, options=options, channels=channels, stride=stride)


def reader_options(model: dict) -> Tuple['OrderedDict', int, int]:
    """``(options, channels, stride)`` of a MixSSL ``model``'s probed
    encoder: cfg-options setting its readers to its channels and the
    decoder's ``num_upsamples`` to ``log2(stride)``; stride in px.

    Raises:
        mixssl_mm.preflight.error.ConfigError: no feature map, or a stride
            that is no power of two (``probe_encoder``).
    """
    channels, stride = probe_encoder(model)
    opts = OrderedDict(
        (key, channels) for key, _ in feature_channel_mismatches(model, None))
    if _num_upsamples(model) is not None:
        opts['model.neck.num_upsamples'] = stride.bit_length() - 1
    return opts, channels, stride


def channel_keys(cfg) -> List[str]:
    """The model settings that read the encoder's features, in config
    order: the necks' and head's channel keys (the pre-flight's walk), then
    the algorithm's own integer arguments equal to the encoder's channels
    (SparK's ``enc_dec_norm_dim``)."""
    model = plain(cfg.model)
    # None: every reader's key, whatever its value
    keys = [k for k, _ in feature_channel_mismatches(model, None)]
    channels = _encoder_channels(model)
    return keys + [
        f'model.{k}'
        for k, v in model.items() if k not in ('backbone', 'neck', 'head')
        and type(v) is int and channels is not None and v == channels
    ]


def data_overrides(cfg, target) -> dict:
    """Top-level keys that make a config read a MedMNIST ``target``'s train
    split with its own pipeline ({} when it does already, or for a folder
    target: :func:`~.stage_configs.folder_dataset` replaces every dataset)."""
    dataset = plain(cfg.train_dataloader.get('dataset')) or {}
    if target.kind != 'npz' or _type_name(dataset) == 'MedMNIST':
        return {}
    return dict(
        custom_imports=dict(imports=['mixssl_mm'], allow_failed_imports=False),
        train_dataloader=dict(
            # mmpretrain's SelfSupDataPreprocessor takes stacked views
            collate_fn=dict(_delete_=True, type='default_collate'),
            dataset=dict(
                _delete_=True,
                type='MedMNIST',
                data_root=osp.dirname(target.path) or '.',
                ann_file=osp.basename(target.path),
                split='train',
                with_label=False,
                # MedMNIST samples are decoded arrays: no file loader
                pipeline=[
                    plain(t) for t in dataset['pipeline']
                    if _type_name(t) != 'LoadImageFromFile'
                ])))


def _sync_free_norms(model: dict) -> 'OrderedDict':
    """cfg-options turning each ``SyncBatchNorm`` subclass with a registered
    twin without ``Sync`` (SparK's ``SparseSyncBatchNorm2d``) into the twin,
    the backbone's registered default ``norm_cfg`` included when the config
    leaves it out: the Runner's dense revert would normalise SparK's masked
    positions too. Plain ``SyncBN`` is left to that revert."""
    import torch.nn as nn
    backbone = model.get('backbone') or {}
    cls = _registered(_type_name(backbone))
    default = {}
    if cls is not None and 'norm_cfg' not in backbone:
        param = inspect.signature(cls.__init__).parameters.get('norm_cfg')
        if param is not None and isinstance(param.default, dict):
            default = dict(backbone=dict(norm_cfg=param.default))
    out = OrderedDict()
    for path, d in chain(
            config_dicts(model, 'model'), config_dicts(default, 'model')):
        name = d.get('type') if path.endswith('norm_cfg') else None
        if not isinstance(name, str) or 'Sync' not in name \
                or name == 'SyncBN':
            continue
        twin = name.replace('Sync', '')
        sync_cls, twin_cls = _registered(name), _registered(twin)
        if sync_cls and issubclass(sync_cls, nn.SyncBatchNorm) and twin_cls \
                and not issubclass(twin_cls, nn.SyncBatchNorm):
            out[f'{path}.type'] = twin
    return out


def fitted_options(cfg,
                   img_size: Optional[int],
                   batch_size: int,
                   steps_per_epoch: int,
                   lr: Optional[float],
                   queue_len: Optional[int] = None) -> 'OrderedDict':
    """cfg-options of the settings of ``cfg`` that follow the run: the
    algorithm's ``input_size`` (SparK's mask grid), hook batch / lr, SwAV's
    prototype freeze, the MoCo queue, SparK's sparse SyncBatchNorm as its
    single-process twin (mmengine's Runner turns any ``SyncBatchNorm`` of a
    non-distributed run into a dense one); {} for the shipped configs but
    MoCo's queue."""
    model = plain(cfg.model)
    out = OrderedDict()
    if img_size and type(model.get('input_size')) is int:
        out['model.input_size'] = img_size
    for i, hook in enumerate(plain(cfg.get('custom_hooks')) or []):
        if 'batch_size' in hook:
            out[f'custom_hooks.{i}.batch_size'] = batch_size
        if 'lr' in hook and lr is not None:
            out[f'custom_hooks.{i}.lr'] = lr
        for layer in (hook.get(FROZEN_KEY) or {}):
            out[f'custom_hooks.{i}.{FROZEN_KEY}.{layer}'] = steps_per_epoch
    if queue_len and type(model.get('queue_len')) is int:
        out['model.queue_len'] = queue_len
    out.update(_sync_free_norms(model))
    return out


def refusals(cfg,
             img_size: int,
             batch_size: int,
             queue_len: Optional[int] = None) -> List[Tuple[str, str]]:
    """``[(key, what is wrong and what to set), ...]`` of what a run
    cannot fit in ``cfg`` at ``img_size`` px (the config's own size when
    falsy) and ``batch_size``; [] when it can run."""
    from mmpretrain.models import BaseSelfSupervisor
    from mmpretrain.registry import MODELS

    from mixssl_mm.preflight.error import ConfigError
    model = plain(cfg.get('model')) or {}
    kind = model.get('type')
    cls = MODELS.get(kind) if isinstance(kind, str) else kind
    if not (isinstance(cls, type) and issubclass(cls, BaseSelfSupervisor)):
        return [('model.type',
                 f'{kind!r} is no self-supervised algorithm (an mmpretrain '
                 'BaseSelfSupervisor); give a pretraining config')]
    backbone = model.get('backbone') or {}
    resnet = _type_name(backbone) in ENCODER_TYPES
    if not resnet and not _is_mixssl(model):
        return [('model.backbone.type',
                 f'{backbone.get("type")!r}: every method of a run is '
                 "compared on the preset's encoder, mmpretrain's ResNet "
                 '(which the fine-tune, linear-probe and k-NN stages load); '
                 f'give a config whose backbone is one of {ENCODER_TYPES} '
                 '(e.g. mmpretrain\'s *_resnet50_* configs)')]
    out = []
    if resnet:
        channels = _encoder_channels(model)
        for key, value in (feature_channel_mismatches(model, channels)
                           if channels else []):
            out.append((key, f'is {value} but the config\'s encoder gives '
                        f'{channels} channels; set it to {channels} (the run '
                        'then fits it to its encoder)'))
    else:  # MixSSL on its own encoder
        try:
            stride = own_encoder(cfg, img_size)['stride']
        except ConfigError as e:
            return [('model.backbone', f'({e})')]
        if img_size and img_size % stride:
            out.append(
                ('img_size', f'{img_size} px is no multiple of the '
                 f"encoder's stride, {stride} px ({_type_name(backbone)}); "
                 f'choose a preset whose img_size is a multiple of {stride} '
                 '(e.g. cpu-small, 64 px)'))
    loop = plain(cfg.get('train_cfg')) or {}
    if 'max_epochs' not in loop or loop.get('by_epoch') is False or \
            loop.get('type', 'EpochBasedTrainLoop') != 'EpochBasedTrainLoop':
        out.append(('train_cfg', f'is {loop}; the benchmark budgets every '
                    'method in epochs: set train_cfg=dict(type='
                    '\'EpochBasedTrainLoop\', max_epochs=1)'))
    if not resnet:
        return out
    dataset = plain(cfg.get('train_dataloader') or {}).get('dataset') or {}
    if 'pipeline' not in dataset:
        out.append(('train_dataloader.dataset.pipeline',
                    f'is missing (dataset {dataset.get("type")!r}); the run '
                    "replaces the config's dataset by the target's and needs "
                    'the method\'s pipeline there'))
    ratio = model.get('downsample_raito')  # sic, SparK's spelling
    if type(model.get('input_size')) is int and isinstance(ratio, int):
        size = img_size or model['input_size']
        grid = size // ratio
        keep = round(grid * grid * (1 - model.get('mask_ratio', 0.6)))
        if grid < 2 or keep < 1:
            out.append(('model.input_size',
                        f'{size} px gives a mask grid of {grid}x{grid} '
                        f'patches of {ratio} px (the encoder\'s stride), of '
                        f'which {keep} stay visible: nothing to reconstruct '
                        f'from. Run at img_size >= {2 * ratio} (e.g. --preset '
                        'cpu-small, 64 px)'))
    queue = queue_len or model.get('queue_len')
    if type(queue) is int and queue % batch_size:
        out.append(('model.queue_len',
                    f'{queue} is no multiple of the batch size {batch_size} '
                    '(the queue takes whole batches); set a multiple'))
    return out
