"""A toy training run in a real mmengine Runner whose loss draws from
torch's generator (like MixSSL's λ) and whose dataset draws from numpy's
(like the augmentations and the auxiliary pairing): every random stream a
resume must restore is in play. Used by the engine-hook tests."""
import itertools

import numpy as np
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from mixssl_mm.engine.hooks import ExactResumeHook

_run_ids = itertools.count()


class NoisyDataset(Dataset):
    """``n`` samples; sample ``i`` is ``i`` plus noise in [0, 1), so
    ``floor(inputs[:, 0])`` tells which samples a batch holds."""

    def __init__(self, n: int = 8):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        x = np.random.rand(4).astype(np.float32) + i  # an "augmentation"
        return dict(inputs=torch.from_numpy(x))


class LambdaModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        lam = torch.rand(())  # a per-batch λ from torch's generator
        out = self.lin(inputs * lam)
        if mode == 'loss':
            return dict(loss=((out - inputs)**2).mean())
        return out


def make_runner(work_dir,
                resume=False,
                load_from=None,
                hooks=None,
                max_epochs=2,
                by_epoch=False,
                batch_size=2,
                n=8,
                launcher='none'):
    """2 epochs x 4 iterations of batch 2 (``n`` samples at ``batch_size``
    per process), checkpoints every iteration (or epoch with
    ``by_epoch``); ``hooks`` default to ``[ExactResumeHook()]``. With
    ``launcher='pytorch'`` (under torchrun) the processes use gloo on the
    CPU."""
    dist = {} if launcher == 'none' else dict(
        launcher=launcher,
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        # DDP on the CPU: no device_ids (mmengine passes LOCAL_RANK's)
        cfg=dict(
            model_wrapper_cfg=dict(
                type='MMDistributedDataParallel', device_ids=None)))
    torch.manual_seed(0)  # the model is built before the Runner seeds
    return Runner(
        model=LambdaModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=NoisyDataset(n),
            batch_size=batch_size,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook', interval=1, by_epoch=by_epoch)),
        custom_hooks=[ExactResumeHook()] if hooks is None else hooks,
        randomness=dict(seed=0, deterministic=True),
        default_scope='mmpretrain',  # the scope the rest of the suite uses
        resume=resume,
        load_from=load_from,
        experiment_name=f'toy_runner_{next(_run_ids)}',
        **dist)
