"""A few real training iterations of each baseline through tools/train.py.

Each run starts from the shipped config in configs/<method>/ and shrinks
it: a generated 8-image folder (CustomDataset + LoadImageFromFile), ResNet-18,
32 px crops (DINO's local crops 16 px), batch 4, one epoch (2 iterations).
The four runs start together, one intra-op thread each, so the 2-core
machine spends its time on them rather than on thread spinning."""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

from tests._helpers.subprocess_runs import wait_for_runs
from tests._helpers.tmp_dirs import shared_tmp

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(REPO, 'configs')

COMMON = """
_base_ = ['{base}']
view = [dict(type='RandomResizedCrop', scale=32),
        dict(type='RandomFlip', prob=0.5)]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False, pin_memory=False,
    drop_last=True,
    dataset=dict(_delete_=True, type='CustomDataset', data_root='{data}',
                 with_label=False,
                 pipeline=[dict(type='LoadImageFromFile'), {views},
                           dict(type='PackInputs')]))
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1))
randomness = dict(seed=0)
"""

RUNS = {
    'rotation':
    dict(
        views='*view',
        model="dict(backbone=dict(depth=18), head=dict(in_channels=512))"),
    'mixup-simclr':
    dict(
        views="dict(type='MultiView', num_views=2, transforms=[view])",
        model="dict(backbone=dict(depth=18), neck=dict(in_channels=512, "
        "hid_channels=64, out_channels=16))"),
    'mixco':
    dict(
        views="dict(type='MultiView', num_views=2, transforms=[view])",
        model="dict(backbone=dict(depth=18), neck=dict(in_channels=512, "
        "hid_channels=64, out_channels=16))"),
    'dino':
    dict(
        views="dict(type='MultiView', num_views=[2, 2], transforms=[view, "
        "[dict(type='RandomResizedCrop', scale=16, "
        "crop_ratio_range=(0.05, 0.14))]])",
        model="dict(backbone=dict(depth=18), neck=dict(in_channels=512, "
        "out_channels=64, hid_channels=32, bottleneck_channels=16), "
        "head=dict(out_channels=64))",
        # the first of the 2 iterations with the last layer frozen
        extra="custom_hooks = [dict(type='DINOLastLayerFreezeHook', "
        "freeze_epochs=0.5)]"),
}

LOSS_KEYS = {
    'rotation': ('loss', 'acc_rot'),
    'mixup-simclr': ('loss', ),
    'mixco': ('loss_contrast', 'loss_mix'),
    'dino': ('loss', ),
}


def shipped(name):
    return osp.join(CONFIGS, name, f'{name}_resnet50_1xb64-20e_bloodmnist.py')


@pytest.fixture(scope='module')
def runs(request, tmp_path_factory):
    """Start the four trainings at once; returns name -> (work_dir, log)."""
    from tests.conftest import write_image_folder
    tmp = shared_tmp(request, tmp_path_factory, 'baselines')
    data = write_image_folder(tmp / 'images', 8, seed=3)
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    procs = {}
    for name, parts in RUNS.items():
        cfg = tmp / f'{name}.py'
        cfg.write_text(
            COMMON.format(base=shipped(name), data=data, views=parts['views'])
            + f"model = {parts['model']}\n{parts.get('extra', '')}\n")
        work = tmp / f'work_{name}'
        procs[name] = (work,
                       subprocess.Popen([
                           sys.executable,
                           osp.join(REPO, 'tools/train.py'),
                           str(cfg), '--work-dir',
                           str(work)
                       ],
                                        cwd=str(tmp),
                                        env=env,
                                        stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT,
                                        text=True))
    return wait_for_runs(procs)


@pytest.mark.parametrize('name', list(RUNS))
def test_baseline_trains_and_checkpoints(runs, name):
    work, rc, log = runs[name]
    assert rc == 0, log[-4000:]
    for key in LOSS_KEYS[name]:
        values = re.findall(rf' {key}: (\S+)', log)
        assert len(values) == 2, (key, log[-3000:])  # 2 iterations logged
        assert all(torch.isfinite(torch.tensor(float(v))) for v in values)
    ckpt = work / 'epoch_1.pth'
    state = torch.load(ckpt, map_location='cpu')  # weights_only default
    assert state['meta']['iter'] == 2
    assert any(k.startswith('backbone.') for k in state['state_dict'])


def test_dino_checkpoint_holds_the_teacher_and_the_centre(runs):
    work, rc, log = runs['dino']
    assert rc == 0, log[-4000:]
    sd = torch.load(work / 'epoch_1.pth', map_location='cpu')['state_dict']
    assert sd['teacher.steps'].item() == 2
    assert 'teacher.module.0.conv1.weight' in sd
    assert sd['head.center'].shape == (1, 64)
    assert sd['head.center'].abs().sum() > 0
    # 2 iterations with momentum 0.004 -> the teacher is not the student
    assert not torch.equal(sd['teacher.module.0.conv1.weight'],
                           sd['backbone.conv1.weight'])
    assert 'the last layer is frozen for the first 1 of 2 iterations' in log
