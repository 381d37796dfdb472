"""Building small models and their inputs for the model tests (real
mmpretrain/mixssl_mm components; nothing here replaces one)."""
import copy

import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

# ResNet-18 encoder and a small SimCLR projector/head for the SimCLR-based
# algorithms (SimCLR, MixupSimCLR, MixCo)
RESNET18 = dict(type='ResNet', depth=18, norm_cfg=dict(type='BN'))
SIMCLR_NECK = dict(
    type='NonLinearNeck',
    in_channels=512,
    hid_channels=32,
    out_channels=16,
    num_layers=2,
    with_avg_pool=True,
    norm_cfg=dict(type='BN1d'))
SIMCLR_HEAD = dict(
    type='ContrastiveHead',
    loss=dict(type='CrossEntropyLoss'),
    temperature=0.1)
MIXSSL_R18 = dict(
    type='MixSSL',
    backbone=dict(type='ResNet', depth=18),
    neck=dict(type='ResnetGenerator', in_channels=512, n_blocks=1),
    head=dict(type='TransparencyHead', in_channels=512),
    rec_head=dict(type='MixSSLReconstructionHead'))


def build_model(base: dict, **overrides):
    """``MODELS.build(base)`` with ``overrides``: a dict value updates the
    sub-config of the same key (e.g. ``neck=dict(in_channels=64)``), any
    other value replaces it."""
    cfg = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    return MODELS.build(cfg)


def mixssl_samples(n, aux_labels=None, aux_num_classes=None):
    """The ``DataSample`` s that CrossDomainMixup + PackInputs give MixSSL:
    empty, or with ``aux_label`` and ``aux_num_classes`` (objective A)."""
    out = []
    for i in range(n):
        s = DataSample()
        if aux_labels is not None:
            s.set_field(int(aux_labels[i]), 'aux_label')
        if aux_num_classes is not None:
            s.set_field(aux_num_classes, 'aux_num_classes')
        out.append(s)
    return out


def two_views(n=4, size=32, seed=0):
    """Two seeded random views (N, 3, size, size)."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, size, size, generator=g) for _ in range(2)]


def record_inputs(module):
    """A list that receives a copy of ``module``'s first input at every
    forward call."""
    seen = []
    module.register_forward_hook(
        lambda m, args, out: seen.append(args[0].detach().clone()))
    return seen


def backbone_grad(model) -> float:
    """Sum of |grad| of the encoder's first convolution (0 without one)."""
    grad = model.backbone.conv1.weight.grad
    return 0.0 if grad is None else grad.abs().sum().item()
