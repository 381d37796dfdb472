# Copyright (c) mixssl_mm contributors. All rights reserved.
"""95 % intervals of a paired difference between two methods: thin
adapters over scipy.stats, in the benchmark's :class:`Interval`.

- :func:`paired_t_interval`: over seeds, when both methods ran the same
  seeds (the seed-level interval: it includes seed-to-seed variation):
  the per-seed differences ``d_s = a_s - b_s`` and Student's t interval
  ``mean(d) ± t_{0.975, n-1} · sd(d) / √n``,
  ``scipy.stats.ttest_rel(a, b).confidence_interval()``.
- :func:`paired_bootstrap_interval`: over test images, for a single seed:
  ``scipy.stats.bootstrap(paired=True, method='percentile')`` resamples the
  test images with replacement (the *same* resample for both methods,
  which is what pairs them) and takes the 2.5 / 97.5 percentiles of the
  metric differences (Efron & Tibshirani 1993, ch. 13). Its generator is
  seeded, so the interval is the same on every call.

An interval that contains 0 means the difference is within noise at this
level (:func:`within_noise`); results.md calls it a tie (≈), never a
ranking.
"""
import warnings
from typing import Callable, NamedTuple, Optional, Sequence

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 2000
BOOTSTRAP_SEED = 0
# resample weights held in memory at a time (float64 entries)
_CHUNK_ENTRIES = 20_000_000


class Interval(NamedTuple):
    """A difference ``delta`` with its interval ``[low, high]``; ``n`` is
    the number of seeds (t) or of test images (bootstrap), ``kind`` ``'t'``
    or ``'bootstrap'``."""
    delta: float
    low: float
    high: float
    n: int
    kind: str


def within_noise(iv: Interval) -> bool:
    """Whether the interval contains 0 (an undefined one counts as noise)."""
    if np.isnan(iv.low) or np.isnan(iv.high):
        return True
    return iv.low <= 0.0 <= iv.high


def paired_t_interval(a: Sequence[float],
                      b: Sequence[float],
                      confidence: float = CONFIDENCE) -> Interval:
    """Student's t interval of the mean of the paired differences ``a - b``
    (``scipy.stats.ttest_rel``).

    Args:
        a, b: the metric of the two methods, one value per seed, in the same
            seed order.
        confidence: the interval's coverage.

    Returns:
        ``Interval(mean(d), low, high, n, 't')``; with zero spread the
        interval is the single point ``mean(d)`` (scipy's is undefined).

    Raises:
        ValueError: the lengths differ, fewer than 2 pairs, or a value is
            not finite.
    """
    from scipy import stats  # a benchmark dependency, not a plugin one
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f'paired values need equal 1-D shapes, got '
                         f'{a.shape} and {b.shape}')
    if a.size < 2:
        raise ValueError('a t interval needs at least 2 paired seeds, got '
                         f'{a.size}; use the bootstrap over test images')
    d = a - b
    if not np.isfinite(d).all():
        raise ValueError(f'paired differences must be finite, got {d}')
    mean = float(d.mean())
    if np.ptp(d) == 0.0:
        return Interval(mean, mean, mean, d.size, 't')
    low, high = stats.ttest_rel(a, b).confidence_interval(confidence)
    return Interval(mean, float(low), float(high), d.size, 't')


def _weights(idx: np.ndarray, n: int) -> np.ndarray:
    """``(B, n)`` resampled image positions -> ``(B, n)`` multiplicities
    (how often each image is drawn), the form ``delta_fn`` takes."""
    rows = idx.shape[0]
    offset = (np.arange(rows) * n)[:, None]
    return np.bincount(
        (idx + offset).ravel(),
        minlength=rows * n).reshape(rows, n).astype(np.float64)


def paired_bootstrap_interval(delta_fn: Callable[[np.ndarray], np.ndarray],
                              n: int,
                              resamples: int = RESAMPLES,
                              seed: int = BOOTSTRAP_SEED,
                              confidence: float = CONFIDENCE) -> np.ndarray:
    """Percentile-bootstrap intervals of paired metric differences
    (``scipy.stats.bootstrap``, the test images resampled in batches).

    Args:
        delta_fn: ``weights (B, n) -> (B, K)``: the K metric differences
            (method minus reference) with test image ``i`` counted
            ``weights[b, i]`` times. Called once with ``np.ones((1, n))``
            (the observed differences), then on the resamples.
        n: number of test images.
        resamples: bootstrap resamples.
        seed: seed of the resampling generator (same seed, same interval).
        confidence: the interval's coverage.

    Returns:
        ``(K, 3)``: observed difference, low, high per metric; NaN bounds
        where a metric is undefined on a resample.
    """
    from scipy import stats
    observed = np.asarray(delta_fn(np.ones((1, n))), np.float64)[0]

    def statistic(idx, axis=-1):
        idx = np.asarray(idx)
        d = np.asarray(delta_fn(_weights(idx.reshape(-1, n), n)), np.float64)
        return d.T.reshape((d.shape[1], ) + idx.shape[:-1])

    # an undefined metric (NaN on a resample) gives NaN bounds, no warning
    with np.errstate(invalid='ignore'), warnings.catch_warnings():
        warnings.simplefilter('ignore', stats.DegenerateDataWarning)
        res = stats.bootstrap((np.arange(n), ),
                              statistic,
                              paired=True,
                              vectorized=True,
                              n_resamples=resamples,
                              batch=max(1, _CHUNK_ENTRIES // max(n, 1)),
                              method='percentile',
                              confidence_level=confidence,
                              rng=np.random.default_rng(seed))
    low, high = (
        np.atleast_1d(np.asarray(v, np.float64))
        for v in res.confidence_interval)
    return np.stack([observed, low, high], axis=1)


def bootstrap_intervals(delta_fn: Callable[[np.ndarray], np.ndarray],
                        n: int,
                        resamples: int = RESAMPLES,
                        seed: int = BOOTSTRAP_SEED,
                        keys: Optional[Sequence[str]] = None) -> dict:
    """:func:`paired_bootstrap_interval` as ``{key: Interval}`` (``keys``
    name the K columns of ``delta_fn``'s output, default ``0..K-1``)."""
    res = paired_bootstrap_interval(delta_fn, n, resamples, seed)
    keys = list(keys) if keys is not None else list(range(len(res)))
    return {
        k: Interval(float(d), float(lo), float(hi), n, 'bootstrap')
        for k, (d, lo, hi) in zip(keys, res)
    }
