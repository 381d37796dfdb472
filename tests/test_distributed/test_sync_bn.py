"""``sync_bn='torch'`` (mmengine's config key) under ``dist_train.sh CONFIG
2`` on the CPU (gloo): the BatchNorm layers are converted (to
mixssl_mm's CPUSyncBatchNorm, torch's SyncBatchNorm refuses CPU tensors),
and 2 processes x batch 4 train exactly as 1 process x batch 8 with plain
BatchNorm -- statistics, running buffers, gradients -- which per-rank
BatchNorm (statistics over 4 samples) would not."""
import os.path as osp
import subprocess
import sys

import torch

from mixssl_mm.analysis.shrink import shrink_options
from mixssl_mm.benchmark.planning import to_cfg_options
from tests._helpers.dist_launch import (RANK_HOOK_OPTIONS, REPO, dist_env,
                                        parsed_config, rank_buffers,
                                        rank_params)

CONFIG = 'configs/mixssl/benchmarks/resnet50_1xb64-20e_bloodmnist_finetune.py'
# deterministic data (a plain resize, no flip), seeded sampler and head,
# plain SGD: nothing but the batch split can differ between the two runs
EXACT = [
    'train_dataloader.dataset.pipeline.0.type=Resize',
    'train_dataloader.dataset.pipeline.1.prob=0.0',
    'optim_wrapper.optimizer.type=SGD', 'optim_wrapper.optimizer.lr=0.1',
    'randomness.seed=0', 'randomness.deterministic=True', 'val_cfg=None',
    'val_dataloader=None', 'val_evaluator=None',
    'default_hooks.checkpoint.save_best=None'
]


def _rel_err(a, b):
    return float(
        (a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-12))


def test_sync_bn_trains_two_ranks_as_one_batch(tiny_data, tmp_path):
    cfg = parsed_config(CONFIG)

    def options(batch):
        return to_cfg_options(
            shrink_options(
                cfg,
                samples=16,
                batch_size=batch,
                medmnist=tiny_data.medmnist,
                pretrained=tiny_data.backbone)) + EXACT + RANK_HOOK_OPTIONS

    two, one = tmp_path / 'two', tmp_path / 'one'
    env = dist_env()
    runs = [
        [
            'bash',
            osp.join(REPO, 'tools/dist_train.sh'),
            osp.join(REPO, CONFIG), '2', '--work-dir',
            str(two), '--cfg-options', *options(4), 'sync_bn=torch'
        ],
        [
            sys.executable,
            osp.join(REPO, 'tools/train.py'),
            osp.join(REPO, CONFIG), '--work-dir',
            str(one), '--cfg-options', *options(8)
        ],
    ]
    for cmd in runs:
        out = subprocess.run(
            cmd,
            cwd=str(tmp_path),
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=400)
        assert out.returncode == 0, out.stdout[-4000:]

    b0, b1 = rank_buffers(two)
    norms = set(b0['norm_types'].values())
    assert norms == {'CPUSyncBatchNorm'} and len(b0['norm_types']) == 20
    (p0, p1), (ref, ) = rank_params(two), rank_params(one, nproc=1)
    (ref_buffers, ) = rank_buffers(one, nproc=1)
    assert set(ref_buffers['norm_types'].values()) == {'BatchNorm2d'}

    # both ranks computed the same global statistics: bit-identical
    for key in b0['buffers']:
        assert torch.equal(b0['buffers'][key], b1['buffers'][key]), key
    for key in p0:
        assert torch.equal(p0[key], p1[key]), key
    # and they are those of one process with the whole batch, up to float32
    # summation order. Measured relative L2 errors per tensor: buffers
    # <= 5e-6, parameters <= 6e-5 (the largest on BN biases of norm ~0.01);
    # the same 2 processes without sync_bn (BatchNorm over each rank's 4
    # samples) give up to 0.75 on the buffers and 2.5 on the parameters
    for key, value in ref_buffers['buffers'].items():
        if value.is_floating_point():
            assert _rel_err(b0['buffers'][key], value) <= 1e-4, key
        else:
            assert torch.equal(b0['buffers'][key], value), key
    for key, value in ref.items():
        assert _rel_err(p0[key], value) <= 3e-4, key
    init = torch.load(tiny_data.backbone)['state_dict']
    moved = _rel_err(ref['backbone.conv1.weight'],
                     init['backbone.conv1.weight'])
    assert moved > 1e-3  # the encoder really trained
