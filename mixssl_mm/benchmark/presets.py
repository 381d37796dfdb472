# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The benchmark's presets, one per hardware budget (docs/benchmark.md,
"Presets"): overrides of the shipped configs (``None`` keeps the config's).
Beyond the self-explaining keys: ``train_subset`` (the first N train images
after the class filter, for every training stage), ``pretrain_lr`` (None:
the configs' 1e-4), ``jobs`` (chains at a time), ``threads`` (per run),
``queue_len`` (every negative-key queue), ``method_options`` (cfg-options
per method), ``crop_scale_min`` (``recipe.crop_options``). Presets that
rank methods run 3 seeds; tiny is a smoke test.
"""
from collections import OrderedDict
from typing import List

from .methods import METHOD_GROUPS
from .recipe import crop_scale_min

SEEDS = [0, 1, 2]
FRACTIONS = [0.01, 0.1, 1.0]


def _epochs(pretrain: int, finetune: int, linear: int) -> dict:
    return dict(
        pretrain_epochs=pretrain,
        finetune_epochs=finetune,
        linear_epochs=linear)


# BloodMNIST's images are 28 px: a crop keeps at least 16 source px a side
# (0.33 of the area; RandomResizedCrop's default 0.08 keeps 8 px, which the
# upsampling to 64 or 224 px only blurs)
_COMMON = dict(
    crop_scale_min=crop_scale_min(28, 16),
    methods=METHOD_GROUPS['builtin'],
    method_options={},
    seeds=SEEDS,
    train_subset=None,
    jobs=1,
    threads=None)
# the CPU presets: ResNet-18, batch 32, a 10x pretraining lr for short
# runs, data loaded in the training process; two single-threaded runs use
# 2 cores better than one run with two threads (small convolutions scale
# poorly across threads)
_CPU = dict(
    _COMMON,
    depth=18,
    batch_size=32,
    pretrain_lr=1e-3,
    num_workers=0,
    img_size=64,
    jobs=2,
    threads=1,
    # DINO's 65536 prototypes dominate a ResNet-18 step on a CPU
    method_options=dict(dino={
        'model.neck.out_channels': 4096,
        'model.head.out_channels': 4096
    }))

PRESETS = OrderedDict(
    tiny=dict(
        _CPU,
        **_epochs(1, 1, 1),
        description='CI smoke test: ResNet-18, 32 px, 128 train images, 1 '
        'epoch per stage, 1 seed',
        img_size=32,
        train_subset=128,
        seeds=[0],
        jobs=1,
        threads=None,
        methods=['mixssl', 'rand'],
        queue_len=128,
        method_options={}),
    cpu_small=dict(
        _CPU,
        **_epochs(3, 3, 3),
        description='2 CPU cores (5 methods x 3 seeds on 8 classes, one '
        'stage at a time: 142.6 min on a shared machine, 2026-12-07): '
        'ResNet-18, 64 px, batch 32, 2048 train images, 3 pretraining '
        '+ 3 fine-tune + 3 linear-probe epochs, 3 seeds, 2 runs at a time '
        'with 1 thread each',
        train_subset=2048,
        queue_len=1024),
    cpu_medium=dict(
        _CPU,
        **_epochs(6, 3, 3),
        description='2 CPU cores (one seed on the 4-class task took 110 min '
        'on a shared machine, 2026-12-06): ResNet-18, 64 px, batch 32, the '
        'full train split, 6 pretraining epochs, fine-tune on 1 / 10 / 100 '
        '% of the labels (the steps of 3 epochs each) + a 3-epoch linear '
        'probe, 3 seeds',
        # MoCo keeps the config's 4096 keys (6,353 images)
        label_fractions=FRACTIONS),
    # what the GPU acceptance run (tools/analysis_tools/gpu_acceptance.py)
    # gives the time it has left; the setting of docs' minimal prototype
    # (../shared/device.md), which an mmpretrain implementation should match
    gpu_quick=dict(
        _COMMON,
        **_epochs(20, 10, 10),
        description='one GPU: ResNet-18, 64 px, batch 256, the full train '
        'split, 20 pretraining (peak lr 1e-3) + 10 fine-tune + 10 '
        'linear-probe epochs, fine-tune also on 1 / 10 % of the labels, 3 '
        'seeds',
        depth=18,
        img_size=64,
        batch_size=256,  # MoCo's 4096 keys are 16 batches of 256
        pretrain_lr=1e-3,
        num_workers=8,
        label_fractions=FRACTIONS),
    gpu_paper=dict(
        _COMMON,
        **_epochs(20, 20, 20),
        description='the paper\'s budget: ResNet-50, 224 px, batch 64, '
        'peak lr 1e-4, 20 pretraining + 20 downstream epochs, full train '
        'split, fine-tune on 1 / 10 / 100 % of the labels, 3 seeds '
        '(--recipe paper: the paper\'s constant Adam)',
        depth=50,
        img_size=None,
        batch_size=64,
        pretrain_lr=None,
        num_workers=4,
        label_fractions=FRACTIONS),
)


def preset_key(name: str) -> str:
    """CLI spelling -> PRESETS key (``cpu-small`` -> ``cpu_small``)."""
    return name.replace('-', '_')


def preset_names() -> List[str]:
    """The ``--preset`` choices, in order."""
    return [k.replace('_', '-') for k in PRESETS]
