"""mixssl_mm.benchmark.intervals: the seed-level paired t interval against
a hand computation, the paired bootstrap over test images (identical
predictions, a clear gap, determinism, scipy's own bootstrap)."""
import math

import numpy as np
import pytest
from scipy import stats

from mixssl_mm.benchmark.intervals import (Interval, bootstrap_intervals,
                                           paired_bootstrap_interval,
                                           paired_t_interval, within_noise)


def test_t_interval_matches_a_hand_computation():
    a, b = [90.0, 88.0, 93.0], [85.0, 87.0, 86.0]
    d = np.array([5.0, 1.0, 7.0])
    mean, sd = d.mean(), math.sqrt(((d - d.mean())**2).sum() / 2)
    half = stats.t.ppf(0.975, 2) * sd / math.sqrt(3)  # t_{0.975, 2} = 4.303
    iv = paired_t_interval(a, b)
    assert iv.kind == 't' and iv.n == 3
    assert iv.delta == pytest.approx(mean)
    assert (iv.low, iv.high) == pytest.approx((mean - half, mean + half))
    # by hand: sd = 3.055, sem = 1.764, 4.303 x 1.764 = 7.589
    assert (iv.low, iv.high) == pytest.approx((-3.2558, 11.9225), abs=1e-4)
    assert within_noise(iv)
    # the pairing matters: the same values unpaired would be wider
    clear = paired_t_interval([90.0, 80.0, 70.0], [89.0, 79.1, 68.9])
    assert clear.low > 0 and not within_noise(clear)


def test_t_interval_edge_cases():
    same = paired_t_interval([80.0, 82.0], [78.0, 80.0])
    assert same == Interval(2.0, 2.0, 2.0, 2, 't')  # zero spread
    with pytest.raises(ValueError, match='at least 2'):
        paired_t_interval([1.0], [2.0])
    with pytest.raises(ValueError, match='equal'):
        paired_t_interval([1.0, 2.0], [2.0])
    with pytest.raises(ValueError, match='finite'):
        paired_t_interval([1.0, float('nan')], [2.0, 3.0])


def _accuracy_delta(correct_a, correct_b):
    """delta_fn of the top-1 difference for per-image correctness."""

    def fn(w):
        acc = lambda c: (w * c).sum(1) / w.sum(1) * 100  # noqa: E731
        return (acc(correct_a) - acc(correct_b))[:, None]

    return fn


def test_bootstrap_of_identical_predictions_is_zero():
    rng = np.random.default_rng(1)
    correct = rng.random(300) < 0.8
    iv = bootstrap_intervals(
        _accuracy_delta(correct, correct), 300, keys=['acc'])['acc']
    assert (iv.delta, iv.low, iv.high) == (0.0, 0.0, 0.0)
    assert iv.kind == 'bootstrap' and iv.n == 300 and within_noise(iv)


def test_bootstrap_separates_a_clear_gap_and_not_noise():
    rng = np.random.default_rng(2)
    b = rng.random(500) < 0.70
    a = b | (rng.random(500) < 0.5)  # a fixes half of b's errors: +15 pts
    gap = paired_bootstrap_interval(_accuracy_delta(a, b), 500)[0]
    assert gap[0] == pytest.approx((a.mean() - b.mean()) * 100)
    assert 0 < gap[1] < gap[0] < gap[2]
    # two methods that disagree on a few images only, in both directions
    c = b.copy()
    c[:6] = ~c[:6]
    small = paired_bootstrap_interval(_accuracy_delta(c, b), 500)[0]
    assert small[1] < 0 < small[2]


def test_bootstrap_is_deterministic_with_its_seed():
    rng = np.random.default_rng(3)
    a, b = rng.random(200) < 0.8, rng.random(200) < 0.7
    fn = _accuracy_delta(a, b)
    first = paired_bootstrap_interval(fn, 200, resamples=500, seed=7)
    assert np.array_equal(
        first, paired_bootstrap_interval(fn, 200, resamples=500, seed=7))
    assert not np.array_equal(
        first, paired_bootstrap_interval(fn, 200, resamples=500, seed=8))


def test_bootstrap_is_scipys_paired_percentile_bootstrap():
    """The adapter gives what scipy.stats.bootstrap gives on the per-image
    correctness itself (same generator, resamples and batches)."""
    rng = np.random.default_rng(4)
    a, b = rng.random(120) < 0.8, rng.random(120) < 0.6
    ours = paired_bootstrap_interval(
        _accuracy_delta(a, b), 120, resamples=400, seed=5)[0]
    ref = stats.bootstrap((a * 100.0, b * 100.0),
                          lambda x, y, axis=-1: x.mean(axis) - y.mean(axis),
                          paired=True,
                          vectorized=True,
                          n_resamples=400,
                          method='percentile',
                          rng=np.random.default_rng(5))
    assert ours[0] == pytest.approx((a.mean() - b.mean()) * 100)
    assert ours[1:] == pytest.approx(tuple(ref.confidence_interval))


def test_undefined_metric_gives_no_interval():
    nan = paired_bootstrap_interval(
        lambda w: np.full((len(w), 1), np.nan), 10, resamples=20)[0]
    assert np.isnan(nan[1]) and np.isnan(nan[2])
    assert within_noise(
        Interval(float('nan'), float('nan'), float('nan'), 10, 'bootstrap'))
