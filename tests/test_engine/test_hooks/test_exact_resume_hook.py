"""ExactResumeHook in real mmengine Runners (tests/_helpers/toy_runner.py):
a resume from any checkpoint continues bit-exactly."""
import numpy as np
import pytest
import torch

from mixssl_mm.engine.hooks.exact_resume_hook import (capture_rng_state,
                                                      restore_rng_state)
from tests._helpers.tmp_dirs import shared_tmp
from tests._helpers.toy_runner import make_runner


def weights(path):
    return torch.load(path, map_location='cpu')['state_dict']


@pytest.fixture(scope='module')
def reference(request, tmp_path_factory):
    work = shared_tmp(request, tmp_path_factory, 'reference')
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
