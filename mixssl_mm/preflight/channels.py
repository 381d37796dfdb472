# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Pre-flight check that the parts reading the encoder's features expect as
many channels as the encoder gives (train and test; nothing is built).

``--cfg-options model.backbone.depth=18`` on a ResNet-50 config leaves
``head.in_channels=2048``; torch then fails at the first step with
``mat1 and mat2 shapes cannot be multiplied (64x512 and 2048x4)``. The
pre-flight computes the output channels of mmpretrain's ResNet family from
the config (``base_channels * 2**stage * expansion`` of the last output
stage, the arithmetic of ``mmpretrain.models.backbones.ResNet``) and refuses
every ``in_channels`` / ``input_features`` that differs, listing all keys to
set at once.

It refuses rather than sets them: the values are the config's own, and a
silent change would also hide a config that pairs the wrong encoder with
its head. Which keys read what:

- classifiers and the SSL algorithms of mmpretrain and this plugin: the
  neck(s) read the encoder, the head reads the last neck (a list of necks is
  walked; ``GlobalAveragePooling``, ``GeneralizedMeanPooling`` and
  ``ClsBatchNormNeck`` keep the channels, a neck with ``out_channels`` sets
  them, any other neck ends the walk);
- a model class with ``ENCODER_READERS`` (``MixSSL``: ``neck`` (decoder),
  ``head`` (λ), ``contrast_neck``, ``aux_head``): each listed part reads
  the encoder.

Other backbones (ViT, RegNet, ...) are not checked here; their models fail
as before.
"""
import inspect
from typing import List, Optional, Tuple

from .error import ConfigError

__all__ = [
    'RESNET_TYPES', 'resnet_out_channels', 'feature_channel_mismatches',
    'check_feature_channels'
]

# mmpretrain backbones whose output channels follow ResNet's arithmetic
# (checked against built models in the tests; RegNet and SparseResNet
# subclass ResNet but do not)
RESNET_TYPES = ('ResNet', 'ResNetV1c', 'ResNetV1d', 'ResNet_CIFAR', 'ResNeXt',
                'SEResNet', 'SEResNeXt', 'Res2Net')
# necks that pass the channel count through
CHANNEL_KEEPING_NECKS = ('GlobalAveragePooling', 'GeneralizedMeanPooling',
                         'ClsBatchNormNeck')
CHANNEL_KEYS = ('in_channels', 'input_features')


def _type_name(part) -> Optional[str]:
    t = part.get('type') if isinstance(part, dict) else None
    if isinstance(t, str):
        return t.split('.')[-1]  # 'mmpretrain.ResNet' -> 'ResNet'
    return getattr(t, '__name__', None)


def _registered(name: Optional[str]):
    from mmpretrain.registry import MODELS
    return MODELS.get(name) if name else None


def resnet_out_channels(backbone) -> Optional[int]:
    """Channels of the last feature map of an mmpretrain ResNet-family
    backbone config, or None for another backbone or an unknown depth.

    Example: ``dict(type='ResNet', depth=18)`` -> 512; ``depth=50`` -> 2048;
    ``depth=18, base_channels=16`` -> 128.
    """
    name = _type_name(backbone)
    cls = _registered(name)
    if name not in RESNET_TYPES or cls is None:
        return None
    arch = cls.arch_settings.get(backbone.get('depth'))
    if arch is None:
        return None  # mmpretrain names the bad depth itself
    from mmpretrain.models.backbones.resnet import ResNet, get_expansion
    defaults = inspect.signature(ResNet.__init__).parameters
    base = backbone.get('base_channels', defaults['base_channels'].default)
    out_indices = backbone.get('out_indices',
                               defaults['out_indices'].default)
    expansion = get_expansion(arch[0], backbone.get('expansion'))
    last = max(out_indices) if isinstance(out_indices,
                                          (list, tuple)) else out_indices
    return int(base * expansion * 2**last)


def _expected_channels(part) -> List[Tuple[str, int]]:
    """``(key, value)`` of the channel settings of a neck/head config; a key
    the config leaves out counts with its registered default."""
    found = [(k, part[k]) for k in CHANNEL_KEYS if k in part]
    if found:
        return found
    cls = _registered(_type_name(part))
    try:
        params = inspect.signature(cls.__init__).parameters if cls else {}
    except (TypeError, ValueError):
        return []
    return [(k, params[k].default) for k in CHANNEL_KEYS
            if k in params and isinstance(params[k].default, int)]


def _necks(model) -> List[Tuple[str, dict]]:
    neck = model.get('neck')
    if isinstance(neck, dict):
        return [('model.neck', neck)]
    if isinstance(neck, (list, tuple)):
        return [(f'model.neck.{i}', n) for i, n in enumerate(neck)
                if isinstance(n, dict)]
    return []


def feature_channel_mismatches(model, channels: int
                               ) -> List[Tuple[str, int]]:
    """``[(cfg key, its value), ...]`` of the settings of ``model`` that
    should equal the encoder's ``channels`` but do not."""
    cls = _registered(_type_name(model))
    readers = getattr(cls, 'ENCODER_READERS', None)
    bad = []
    if readers:
        for name in readers:
            part = model.get(name)
            if isinstance(part, dict):
                bad += [(f'model.{name}.{k}', v)
                        for k, v in _expected_channels(part) if v != channels]
        return bad
    current: Optional[int] = channels
    for key, neck in _necks(model):
        bad += [(f'{key}.{k}', v) for k, v in _expected_channels(neck)
                if v != current]
        if _type_name(neck) in CHANNEL_KEEPING_NECKS:
            continue
        out = neck.get('out_channels')
        current = out if isinstance(out, int) else None
        if current is None:
            return bad
    head = model.get('head')
    if isinstance(head, dict):
        bad += [(f'model.head.{k}', v) for k, v in _expected_channels(head)
                if v != current]
    return bad


def check_feature_channels(cfg) -> None:
    """Refuse a model whose neck/head channel settings do not match its
    ResNet encoder's output channels (see the module docstring).

    Raises:
        ConfigError: naming the encoder, its channels, every key that
            differs and the ``--cfg-options`` that set them.
    """
    model = cfg.get('model')
    if not isinstance(model, dict):
        return
    backbone = model.get('backbone')
    channels = resnet_out_channels(backbone) if isinstance(backbone,
                                                           dict) else None
    if channels is None:
        return
    bad = feature_channel_mismatches(model, channels)
    if not bad:
        return
    listing = '\n'.join(f'  {k}={v}' for k, v in bad)
    options = ' '.join(f'{k}={channels}' for k, _ in bad)
    hint = ''
    if _type_name(model) == 'ImageClassifier' and channels == 512:
        hint = (' For the quick start\'s ResNet-18 encoder, configs/mixssl/'
                'benchmarks/resnet18_1xb64-1e_bloodmnist-4cls-64px_'
                '{finetune,linear-probe}.py have them set (and 64-px '
                'pipelines).')
    raise ConfigError(
        f'model.backbone ({_type_name(backbone)}, depth='
        f"{backbone.get('depth')}) outputs {channels} channels, but these "
        f'settings expect another number:\n{listing}\nSet them to '
        f'{channels}, e.g. --cfg-options {options}\n(They are the '
        "config's own values, so they are not changed for you." + hint + ')')
