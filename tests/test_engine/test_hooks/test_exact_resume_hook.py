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


@pytest.mark.parametrize('resume_from',
                         ['iter_3', 'iter_4', 'iter_6', 'epoch_1'])
def test_resume_from_any_checkpoint_is_bit_exact(reference, tmp_path,
                                                 resume_from):
    # iter_3 and iter_6: inside an epoch; iter_4: the last iteration of
    # epoch 1, saved by iteration; epoch_1: saved at the end of the epoch
    by_epoch = resume_from.startswith('epoch')
    make_runner(tmp_path, by_epoch=by_epoch).train()
    runner = make_runner(
        tmp_path,
        resume=True,
        by_epoch=by_epoch,
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
    runner = make_runner(
        tmp_path,
        resume=True,
        hooks=[],
        load_from=str(tmp_path / 'iter_6.pth'))
    runner.train()
    assert runner.iter == 10  # epoch 2 was trained again from its start
    ref, got = weights(reference / 'iter_8.pth'), weights(tmp_path /
                                                          'iter_10.pth')
    assert not torch.equal(ref['lin.weight'], got['lin.weight'])


def test_random_states_round_trip_through_a_weights_only_checkpoint(tmp_path):
    np.random.seed(3)
    torch.manual_seed(3)
    state = capture_rng_state()
    torch.save({'rng_state': state}, tmp_path / 's.pth')
    expected = (np.random.rand(), torch.rand(()).item())
    np.random.seed(99)
    torch.manual_seed(99)
    restore_rng_state(torch.load(tmp_path / 's.pth')['rng_state'])
    assert (np.random.rand(), torch.rand(()).item()) == expected


# -- a resume with another batch size or process count (issue 22, kind 3) --
def _run_log(work) -> str:
    import glob
    return ''.join(
        open(p).read() for p in sorted(glob.glob(f'{work}/*/*.log')))


def _first_run(work, batch_size=4, at=2):
    """16 samples at ``batch_size``, 1 process: the epoch's sample order and
    the checkpoint of iteration ``at`` (at batch 4, ``iter_2.pth``, saved
    after 8 samples)."""
    from mixssl_mm.engine.hooks import ExactResumeHook
    from tests._helpers.toy_resume_run import RecordSamplesHook
    recorder = RecordSamplesHook()
    hooks = [ExactResumeHook(), recorder]
    make_runner(work, n=16, batch_size=batch_size, hooks=hooks).train()
    checkpoint = torch.load(work / f'iter_{at}.pth')
    done = at * batch_size
    assert checkpoint['trained_samples'] == dict(
        epoch=0,
        batch_size=batch_size,
        world_size=1,
        per_rank=[done],
        total=done)
    return recorder.seen['0'], str(work / f'iter_{at}.pth')


@pytest.mark.parametrize('new_batch', [8, 2])
def test_resume_with_another_batch_size_trains_each_sample_once(
        tmp_path, new_batch):
    # the reported case: 8 samples trained at batch 4; resumed at batch 8
    # the hook skipped 2 batches of 8 (the whole epoch), at batch 2 it
    # re-trained 4 samples it said were skipped
    from mixssl_mm.engine.hooks import ExactResumeHook
    from tests._helpers.toy_resume_run import RecordSamplesHook
    order, ckpt = _first_run(tmp_path / 'first')
    recorder = RecordSamplesHook()
    work = tmp_path / 'resumed'
    runner = make_runner(
        work,
        resume=True,
        load_from=ckpt,
        n=16,
        batch_size=new_batch,
        hooks=[ExactResumeHook(), recorder])
    runner.train()
    assert recorder.seen['0'] == order[8:]  # the rest, once, in order
    assert sorted(recorder.seen['1']) == list(range(16))
    assert runner.iter == 2 + 8 // new_batch + 16 // new_batch
    assert osp_isfile(work / f'iter_{runner.iter}.pth')
    log = _run_log(work)
    assert ('written by 1 process(es) x batch size 4, this run has 1 '
            f'process(es) x batch size {new_batch}') in log
    assert 'skipping its first 8 samples per rank' in log


def osp_isfile(path) -> bool:
    import os.path as osp
    return osp.isfile(str(path))


def _torchrun(work, batch_size, checkpoint=None) -> str:
    """tests/_helpers/toy_resume_run.py on 2 processes (real torchrun, gloo
    on the CPU); returns the console and the run's log."""
    import subprocess
    import sys

    from tests._helpers.dist_launch import HELPERS, REPO, dist_env
    env = dist_env()
    out = subprocess.run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
        '--master_port', env['PORT'], f'{HELPERS}/toy_resume_run.py',
        str(work),
        str(batch_size), *([checkpoint] if checkpoint else [])
    ],
                         cwd=REPO,
                         env=env,
                         stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT,
                         text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout[-4000:]
    return out.stdout + _run_log(work)


def _rank_samples(work):
    """What each of the 2 ranks trained, per epoch ('0', '1')."""
    import json
    return [json.load(open(work / f'samples_rank{r}.json')) for r in (0, 1)]


def test_resume_on_two_processes_maps_the_trained_samples(tmp_path):
    # 1 -> 2 processes: the first 8 samples of the epoch's shared order are
    # done; each of the 2 ranks skips 4 of them and the ranks together
    # train the other 8 once
    order, ckpt = _first_run(tmp_path / 'first')
    work = tmp_path / 'resumed'
    log = _torchrun(work, 4, ckpt)
    seen = _rank_samples(work)
    epoch0 = seen[0]['0'] + seen[1]['0']
    assert sorted(epoch0) == sorted(order[8:]) and len(epoch0) == 8
    assert sorted(seen[0]['1'] + seen[1]['1']) == list(range(16))
    assert ('had trained the first 8 samples of its order; each rank skips '
            '4 of them') in log


def test_resume_on_one_process_maps_two_processes_samples(tmp_path):
    # 2 -> 1 process: the 2 ranks trained 4 samples each (positions 0..7 of
    # the epoch's shared order, rank r every 2nd from r); the single
    # process skips those 8 and trains positions 8..15, in order
    from mixssl_mm.engine.hooks import ExactResumeHook
    from tests._helpers.toy_resume_run import RecordSamplesHook
    first = tmp_path / 'first'
    _torchrun(first, 4)
    ckpt = torch.load(first / 'iter_1.pth')
    assert ckpt['trained_samples'] == dict(
        epoch=0, batch_size=4, world_size=2, per_rank=[4, 4], total=8)
    ranks = _rank_samples(first)
    order = [i for pair in zip(ranks[0]['0'], ranks[1]['0']) for i in pair]
    assert sorted(order) == list(range(16))
    recorder = RecordSamplesHook()
    work = tmp_path / 'resumed'
    runner = make_runner(
        work,
        resume=True,
        load_from=str(first / 'iter_1.pth'),
        n=16,
        batch_size=4,
        hooks=[ExactResumeHook(), recorder])
    runner.train()
    assert recorder.seen['0'] == order[8:]
    assert sorted(recorder.seen['1']) == list(range(16))
    assert runner.iter == 1 + 2 + 4
    log = _run_log(work)
    assert ('written by 2 process(es) x batch size 4, this run has 1 '
            'process(es) x batch size 4') in log
    assert ('had trained the first 8 samples of its order; each rank skips '
            '8 of them') in log


def test_resume_that_cannot_be_mapped_trains_the_epoch_again(tmp_path):
    # 1 -> 2 processes after 3 samples (batch 3): 3 samples cannot be split
    # between 2 ranks of DefaultSampler's interleaved order, so the hook
    # falls back to stock mmengine (the epoch from its start, those 3
    # samples twice), says so and how to resume exactly; the run goes on
    # and saves
    _, ckpt = _first_run(tmp_path / 'first', batch_size=3, at=1)
    work = tmp_path / 'resumed'
    log = _torchrun(work, 4, ckpt)
    seen = _rank_samples(work)
    for epoch in ('0', '1'):  # every sample once per epoch: nothing skipped
        assert sorted(seen[0][epoch] + seen[1][epoch]) == list(range(16))
    assert ('the checkpoint was written by 1 process(es) x batch size 3, '
            'this run has 2 process(es) x batch size 4. The 3 samples epoch '
            "1 trained before the interruption cannot be mapped onto this "
            "run's ranks ([3] per rank, DefaultSampler), so the epoch is "
            'trained from its start, as stock mmengine does') in log
    assert 'Resume with 1 process(es) x batch size 3 to continue exactly' \
        in log
    assert 'skipping its first' not in log
    # 1 iteration before, 2 per epoch per rank after: checkpoint 5 written
    assert osp_isfile(work / 'iter_5.pth')
