"""ExactResumeHook and NonFiniteLossHook in real mmengine Runners, on a toy
model whose loss draws from torch's generator (like MixSSL's λ) and a
dataset that draws from numpy's (like the augmentations and the auxiliary
pairing), so that every random stream a resume must restore is in play."""
import numpy as np
import pytest
import torch
from mmengine.model import BaseModel
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from mixssl_mm.engine.hooks import (ExactResumeHook, NonFiniteLossError,
                                    NonFiniteLossHook)
from mixssl_mm.engine.hooks.exact_resume_hook import (capture_rng_state,
                                                      restore_rng_state)


class NoisyDataset(Dataset):

    def __len__(self):
        return 8

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


_runs = [0]


@pytest.fixture(autouse=True, scope='module')
def _keep_the_suite_scope():
    # every Runner makes its scope the current one; leave mmpretrain's
    yield
    init_default_scope('mmpretrain')


def make_runner(work_dir, resume=False, load_from=None, hooks=None,
                max_epochs=2, by_epoch=False):
    _runs[0] += 1
    torch.manual_seed(0)  # the model is built before the Runner seeds
    return Runner(
        model=LambdaModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=NoisyDataset(), batch_size=2, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(
            type='CheckpointHook', interval=1, by_epoch=by_epoch)),
        custom_hooks=[ExactResumeHook()] if hooks is None else hooks,
        randomness=dict(seed=0, deterministic=True),
        default_scope='mmpretrain',  # the scope the rest of the suite uses
        resume=resume,
        load_from=load_from,
        experiment_name=f'reliability_hooks_{_runs[0]}')


def weights(path):
    return torch.load(path, map_location='cpu')['state_dict']


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    work = tmp_path_factory.mktemp('reference')
    make_runner(work).train()  # 2 epochs x 4 iterations
    return work


@pytest.mark.parametrize('resume_from', ['iter_3', 'iter_4', 'iter_6',
                                         'epoch_1'])
def test_resume_from_any_checkpoint_is_bit_exact(reference, tmp_path,
                                                 resume_from):
    # iter_3 and iter_6: inside an epoch; iter_4: the last iteration of
    # epoch 1, saved by iteration; epoch_1: saved at the end of the epoch
    by_epoch = resume_from.startswith('epoch')
    make_runner(tmp_path, by_epoch=by_epoch).train()
    runner = make_runner(tmp_path, resume=True, by_epoch=by_epoch,
                         load_from=str(tmp_path / f'{resume_from}.pth'))
    runner.train()
    assert runner.iter == 8
    last = 'epoch_2.pth' if by_epoch else 'iter_8.pth'
    ref, got = weights(reference / 'iter_8.pth'), weights(tmp_path / last)
    for key in ref:
        assert torch.equal(ref[key], got[key]), key


def test_without_the_hook_a_resume_is_not_exact(reference, tmp_path):
    # the control: stock mmengine restarts epoch 2 and redraws λ
    make_runner(tmp_path, hooks=[]).train()
    runner = make_runner(tmp_path, resume=True, hooks=[],
                         load_from=str(tmp_path / 'iter_6.pth'))
    runner.train()
    assert runner.iter == 10  # epoch 2 was trained again from its start
    ref, got = weights(reference / 'iter_8.pth'), weights(tmp_path /
                                                          'iter_10.pth')
    assert not torch.equal(ref['lin.weight'], got['lin.weight'])


def test_random_states_round_trip_through_a_weights_only_checkpoint(
        tmp_path):
    np.random.seed(3)
    torch.manual_seed(3)
    state = capture_rng_state()
    torch.save({'rng_state': state}, tmp_path / 's.pth')
    expected = (np.random.rand(), torch.rand(()).item())
    np.random.seed(99)
    torch.manual_seed(99)
    restore_rng_state(torch.load(tmp_path / 's.pth')['rng_state'])
    assert (np.random.rand(), torch.rand(()).item()) == expected


def test_non_finite_weights_are_never_written(tmp_path):
    runner = make_runner(tmp_path, hooks=[NonFiniteLossHook()],
                         max_epochs=1)
    runner.train()
    with torch.no_grad():
        runner.model.lin.weight[0, 0] = float('inf')
    with pytest.raises(NonFiniteLossError, match=r"non-finite weights \(1 "
                       r"tensors, e.g. \['lin.weight'\]\)(?s:.*)iter_4.pth"):
        runner.save_checkpoint(str(tmp_path), 'bad.pth')
    assert not (tmp_path / 'bad.pth').exists()
