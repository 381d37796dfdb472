"""MixSSL's λ sampler: Beta(α, α) per sample or per batch from a generator
of the model's own, the same for every rank (a global batch sliced by
rank), reproducible from the seed, restored from the model's state_dict."""
import copy

import pytest
import torch
from scipy import stats

from mixssl_mm.models.utils import LambdaSampler, sample_beta

CPU = torch.device('cpu')


@pytest.mark.parametrize('alpha', [0.3, 1.0, 4.0])
def test_sample_beta_follows_beta(alpha):
    g = torch.Generator().manual_seed(0)
    draws = sample_beta(alpha, 4000, g, CPU)
    assert draws.dtype == torch.float32 and draws.shape == (4000, )
    assert bool(((draws >= 0) & (draws <= 1)).all())
    # a wrong α is rejected by the KS test at this size
    assert stats.kstest(draws.numpy(), 'beta', args=(alpha, alpha)).pvalue \
        > 1e-3
    wrong = 2 * alpha
    assert stats.kstest(draws.numpy(), 'beta', args=(wrong, wrong)).pvalue \
        < 1e-3


def test_per_sample_lambdas_differ_and_follow_beta():
    sampler = LambdaSampler(alpha=0.5, lam_mode='sample', seed=0)
    lam = torch.cat([sampler(8, CPU) for _ in range(300)])
    assert lam.shape == (2400, )
    assert len(set(sampler(8, CPU).tolist())) == 8
    assert stats.kstest(lam.numpy(), 'beta', args=(0.5, 0.5)).pvalue > 1e-3


def test_per_batch_lambda_is_shared_and_follows_beta():
    sampler = LambdaSampler(alpha=2.0, lam_mode='batch', seed=0)
    draws = []
    for _ in range(1500):
        lam = sampler(4, CPU)
        assert lam.shape == (4, ) and (lam == lam[0]).all()
        draws.append(lam[0].item())
    assert stats.kstest(draws, 'beta', args=(2.0, 2.0)).pvalue > 1e-3
    assert stats.kstest(draws, 'beta', args=(1.0, 1.0)).pvalue < 1e-3


@pytest.mark.parametrize('mode', ['sample', 'batch'])
def test_same_seed_same_lambdas_other_seed_others(mode):
    a, b = (LambdaSampler(lam_mode=mode, seed=7) for _ in range(2))
    other = LambdaSampler(lam_mode=mode, seed=8)
    seq_a = [a(4, CPU) for _ in range(3)]
    assert all(torch.equal(x, b(4, CPU)) for x in seq_a)
    assert not torch.equal(seq_a[0], other(4, CPU))


def test_the_seed_is_the_runs_seed():
    """Under mmengine the run seed is torch's initial seed
    (``randomness.seed``); the sampler takes it when built."""
    torch.manual_seed(1234)
    assert LambdaSampler().seed == 1234


def test_ranks_slice_one_global_batch():
    """2 x bs4 sees exactly the λs of 1 x bs8, step after step, dealt as
    DefaultSampler deals the samples (rank r: r, r + 2, ...); in batch mode
    every rank shares the one λ."""
    single = LambdaSampler(lam_mode='sample', seed=3)
    ranks = [LambdaSampler(lam_mode='sample', seed=3) for _ in range(2)]
    for _ in range(3):
        whole = single(8, CPU, world_size=1, rank=0)
        parts = [s(4, CPU, world_size=2, rank=r) for r, s in enumerate(ranks)]
        assert torch.equal(torch.stack(parts, dim=1).flatten(), whole)
        assert len(set(whole.tolist())) == 8
    single = LambdaSampler(lam_mode='batch', seed=3)
    ranks = [LambdaSampler(lam_mode='batch', seed=3) for _ in range(2)]
    for _ in range(3):
        whole = single(8, CPU, world_size=1, rank=0)
        for r, s in enumerate(ranks):
            assert torch.equal(s(4, CPU, world_size=2, rank=r), whole[:4])


def test_fixed_lambda_draws_nothing():
    sampler = LambdaSampler(fixed_lam=0.25, seed=0)
    assert sampler(3, CPU).tolist() == [0.25] * 3


@pytest.mark.parametrize('kwargs, message', [
    (dict(alpha=0), 'alpha must be a finite number > 0'),
    (dict(alpha=float('nan')), 'alpha must be a finite number > 0'),
    (dict(lam_mode='epoch'), 'lam_mode must be one of'),
    (dict(fixed_lam=1.5), r'fixed_lam must be a number in \[0, 1\]'),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match='MixSSL: ' + message):
        LambdaSampler(**kwargs)


@pytest.mark.parametrize('mode', ['sample', 'batch'])
def test_state_dict_resumes_the_stream_exactly(mode):
    sampler = LambdaSampler(lam_mode=mode, seed=5)
    for _ in range(4):
        sampler(4, CPU)
    state = copy.deepcopy(sampler.state_dict())
    expected = [sampler(4, CPU) for _ in range(3)]
    resumed = LambdaSampler(lam_mode=mode, seed=99)  # another run's seed
    resumed.load_state_dict(state)
    assert resumed.seed == 5
    assert all(torch.equal(x, resumed(4, CPU)) for x in expected)
    # a state saved before any draw restarts from the seed
    fresh = LambdaSampler(lam_mode=mode, seed=5)
    again = LambdaSampler(lam_mode=mode, seed=1)
    again.load_state_dict(copy.deepcopy(fresh.state_dict()))
    assert torch.equal(again(4, CPU), fresh(4, CPU))


def test_state_dict_without_lambda_state_loads_strictly():
    """Checkpoints written before λ was the model's: no seed / rng_state."""
    sampler = LambdaSampler(seed=5)
    sampler.load_state_dict({}, strict=True)
    assert torch.equal(sampler(4, CPU), LambdaSampler(seed=5)(4, CPU))


def test_an_unseeded_process_s_uint64_seed_saves_and_resumes():
    """torch's initial seed in a process nobody seeded is a uint64; the
    state_dict keeps the seed as int64 (it overflowed about every other
    time before)."""
    torch.manual_seed(2**64 - 1)
    sampler = LambdaSampler()
    assert 0 <= sampler.seed < 2**63
    sampler(4, CPU)
    state = copy.deepcopy(sampler.state_dict())
    resumed = LambdaSampler(seed=0)
    resumed.load_state_dict(state)
    assert resumed.seed == sampler.seed
    assert torch.equal(resumed(4, CPU), sampler(4, CPU))
