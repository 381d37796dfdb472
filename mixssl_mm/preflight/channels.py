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
ViT ``out_type='featmap'``; the refusal names the option, read from the
backbone's arguments), its channels must match the readers and its stride,
a power of two, the decoder's ``2**num_upsamples``. The config states both
(docs/getting_started.md, "MixSSL on other backbones"); every key that
differs is listed in one message. Other models with other backbones (ViT,
RegNet, ...) are not checked here; they fail as before.
"""
import copy
import inspect
from typing import List, Optional, Tuple

from .error import ConfigError

__all__ = [
    'RESNET_TYPES', 'resnet_out_channels', 'feature_channel_mismatches',
    'check_feature_channels', 'probe_encoder', 'not_a_feature_map'
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
    encoder's output channels, or (MixSSL) whose decoder does not undo the
    encoder's stride (see the module docstring).

    Raises:
        ConfigError: naming the encoder, its channels (and stride), every
            key that differs and the ``--cfg-options`` that set them.
    """
    model = cfg.get('model')
    if not isinstance(model, dict):
        return
    backbone = model.get('backbone')
    channels = resnet_out_channels(backbone) if isinstance(backbone,
                                                           dict) else None
    stride = None
    if _is_mixssl(model) and isinstance(backbone, dict):
        channels, stride = probe_encoder(model)
    if channels is None:
        return
    bad = feature_channel_mismatches(model, channels)
    ups = _upsampling_mismatch(model, stride)
    if not bad and not ups:
        return
    encoder = _describe(backbone)
    message, options = '', []
    if bad:
        listing = '\n'.join(f'  {k}={v}' for k, v in bad)
        options += [f'{k}={channels}' for k, _ in bad]
        message = (f'model.backbone ({encoder}) outputs {channels} channels, '
                   f'but these settings expect another number:\n{listing}\n'
                   f'Set them to {channels}')
    if ups:
        have, want = ups
        options.append(f'model.neck.num_upsamples={want}')
        message += ('\n' if message else '') + (
            f'model.backbone ({encoder}) downsamples by {stride} but the '
            f'decoder upsamples by {2**have}; set model.neck.num_upsamples='
            f'{want} (log2 of the stride)')
    hint = ''
    if _type_name(model) == 'ImageClassifier' and channels == 512:
        hint = (' For the quick start\'s ResNet-18 encoder, configs/mixssl/'
                'benchmarks/resnet18_1xb64-1e_bloodmnist-4cls-64px_'
                '{finetune,linear-probe}.py have them set (and 64-px '
                'pipelines).')
    raise ConfigError(
        f'{message}, e.g. --cfg-options {" ".join(options)}\n(They are the '
        "config's own values, so they are not changed for you." + hint + ')')


def _describe(backbone) -> str:
    """``'ResNet, depth=50'``, ``"ConvNeXt, arch='tiny'"``: the type and
    the key that sizes it."""
    for key in ('depth', 'arch'):
        if key in backbone:
            return f'{_type_name(backbone)}, {key}={backbone[key]!r}'
    return str(_type_name(backbone))


def _is_mixssl(model) -> bool:
    from mixssl_mm.models.algorithms.mixssl import MixSSL
    cls = _registered(_type_name(model))
    return isinstance(cls, type) and issubclass(cls, MixSSL)


def _num_upsamples(model) -> Optional[int]:
    """The decoder's ``num_upsamples`` (its default where the config leaves
    it out; None without objective R)."""
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
    return ups if isinstance(ups, int) else None


def _upsampling_mismatch(model,
                         stride: Optional[int]) -> Optional[Tuple[int, int]]:
    """``(num_upsamples, log2(stride))`` when the decoder does not undo the
    encoder's ``stride`` (a power of two, see :func:`probe_encoder`)."""
    ups = _num_upsamples(model)
    if stride is None or ups is None or 2**ups == stride:
        return None
    return ups, stride.bit_length() - 1


def _featmap_option(cls) -> str:
    """The option(s) that make a backbone of class ``cls`` return its last
    feature map, read from the class's arguments (ConvNeXt and its kind:
    ``gap_before_final_norm``; ViT and its kind: ``out_type``)."""
    try:
        params = inspect.signature(cls.__init__).parameters if cls else {}
    except (TypeError, ValueError):
        params = {}
    if 'gap_before_final_norm' in params:
        return 'model.backbone.gap_before_final_norm=False'
    if 'featmap' in getattr(cls, 'OUT_TYPES', ()):
        return "model.backbone.out_type='featmap'"
    return ('the backbone\'s option for its last feature map (e.g. '
            'model.backbone.gap_before_final_norm=False for ConvNeXt, '
            "model.backbone.out_type='featmap' for VisionTransformer)")


def not_a_feature_map(backbone_cls, shape: Tuple[int, ...]) -> str:
    """The message for a MixSSL encoder (of class ``backbone_cls``) whose
    output of ``shape`` is no (N, C, h, w) feature map: what it is and the
    option that gives one. Also raised by MixSSL when it runs without the
    pre-flight."""
    what = ('pooled vectors' if len(shape) == 2 else
            'tokens' if len(shape) == 3 else f'{len(shape)}-d tensors')
    return (f'model.backbone ({backbone_cls.__name__}) returns {what} of '
            f"shape {shape}, but MixSSL's decoder and heads need (N, C, h, "
            f'w) feature maps. Set {_featmap_option(backbone_cls)} (e.g. '
            'with --cfg-options), then the decoder and head to its channels '
            'and stride (docs/getting_started.md, "MixSSL on other '
            'backbones").')


def probe_encoder(model) -> Tuple[int, int]:
    """Build a MixSSL model's encoder from its config, run it once on a
    blank image and return its output ``(channels, stride)``; refuse an
    encoder whose output MixSSL cannot use.

    The image is twice the decoder's upsampling (at least 64 px), so a
    stride up to that is measured exactly; a stride that is not a power of
    two (e.g. a ViT with 14-px patches at a size it does not divide) is
    refused, as the decoder's x2 stages cannot undo it.

    Raises:
        ConfigError: pooled vectors (N, C) or tokens (N, L, C) instead of
            feature maps, naming the backbone option that gives maps (read
            from the backbone's arguments); a stride that is no power of
            two.
    """
    import torch
    from mmpretrain.registry import MODELS
    backbone = model['backbone']
    name = _type_name(backbone)
    ups = _num_upsamples(model)
    size = 2 * max(32, 2**ups if ups is not None else 32)
    encoder = MODELS.build(copy.deepcopy(dict(backbone)))
    encoder.eval()  # BatchNorm needs more than one value in train mode
    with torch.no_grad():
        feat = encoder(torch.zeros(1, 3, size, size))
    feat = feat[-1] if isinstance(feat, (list, tuple)) else feat
    if isinstance(feat, (list, tuple)):  # e.g. ViT's (patch, cls) pairs
        feat = feat[0]
    shape = tuple(feat.shape)
    if feat.dim() != 4:
        raise ConfigError(not_a_feature_map(type(encoder), shape))
    channels, stride = shape[1], size // shape[-1]
    if size % shape[-1] or stride & (stride - 1):
        raise ConfigError(
            f'model.backbone ({name}) turns a {size}-px image into a '
            f'{shape[-1]}-px feature map: its stride is not a power of two, '
            "which the decoder's x2 up-sampling stages (model.neck."
            'num_upsamples) cannot undo. Use an encoder with a stride of '
            '2**k (e.g. a ViT with patch_size=16).')
    return channels, stride
