# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The numbers of the report: mean ± std over seeds, and every method minus
MixSSL, paired, with its 95 % interval: Student's t over the seeds, or with
one common seed the bootstrap over the test images of the metrics
recomputed from ``predictions.pkl`` (docs/benchmark.md). A record is as in
:mod:`.report`, with ``predictions`` (its ``predictions.pkl``, optional)
and ``pos_label`` (binary tasks)."""
import hashlib
import os.path as osp
import warnings
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

import numpy as np

from .methods import has_fractions, ordered_protocols, protocol_title

CONFIDENCE = 0.95
RESAMPLES = 2000
BOOTSTRAP_SEED = 0
_CHUNK_ENTRIES = 20_000_000  # resample weights in memory at a time
PER_CLASS_PREFIX = 'per_class_accuracy/'
PER_CLASS_MEAN = 'per_class_accuracy/mean'
REFERENCE = 'mixssl'
# summary metrics in display order, with their headers
SUMMARY = {
    'accuracy/top1': 'Accuracy',
    PER_CLASS_MEAN: 'Average',
    'single-label/precision': 'Precision',
    'single-label/recall': 'Recall',
    'single-label/f1-score': 'F1',
    'roc_auc': 'ROC-AUC',
    'binary/precision': 'P (positive)',
    'binary/recall': 'R (positive)',
    'binary/f1-score': 'F1 (positive)',
    'binary/roc_auc': 'ROC-AUC (positive)',
    'knn/top1': 'k-NN top-1'
}
# a binary task reports its positive class's values instead of these
_MACRO = ('single-label/precision', 'single-label/recall',
          'single-label/f1-score', 'roc_auc')
_BINARY = ('binary/precision', 'binary/recall', 'binary/f1-score',
           'binary/roc_auc', 'binary/accuracy')
DELTA_COLUMNS = ('protocol', 'method', 'metric', 'delta', 'low', 'high',
                 'kind', 'n', 'within_noise')
MATCH_TOLERANCE = 0.01  # percent: a recomputed value is the reported one
_CACHE: dict = {}  # loaded predictions and bootstrap results


def finite(values: Sequence) -> np.ndarray:
    """The values as float64 without ``None`` and NaN (e.g. the accuracy
    of a class absent from the test set)."""
    vals = np.array([v for v in values if v is not None], np.float64)
    return vals[np.isfinite(vals)]


def mean_std(values: Sequence) -> tuple:
    """Mean and sample standard deviation (ddof=1) of the finite values;
    std is None for fewer than 2 values, both are None for none."""
    vals = finite(values)
    return (float(vals.mean()) if vals.size else None,
            float(vals.std(ddof=1)) if vals.size > 1 else None)


def fmt_mean_std(values: Sequence) -> str:
    """``'85.31 ± 1.20'``; a single value alone, none as ``'–'``."""
    mean, std = mean_std(values)
    if mean is None:
        return '–'
    return f'{mean:.2f}' + ('' if std is None else f' ± {std:.2f}')


def md_table(header: List[str], rows: List[list],
             left: Sequence[int] = (0, )) -> List[str]:
    """Markdown table lines; the columns ``left`` (indices, negative from
    the end) are left-aligned, the others centred."""
    left = {i % len(header) for i in left}
    rule = ('---' if i in left else ':-:' for i in range(len(header)))
    return ['| ' + ' | '.join(header) + ' |', '|' + '|'.join(rule) + '|'
            ] + ['| ' + ' | '.join(map(str, r)) + ' |' for r in rows]


class Interval(NamedTuple):
    """A difference ``delta`` with its interval ``[low, high]``; ``n``: the
    number of seeds (``kind`` ``'t'``) or of test images (``'bootstrap'``,
    on the runs of ``seed``)."""
    delta: float
    low: float
    high: float
    n: int
    kind: str
    seed: Optional[int] = None


def within_noise(iv: Interval) -> bool:
    """Whether the interval contains 0 (an undefined one counts as noise)."""
    return not (iv.low > 0.0 or iv.high < 0.0)  # NaN compares False


def paired_t_interval(a: Sequence[float], b: Sequence[float]) -> Interval:
    """Student's t interval of the mean of ``a - b`` (one value per seed,
    same seed order); a single point with zero spread.

    Raises:
        ValueError: unequal lengths, fewer than 2 pairs, a value not finite.
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
    low = high = mean = float(d.mean())
    if np.ptp(d) > 0.0:
        low, high = stats.ttest_rel(a, b).confidence_interval(CONFIDENCE)
    return Interval(mean, float(low), float(high), d.size, 't')


def paired_bootstrap_interval(delta_fn: Callable[[np.ndarray], np.ndarray],
                              n: int,
                              resamples: int = RESAMPLES,
                              seed: int = BOOTSTRAP_SEED,
                              keys: Optional[Sequence] = None) -> dict:
    """``{key: Interval}``: percentile-bootstrap intervals (``scipy.stats.
    bootstrap``, seeded, in batches) of the K paired differences
    ``delta_fn(weights (B, n)) -> (B, K)`` over ``n`` test images, image
    ``i`` counted ``weights[b, i]`` times (observed: ``np.ones((1, n))``);
    ``keys`` name the K columns (default ``0..K-1``); NaN bounds where a
    metric is undefined on a resample."""
    from scipy import stats
    observed = np.asarray(delta_fn(np.ones((1, n))), np.float64)[0]

    def statistic(idx, axis=-1):
        # (..., n) resampled positions -> multiplicity of each image
        idx = np.asarray(idx)
        rows = idx.reshape(-1, n) + (np.arange(idx.size // n) * n)[:, None]
        w = np.bincount(rows.ravel(), minlength=idx.size).reshape(-1, n)
        d = np.asarray(delta_fn(w.astype(np.float64)), np.float64)
        return d.T.reshape((d.shape[1], ) + idx.shape[:-1])

    with np.errstate(invalid='ignore'), warnings.catch_warnings():
        warnings.simplefilter('ignore', stats.DegenerateDataWarning)
        res = stats.bootstrap((np.arange(n), ),
                              statistic,
                              paired=True,
                              vectorized=True,
                              n_resamples=resamples,
                              batch=max(1, _CHUNK_ENTRIES // max(n, 1)),
                              method='percentile',
                              confidence_level=CONFIDENCE,
                              rng=np.random.default_rng(seed))
    low, high = (np.atleast_1d(v) for v in res.confidence_interval)
    keys = range(observed.size) if keys is None else keys
    return {
        k: Interval(float(d), float(lo), float(hi), n, 'bootstrap')
        for k, d, lo, hi in zip(keys, observed, low, high)
    }


def load_predictions(path: str) -> tuple:
    """``(scores (N, C) float64, labels (N, ) int64)`` of a ``DumpResults``
    pickle (tensors or numpy arrays), in ``sample_idx`` order (the test
    split's order)."""
    import mmengine
    items = mmengine.load(path)
    items = sorted(items, key=lambda r: int(r.get('sample_idx', 0)))
    scores = np.stack([np.asarray(r['pred_score'], np.float64) for r in items])
    labels = np.asarray(
        [int(np.asarray(r['gt_label']).ravel()[0]) for r in items], np.int64)
    return scores, labels


def weighted_metrics(scores: np.ndarray,
                     labels: np.ndarray,
                     weights: Optional[np.ndarray] = None,
                     class_keys: Sequence[str] = (),
                     pos_label: int = 1) -> Dict[str, np.ndarray]:
    """``{metric key: (B, ) percent}`` of ``scores`` ``(N, C)`` against
    ``labels`` ``(N, )``, image ``i`` counted ``weights[b, i]`` times
    (``(B, N)``, default 1; scikit-learn's ``sample_weight``): accuracy,
    macro P/R/F1 (``zero_division=0``, as mmpretrain), ROC-AUC (one-vs-rest,
    macro over the classes with images), per class (``class_keys``: each
    index's key in ``metrics.json``; NaN without images), a binary task's
    ``binary/*`` of ``pos_label``."""
    from sklearn import config_context
    from sklearn.exceptions import UndefinedMetricWarning
    fast = weights is not None  # inputs checked on the observed weighting
    rows = weights if fast else np.ones((1, len(labels)))
    # a class without images on a resample: NaN, without a warning
    with config_context(assume_finite=fast, skip_parameter_validation=fast), \
            warnings.catch_warnings():
        warnings.simplefilter('ignore', UndefinedMetricWarning)
        warnings.simplefilter('ignore', RuntimeWarning)
        out = [
            _metrics(scores, labels, w, class_keys, pos_label)
            for w in np.atleast_2d(rows)
        ]
    return {k: np.array([o[k] for o in out]) for k in out[0]}


def _metrics(scores, labels, w, class_keys, pos_label) -> Dict[str, float]:
    from sklearn import metrics
    c, pred = scores.shape[1], scores.argmax(1)
    *prf, support = metrics.precision_recall_fscore_support(
        labels, pred, labels=range(c), sample_weight=w, zero_division=0)
    p, r, f = (v * 100 for v in prf)
    auc = metrics.roc_auc_score(
        np.eye(c)[labels], scores, sample_weight=w, average=None) * 100
    out = {
        'accuracy/top1':
        metrics.accuracy_score(labels, pred, sample_weight=w) * 100
    }
    out.update(
        zip(_MACRO, (p.mean(), r.mean(), f.mean(),
                     auc[1] if c == 2 else np.nanmean(auc))))
    acc = np.where(support > 0, r, np.nan)
    out.update(
        (PER_CLASS_PREFIX + k, acc[i]) for i, k in enumerate(class_keys))
    if class_keys:
        out[PER_CLASS_MEAN] = np.nanmean(acc)
    if c == 2:
        i = pos_label
        out.update(
            zip(_BINARY, (p[i], r[i], f[i], auc[i], out['accuracy/top1'])))
    return out


def class_keys(metrics: dict) -> List[str]:
    """Per-class accuracy keys (class names), in the metric's order."""
    return [
        k[len(PER_CLASS_PREFIX):] for k in metrics
        if k.startswith(PER_CLASS_PREFIX) and k != PER_CLASS_MEAN
    ]


def compared_keys(metrics: dict) -> List[str]:
    """The metric keys of ``metrics`` to compare, as results.md reports
    them: summary first (for a binary task the positive class's instead of
    the macro ones), then per class."""
    binary = 'binary/f1-score' in metrics
    keys = [
        k for k in SUMMARY if k in metrics and not (binary and k in _MACRO)
    ]
    return keys + [PER_CLASS_PREFIX + c for c in class_keys(metrics)]


def _memo(key: tuple, fn: Callable, *args):
    """``fn(*args)``, computed once per ``key``."""
    if key not in _CACHE:
        _CACHE[key] = fn(*args)
    return _CACHE[key]


def _recomputed(record: dict, path: str) -> Optional[tuple]:
    """``(weights -> its metrics, labels, the keys recomputed as reported)``
    from the record's predictions; None when they do not fit its metrics."""
    stamp = (path, osp.getmtime(path))
    scores, labels = _memo(('file', *stamp), load_predictions, path)
    reported, keys = record['metrics'], class_keys(record['metrics'])
    if keys and len(keys) != scores.shape[1]:
        return None
    pos = record.get('pos_label', 1)
    ok = {
        k
        for k, v in weighted_metrics(scores, labels, None, keys, pos).items()
        if reported.get(k) is not None
        and abs(v[0] - float(reported[k])) <= MATCH_TOLERANCE
    }

    def metrics(w):  # MixSSL's recur in every pair, on the same resamples
        return _memo(('weights', *stamp, hashlib.sha1(w).hexdigest()),
                     weighted_metrics, scores, labels, w, keys, pos)

    return metrics, labels, ok


def _bootstrap(mine: dict, ref: dict, keys: Sequence[str],
               resamples: int) -> Dict[str, Interval]:
    """The bootstrap intervals of ``mine - ref`` on ``keys`` (cached per
    pair of files); ``{}`` without the predictions of the same images."""
    paths = [r.get('predictions') for r in (mine, ref)]
    if not all(p and osp.isfile(p) for p in paths):
        return {}
    cache_key = (tuple(
        (p, osp.getmtime(p)) for p in paths), tuple(keys), resamples)
    if cache_key in _CACHE:
        return _CACHE[cache_key]
    a, b = _recomputed(mine, paths[0]), _recomputed(ref, paths[1])
    if a is None or b is None or not np.array_equal(a[1], b[1]):
        return {}  # not the same test images
    keys = [k for k in keys if k in a[2] and k in b[2]]

    def delta(w):
        ma, mb = a[0](w), b[0](w)
        return np.stack([ma[k] - mb[k] for k in keys], axis=1)

    _CACHE[cache_key] = paired_bootstrap_interval(
        delta, a[1].size, resamples, keys=keys) if keys else {}
    return _CACHE[cache_key]


def compare(records: List[dict],
            methods: Sequence[str],
            resamples: int = RESAMPLES) -> dict:
    """``{protocol: {method: {metric key: Interval}}}`` of every method
    minus MixSSL (:data:`REFERENCE`), for the protocols and methods with
    results."""
    by = {}
    for r in records:
        by.setdefault((r['protocol'], r['method']), {})[r['seed']] = r
    out = {}
    for proto in ordered_protocols(r['protocol'] for r in records):
        ref = by.get((proto, REFERENCE), {})
        rows = {}
        for m in methods:
            mine = by.get((proto, m), {})
            seeds = sorted(set(mine) & set(ref))
            if m == REFERENCE or not seeds:
                continue
            keys = compared_keys(ref[seeds[0]]['metrics'])
            if len(seeds) == 1:
                ivs = _bootstrap(mine[seeds[0]], ref[seeds[0]], keys,
                                 resamples)
                rows[m] = {
                    k: iv._replace(seed=seeds[0])
                    for k, iv in ivs.items()
                }
                continue
            rows[m] = {}
            for key in keys:
                a = [mine[s]['metrics'].get(key) for s in seeds]
                b = [ref[s]['metrics'].get(key) for s in seeds]
                if len(finite(a + b)) == 2 * len(seeds):
                    rows[m][key] = paired_t_interval(a, b)
        if rows:
            out[proto] = rows
    return out


def fmt_interval(iv: Optional[Interval]) -> str:
    """``'+2.20 [-0.71, +5.11] ≈'`` (≈: the interval contains 0, within
    noise); ``'–'`` for none."""
    if iv is None or np.isnan(iv.delta):
        return '–'
    if np.isnan(iv.low):
        return f'{iv.delta:+.2f} [–]'
    return (f'{iv.delta:+.2f} [{iv.low:+.2f}, '
            f'{iv.high:+.2f}]' + (' ≈' if within_noise(iv) else ''))


def delta_section(comparison: dict, name_fn) -> List[str]:
    """results.md's section of the differences to MixSSL: per
    protocol a table of the summary metrics and one of the per-class
    accuracies (the layouts of Tables 2 and 1); ``[]`` without results."""
    if not comparison:
        return []
    pct = int(round(CONFIDENCE * 100))
    out = [
        f'## Δ vs MixSSL [{pct} % CI]', '',
        'Each cell: the method minus MixSSL (percentage points) '
        f'and its {pct} % interval, paired: by seed (Student\'s t over the '
        'per-seed differences) when both ran two or more seeds, else by '
        f'test image (percentile bootstrap, {RESAMPLES:,} resamples of the '
        'test images, the same resample for both methods, fixed seed). '
        '**≈ marks an interval that contains 0: within noise.**', ''
    ]
    shown, none = has_fractions(comparison), []
    for proto, all_rows in comparison.items():
        title = protocol_title(proto, shown)
        rows = {m: r for m, r in all_rows.items() if r}
        none += [f'{name_fn(m)} ({title})' for m in all_rows if m not in rows]
        keys = list(dict.fromkeys(k for r in rows.values() for k in r))
        if keys:
            out += [f'### {title}', '']
        for cols in ([k for k in SUMMARY
                      if k in keys], [k for k in keys if k not in SUMMARY]):
            if not cols:
                continue
            header = [
                SUMMARY.get(k, k[len(PER_CLASS_PREFIX):].replace('_', ' '))
                for k in cols
            ]
            out += md_table(
                ['Method', 'Interval'] + header,
                [[name_fn(m), _how(next(iter(row.values())))] +
                 [fmt_interval(row.get(k)) for k in cols]
                 for m, row in rows.items()], (0, 1)) + ['']
    if none:
        out += [
            f'No interval for {", ".join(none)}: one common seed and no '
            'per-image predictions (`predictions.pkl`) of both test '
            'stages (k-NN has none).', ''
        ]
    return out


def _how(iv: Interval) -> str:
    if iv.kind == 't':
        return f't, {iv.n} seeds'
    return f'bootstrap, {iv.n} images, seed {iv.seed}'


def delta_rows(comparison: dict, name_fn) -> List[dict]:
    """``deltas.csv`` rows, the columns of :data:`DELTA_COLUMNS`."""
    return [
        dict(
            zip(DELTA_COLUMNS, (proto, name_fn(m), key, iv.delta, iv.low,
                                iv.high, iv.kind, iv.n, within_noise(iv))))
        for proto, rows in comparison.items() for m, row in rows.items()
        for key, iv in row.items()
    ]
