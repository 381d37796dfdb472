"""Two real training iterations of each Table-3 ablation config through
tools/train.py.

Each run takes the shipped config in configs/mixssl/ablations/ as it is
(its pipeline, auxiliary pool and model) and only shrinks it, as the
benchmark does: ResNet-18 through the ``--cfg-options`` channel keys of the
configs' README, 32 px crops (every crop of the pipeline, the auxiliary
pool's included), a generated 8-image MedMNIST-style ``.npz``, batch 4, one
epoch (2 iterations). The four runs start together, one intra-op thread
each, as in test_baseline_training.py."""
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

from tests._helpers.subprocess_runs import wait_for_runs
from tests._helpers.tmp_dirs import shared_tmp

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ABLATIONS = osp.join(REPO, 'configs', 'mixssl', 'ablations')

CHILD = """
_base_ = ['{base}']
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False, pin_memory=False,
    drop_last=True,
    dataset=dict(data_root='{data}', ann_file='cells.npz', indices=8))
# a small decoder keeps the CPU run short
model = dict(neck=dict(n_blocks=1, res_channels=64, ngf=16))
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1))
randomness = dict(seed=0)
"""

# the encoder-channel keys of each config (configs/mixssl/ablations/README)
CHANNELS = {
    'r': ['model.neck.in_channels', 'model.head.in_channels'],
    't': ['model.neck.in_channels', 'model.head.in_channels'],
    'rc': [
        'model.neck.in_channels', 'model.head.in_channels',
        'model.contrast_neck.in_channels', 'model.contrast_neck.hid_channels'
    ],
    'ra': [
        'model.neck.in_channels', 'model.head.in_channels',
        'model.aux_head.in_channels'
    ],
}
LOSSES = {
    'r': {'loss_rec'},
    't': {'loss_trans'},
    'rc': {'loss_rec', 'loss_contrast'},
    'ra': {'loss_rec', 'loss_aux'},
}
# every MixSSL also holds its λ generator's state (lam_sampler.seed,
# lam_sampler.rng_state)
MODULES = {
    'r': {'backbone', 'neck', 'lam_sampler'},
    't': {'backbone', 'head', 'lam_sampler'},
    'rc': {'backbone', 'neck', 'contrast_neck', 'lam_sampler'},
    'ra': {'backbone', 'neck', 'aux_head', 'lam_sampler'},
}


def shipped(name):
    return osp.join(ABLATIONS, f'mixssl-{name}_resnet50_1xb64-20e_'
                    'bloodmnist.py')


def crop_options(path, size):
    """``--cfg-options`` that set every RandomResizedCrop of the train
    pipeline (nested ones included) to ``size`` px."""
    opts = []

    def walk(node, key):
        if isinstance(node, dict):
            if node.get('type') == 'RandomResizedCrop':
                opts.append(f'{key}.scale={size}')
            for k, v in node.items():
                walk(v, f'{key}.{k}')
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                walk(v, f'{key}.{i}')

    pipeline = Config.fromfile(path).train_dataloader.dataset.pipeline
    walk(pipeline, 'train_dataloader.dataset.pipeline')
    assert len(opts) == 2, opts  # the target's and the auxiliary pool's
    return opts


@pytest.fixture(scope='module')
def runs(request, tmp_path_factory):
    """Start the four trainings at once; returns name -> (work, rc, log)."""
    tmp = shared_tmp(request, tmp_path_factory, 'ablations')
    rng = np.random.default_rng(0)
    np.savez(
        tmp / 'cells.npz',
        train_images=rng.integers(0, 256, (8, 28, 28, 3), np.uint8),
        train_labels=rng.integers(0, 8, (8, 1), np.uint8))
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    procs = {}
    for name, keys in CHANNELS.items():
        cfg = tmp / f'{name}.py'
        cfg.write_text(CHILD.format(base=shipped(name), data=tmp))
        work = tmp / f'work_{name}'
        options = ['model.backbone.depth=18'] + [f'{k}=512' for k in keys]
        options += crop_options(shipped(name), 32)
        procs[name] = (work,
                       subprocess.Popen([
                           sys.executable,
                           osp.join(REPO, 'tools/train.py'),
                           str(cfg), '--work-dir',
                           str(work), '--cfg-options', *options
                       ],
                                        cwd=str(tmp),
                                        env=env,
                                        stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT,
                                        text=True))
    return wait_for_runs(procs)


@pytest.mark.parametrize('name', list(CHANNELS))
def test_ablation_trains_only_its_objectives(runs, name):
    work, rc, log = runs[name]
    assert rc == 0, log[-4000:]
    for key in ('loss_rec', 'loss_trans', 'loss_contrast', 'loss_aux'):
        values = re.findall(rf' {key}: (\S+)', log)
        if key in LOSSES[name]:
            assert len(values) == 2, (key, log[-3000:])  # 2 iterations
            assert all(torch.isfinite(torch.tensor(float(v))) for v in values)
        else:
            assert not values, (key, log[-3000:])
    state = torch.load(work / 'epoch_1.pth', map_location='cpu')
    assert state['meta']['iter'] == 2
    modules = {k.split('.')[0] for k in state['state_dict']}
    # switched-off objectives build nothing (rec_head has no parameters)
    assert modules == MODULES[name], modules
