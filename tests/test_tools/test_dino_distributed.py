"""DINO under two CPU processes (tools/dist_train.sh, gloo) across its
last-layer freeze: DistributedDataParallel accepts the freeze (every
parameter gets a gradient; DINOLastLayerFreezeHook drops the last layer's
after the all-reduce), the launcher exits 0, both ranks end with identical
parameters, and the last layer is unchanged while frozen and trained
after. The shipped config, shrunk: narrow ResNet-18, 32/16-px crops of 8
generated images, batch 2 per process: 2 iterations per epoch, 2 epochs,
the first epoch frozen."""
import os
import os.path as osp
import socket
import subprocess

import torch

from tests.conftest import write_image_folder

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HELPERS = osp.join(REPO, 'tests', '_helpers')

CONFIG = """
_base_ = ['{repo}/configs/dino/dino_resnet50_1xb64-20e_bloodmnist.py']
custom_imports = dict(
    imports=['mixssl_mm', 'rank_params_hook', 'dino_trace_hook'],
    allow_failed_imports=False)
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False, pin_memory=False,
    dataset=dict(
        _delete_=True, type='CustomDataset', data_root='{data}',
        with_label=False,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='MultiView', num_views=[2, 2], transforms=[
                [dict(type='RandomResizedCrop', scale=32)],
                [dict(type='RandomResizedCrop', scale=16,
                      crop_ratio_range=(0.05, 0.14))]]),
            dict(type='PackInputs')]))
model = dict(
    backbone=dict(depth=18, stem_channels=16, base_channels=16),
    neck=dict(in_channels=128, out_channels=64, hid_channels=32,
              bottleneck_channels=16),
    head=dict(out_channels=64))
train_cfg = dict(max_epochs=2)
custom_hooks = [
    dict(type='DINOLastLayerFreezeHook', freeze_epochs=1),
    dict(type='RankParamsDumpHook'),
    dict(type='LastLayerTraceHook'),
]
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=2, max_keep_ckpts=1))
randomness = dict(seed=0)
"""


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_dino_trains_under_two_processes_across_the_freeze(tmp_path):
    data = write_image_folder(tmp_path / 'images', 8, seed=4)
    cfg = tmp_path / 'dino_dist.py'
    cfg.write_text(CONFIG.format(repo=REPO, data=data))
    work = tmp_path / 'work'
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PORT=str(_free_port()),
        PYTHONPATH=os.pathsep.join([HELPERS,
                                    os.environ.get('PYTHONPATH', '')]))
    out = subprocess.run([
        'bash',
        osp.join(REPO, 'tools/dist_train.sh'),
        str(cfg), '2', '--work-dir',
        str(work)
    ],
                         cwd=str(tmp_path),
                         env=env,
                         capture_output=True,
                         text=True,
                         timeout=500)
    log = out.stdout[-3000:] + out.stderr[-3000:]
    assert out.returncode == 0, log
    assert 'the last layer is frozen for the first 2 of 4 iterations' in \
        out.stdout + out.stderr

    p0 = torch.load(work / 'params_rank0.pth')
    p1 = torch.load(work / 'params_rank1.pth')
    assert p0.keys() == p1.keys() and 'neck.last_layer.weight' in p0
    for key in p0:
        assert torch.equal(p0[key], p1[key]), key

    for rank in (0, 1):
        # before training, then after iterations 1..4
        trace = torch.load(work / f'last_layer_rank{rank}.pth')
        assert len(trace) == 5
        assert torch.equal(trace[1], trace[0])  # frozen
        assert torch.equal(trace[2], trace[0])  # frozen
        assert not torch.equal(trace[3], trace[2])  # trained
        assert not torch.equal(trace[4], trace[3])
    assert torch.load(
        work / 'epoch_2.pth', map_location='cpu')['meta']['iter'] == 4
