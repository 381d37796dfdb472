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
  ``head`` (λ); ``MixSSLContrast`` adds ``contrast_neck``, ``MixSSLAux``
  ``aux_head``): each listed part reads the encoder.

For the MixSSL family the encoder is also built once and run on one blank
probe image (:func:`probe_encoder`; MixSSL itself runs nothing when built),
so any backbone is judged: it must return (N, C, h, w) feature maps (not
pooled vectors or tokens: ConvNeXt needs ``gap_before_final_norm=False``,
ViT ``out_type='featmap'``), its channels must match the readers and its
stride the decoder's upsampling. Other models with other backbones (ViT,
RegNet, ...) are not checked here; they fail as before.
"""
import copy
import inspect
import math
from typing import List, Optional, Tuple

from .error import ConfigError

__all__ = [
    'RESNET_TYPES', 'resnet_out_channels', 'feature_channel_mismatches',
    'check_feature_channels', 'probe_encoder'
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
    out_indices = backbone.get('out_indices', defaults['out_indices'].default)
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


def feature_channel_mismatches(model, channels: int) -> List[Tuple[str, int]]:
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
    probed = None
    if _is_mixssl(model) and isinstance(backbone, dict):
        probed = probe_encoder(model)
        channels = probed[0]
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


def _is_mixssl(model) -> bool:
    from mixssl_mm.models.algorithms.mixssl import MixSSL
    cls = _registered(_type_name(model))
    return isinstance(cls, type) and issubclass(cls, MixSSL)


def _decoder_stride(model) -> Optional[int]:
    """The decoder's upsampling factor, ``2**num_upsamples`` (None without
    objective R)."""
    neck = model.get('neck')
    if not model.get('use_rec', True) or not isinstance(neck, dict):
        return None
    ups = neck.get('num_upsamples')
    if ups is None:
        cls = _registered(_type_name(neck))
        param = (
            inspect.signature(cls.__init__).parameters.get('num_upsamples')
            if cls else None)
        ups = None if param is None else param.default
    return 2**ups if isinstance(ups, int) else None


def probe_encoder(model) -> Tuple[int, int]:
    """Build a MixSSL model's encoder from its config, run it once on a
    blank image and return its output ``(channels, stride)``; refuse an
    encoder whose output MixSSL cannot use, or whose stride the decoder does
    not undo.

    Raises:
        ConfigError: pooled vectors (N, C) or tokens (N, L, C) instead of
            feature maps, naming the backbone option that gives maps; a
            stride that differs from ``2**model.neck.num_upsamples``.
    """
    import torch
    from mmpretrain.registry import MODELS
    backbone = model['backbone']
    name = _type_name(backbone)
    dec_stride = _decoder_stride(model)
    size = 2 * max(32, dec_stride or 32)
    encoder = MODELS.build(copy.deepcopy(dict(backbone)))
    encoder.eval()  # BatchNorm needs more than one value in train mode
    with torch.no_grad():
        feat = encoder(torch.zeros(1, 3, size, size))
    feat = feat[-1] if isinstance(feat, (list, tuple)) else feat
    if isinstance(feat, (list, tuple)):  # e.g. ViT's (patch, cls) pairs
        feat = feat[0]
    shape = tuple(feat.shape)
    if feat.dim() != 4:
        what = ('pooled vectors' if feat.dim() == 2 else
                'tokens' if feat.dim() == 3 else f'{feat.dim()}-d tensors')
        raise ConfigError(
            f'model.backbone ({name}) returns {what} of shape {shape}, but '
            "MixSSL's decoder and heads need (N, C, h, w) feature maps. "
            'Set the backbone to return its last feature map, e.g. '
            '--cfg-options model.backbone.gap_before_final_norm=False '
            "(ConvNeXt) or model.backbone.out_type='featmap' "
            '(VisionTransformer).')
    channels, stride = shape[1], size // shape[-1]
    if dec_stride is not None and stride != dec_stride:
        raise ConfigError(
            f'model.backbone ({name}) downsamples by {stride} but the '
            f'decoder upsamples by {dec_stride}; set model.neck.'
            f'num_upsamples={int(round(math.log2(stride)))}.')
    return channels, stride
