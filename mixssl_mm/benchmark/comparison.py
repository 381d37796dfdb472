# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The numbers of the report: mean ± std over seeds, and every method
minus MixSSL on each reported metric, paired, with its 95 % interval:
Student's t over the per-seed differences (``scipy.stats.ttest_rel``) with
two or more common seeds, else the percentile bootstrap over test images
(``scipy.stats.bootstrap(paired=True)``, 2,000 resamples, seeded; Efron &
Tibshirani 1993, ch. 13) from the test stages' ``predictions.pkl``
(``DumpResults`` format), the metrics recomputed with a weight per image as
the test stages' mmpretrain / mixssl_mm metrics define them; only keys whose
recomputed value equals the reported one are bootstrapped. An interval
that contains 0 is a tie (≈), never a ranking. A record is as in
:mod:`.report`, with ``predictions``: its ``predictions.pkl`` (optional).
"""
import os.path as osp
import warnings
from collections import OrderedDict
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from .methods import has_fractions, ordered_protocols, protocol_title


def finite(values: Sequence) -> np.ndarray:
    """The values as float64, with ``None`` and NaN (e.g. the accuracy of a
    class absent from the test set) left out."""
    vals = np.asarray([float(v) for v in values if v is not None],
                      dtype=np.float64)
    return vals[np.isfinite(vals)]


def mean_std(values: Sequence) -> Tuple[Optional[float], Optional[float]]:
    """Mean and sample standard deviation (ddof=1) of the finite values;
    std is None for fewer than 2 values, both are None for none."""
    vals = finite(values)
    if not vals.size:
        return None, None
    mean = float(vals.mean())
    if vals.size < 2:
        return mean, None
    return mean, float(vals.std(ddof=1))


def fmt_mean_std(values: Sequence, digits: int = 2) -> str:
    """``'85.31 ± 1.20'``; a single value is shown alone, no value as
    ``'–'``. NaN values are left out."""
    mean, std = mean_std(values)
    if mean is None:
        return '–'
    if std is None:
        return f'{mean:.{digits}f}'
    return f'{mean:.{digits}f} ± {std:.{digits}f}'


def md_table(header: List[str],
             rows: List[List[str]],
             left: Sequence[int] = (0, )) -> List[str]:
    """Markdown table lines (cells as ``str``); the columns ``left``
    (indices, negative from the end) are left-aligned, the others centred."""
    left = {i % len(header) for i in left}
    rule = ('---' if i in left else ':-:' for i in range(len(header)))
    return ['| ' + ' | '.join(header) + ' |', '|' + '|'.join(rule) + '|'
            ] + ['| ' + ' | '.join(map(str, r)) + ' |' for r in rows]


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
    """Percentile-bootstrap intervals of paired metric differences over
    ``n`` test images (``scipy.stats.bootstrap``, resampled in batches).

    Args:
        delta_fn: ``weights (B, n) -> (B, K)``: the K differences (method
            minus reference) with image ``i`` counted ``weights[b, i]``
            times; first called with ``np.ones((1, n))`` (observed).

    Returns:
        ``(K, 3)``: observed, low, high per metric; NaN bounds where a
        metric is undefined on a resample.
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


def load_predictions(path: str) -> Tuple[np.ndarray, np.ndarray]:
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


def _confusion(weights: np.ndarray, labels: np.ndarray, preds: np.ndarray,
               num_classes: int) -> np.ndarray:
    """``(B, C, C)`` weighted confusion matrices ``[true, predicted]``."""
    cell = labels * num_classes + preds
    onehot = np.zeros((labels.size, num_classes * num_classes))
    onehot[np.arange(labels.size), cell] = 1.0
    return (weights @ onehot).reshape(-1, num_classes, num_classes)


def weighted_auc(scores: np.ndarray, positive: np.ndarray,
                 weights: np.ndarray) -> np.ndarray:
    """``(B, )`` ROC-AUC (percent) of ``scores`` ``(N, )`` for the
    ``positive`` mask under ``weights`` ``(B, N)``: the weighted
    Mann-Whitney statistic (ties 1/2); NaN without positives or negatives."""
    order = np.argsort(scores, kind='mergesort')
    s = scores[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # tie groups
    w = weights[:, order]
    pos = np.add.reduceat(w * positive[order], starts, axis=1)
    neg = np.add.reduceat(w * ~positive[order], starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    num = (pos * (below + 0.5 * neg)).sum(1)
    den = pos.sum(1) * neg.sum(1)
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(den > 0, num / den * 100.0, np.nan)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` in percent; NaN where ``den`` is 0."""
    nan = np.full(np.shape(num), np.nan)
    return np.divide(num, den, out=nan, where=den > 0) * 100.0


def _nanmean(values: np.ndarray) -> np.ndarray:
    """Row means over the defined (non-NaN) entries; NaN for none."""
    with warnings.catch_warnings():  # a row without any: NaN, no warning
        warnings.simplefilter('ignore', RuntimeWarning)
        return np.nanmean(values, axis=1)


def weighted_metrics(scores: np.ndarray,
                     labels: np.ndarray,
                     weights: Optional[np.ndarray] = None,
                     class_keys: Sequence[str] = (),
                     pos_label: int = 1) -> Dict[str, np.ndarray]:
    """``{metric key: (B, ) percent}`` of ``scores`` ``(N, C)`` against
    ``labels`` ``(N, )`` under image weights ``(B, N)`` (default 1):
    accuracy, macro P/R/F1, ROC-AUC (ties 1/2), per class (``class_keys``:
    each index's key in ``metrics.json``), a binary task's ``binary/*``
    of ``pos_label``. Equal to scikit-learn's
    ``precision_recall_fscore_support`` / ``roc_auc_score(average=None)``
    with ``sample_weight`` (tested), which take one weighting a call: about
    10x slower over 2,000 resamples."""
    n, c = scores.shape
    w = np.ones((1, n)) if weights is None else np.atleast_2d(weights)
    preds = scores.argmax(1)
    cm = _confusion(w, labels, preds, c)
    tp = np.diagonal(cm, axis1=1, axis2=2)
    gt, pred = cm.sum(2), cm.sum(1)
    total = gt.sum(1)
    out = {'accuracy/top1': _ratio(tp.sum(1), total)}
    prec = tp / np.maximum(pred, 1) * 100.0
    rec = tp / np.maximum(gt, 1) * 100.0
    f1 = 2 * prec * rec / np.maximum(prec + rec, np.finfo(np.float32).eps)
    out['single-label/precision'] = prec.mean(1)
    out['single-label/recall'] = rec.mean(1)
    out['single-label/f1-score'] = f1.mean(1)
    per_class = _ratio(tp, gt)
    for i, key in enumerate(class_keys):
        out[PER_CLASS_PREFIX + key] = per_class[:, i]
    if class_keys:
        out[PER_CLASS_PREFIX + 'mean'] = _nanmean(per_class)
    if c == 2:
        out['roc_auc'] = weighted_auc(scores[:, 1], labels == 1, w)
        p = pos_label
        auc = weighted_auc(scores[:, p], labels == p, w)
        bp = np.nan_to_num(_ratio(tp[:, p], pred[:, p]))
        br = np.nan_to_num(_ratio(tp[:, p], gt[:, p]))
        with np.errstate(invalid='ignore', divide='ignore'):
            bf = np.where(bp + br > 0, 2 * bp * br / (bp + br), 0.0)
        out.update({
            'binary/precision': bp,
            'binary/recall': br,
            'binary/f1-score': bf,
            'binary/roc_auc': auc,
            'binary/accuracy': out['accuracy/top1']
        })
    else:
        aucs = np.stack(
            [weighted_auc(scores[:, k], labels == k, w) for k in range(c)],
            axis=1)
        out['roc_auc'] = _nanmean(aucs)
    return out


PER_CLASS_PREFIX = 'per_class_accuracy/'
PER_CLASS_MEAN = 'per_class_accuracy/mean'


def class_keys(metrics: dict) -> List[str]:
    """Per-class accuracy keys (class names), in the metric's order."""
    return [
        k[len(PER_CLASS_PREFIX):] for k in metrics
        if k.startswith(PER_CLASS_PREFIX) and k != PER_CLASS_MEAN
    ]


REFERENCE = 'mixssl'
# summary metrics in display order, with their headers
SUMMARY = OrderedDict([('accuracy/top1', 'Accuracy'),
                       (PER_CLASS_MEAN, 'Average'),
                       ('single-label/precision', 'Precision'),
                       ('single-label/recall', 'Recall'),
                       ('single-label/f1-score', 'F1'), ('roc_auc', 'ROC-AUC'),
                       ('binary/precision', 'P (positive)'),
                       ('binary/recall', 'R (positive)'),
                       ('binary/f1-score', 'F1 (positive)'),
                       ('binary/roc_auc', 'ROC-AUC (positive)'),
                       ('knn/top1', 'k-NN top-1')])
# a recomputed value counts as the reported one within this (percent)
MATCH_TOLERANCE = 0.01
_CACHE: Dict[tuple, dict] = {}

# a binary task's Table 2 reports the positive class, not these
_MACRO = ('single-label/precision', 'single-label/recall',
          'single-label/f1-score', 'roc_auc')


def compared_keys(metrics: dict) -> List[str]:
    """The metric keys of ``metrics`` to compare, as results.md reports
    them: summary first (for a binary task the positive class's instead of
    the macro ones), then per class."""
    binary = 'binary/f1-score' in metrics
    keys = [
        k for k in SUMMARY if k in metrics and not (binary and k in _MACRO)
    ]
    return keys + [PER_CLASS_PREFIX + c for c in class_keys(metrics)]


def _t_intervals(mine: List[dict], ref: List[dict],
                 keys: Sequence[str]) -> Dict[str, Interval]:
    out = {}
    for key in keys:
        a = [r['metrics'].get(key) for r in mine]
        b = [r['metrics'].get(key) for r in ref]
        if len(finite(a + b)) == len(a + b):
            out[key] = paired_t_interval(a, b)
    return out


def _load(path: str) -> tuple:
    """:func:`load_predictions`, once per file version."""
    key = ('file', path, osp.getmtime(path))
    if key not in _CACHE:
        _CACHE[key] = load_predictions(path)
    return _CACHE[key]


def _predictions(record: dict) -> Optional[tuple]:
    path = record.get('predictions')
    if not path or not osp.isfile(path):
        return None
    scores, labels = _load(path)
    keys = class_keys(record['metrics'])
    if keys and len(keys) != scores.shape[1]:
        return None
    full = weighted_metrics(
        scores, labels, class_keys=keys, pos_label=record.get('pos_label', 1))
    # keys whose recomputation is the reported value
    ok = {
        k
        for k, v in full.items()
        if finite([record['metrics'].get(k)]).size and np.isfinite(v[0])
        and abs(v[0] - float(record['metrics'][k])) <= MATCH_TOLERANCE
    }
    return scores, labels, keys, ok


def _bootstrap(mine: dict, ref: dict, keys: Sequence[str],
               resamples: int) -> Dict[str, Interval]:
    stamp = tuple((r.get('predictions'), osp.getmtime(r['predictions']))
                  for r in (mine, ref)
                  if r.get('predictions') and osp.isfile(r['predictions']))
    cache_key = (stamp, tuple(keys), resamples)
    if len(stamp) == 2 and cache_key in _CACHE:
        return _CACHE[cache_key]
    a, b = _predictions(mine), _predictions(ref)
    if a is None or b is None or not np.array_equal(a[1], b[1]):
        return {}  # no predictions, or not the same test images
    keys = [k for k in keys if k in a[3] and k in b[3]]
    pos = mine.get('pos_label', 1)

    def delta(w):
        ma = weighted_metrics(a[0], a[1], w, a[2], pos)
        mb = weighted_metrics(b[0], b[1], w, b[2], pos)
        return np.stack([ma[k] - mb[k] for k in keys], axis=1)

    out = bootstrap_intervals(
        delta, a[1].size, resamples, keys=keys) if keys else {}
    _CACHE[cache_key] = out
    return out


def compare(records: List[dict],
            methods: Sequence[str],
            reference: str = REFERENCE,
            resamples: int = RESAMPLES) -> 'OrderedDict':
    """``{protocol: {method: {metric key: Interval}}}`` of every method
    (but ``reference``) minus ``reference``, for the protocols and methods
    with results; empty when ``reference`` has none."""
    by = OrderedDict()
    for r in records:
        by.setdefault((r['protocol'], r['method']), {})[r['seed']] = r
    out = OrderedDict()
    for proto in ordered_protocols(r['protocol'] for r in records):
        ref = by.get((proto, reference))
        if not ref:
            continue
        rows = OrderedDict()
        for m in methods:
            mine = by.get((proto, m))
            if m == reference or not mine:
                continue
            seeds = sorted(set(mine) & set(ref))
            keys = compared_keys(ref[seeds[0]]['metrics']) if seeds else []
            if len(seeds) >= 2:
                rows[m] = _t_intervals([mine[s] for s in seeds],
                                       [ref[s] for s in seeds], keys)
            elif seeds:  # '_seed': which seed, for the table
                rows[m] = dict(
                    _bootstrap(mine[seeds[0]], ref[seeds[0]], keys, resamples),
                    _seed=seeds[0])
        if rows:
            out[proto] = rows
    return out


def fmt_interval(iv: Optional[Interval], digits: int = 2) -> str:
    """``'+2.20 [-0.71, +5.11] ≈'`` (≈: the interval contains 0, within
    noise); ``'–'`` for none."""
    if iv is None or np.isnan(iv.delta):
        return '–'
    if np.isnan(iv.low):
        return f'{iv.delta:+.{digits}f} [–]'
    cell = f'{iv.delta:+.{digits}f} [{iv.low:+.{digits}f}, ' \
        f'{iv.high:+.{digits}f}]'
    return cell + (' ≈' if within_noise(iv) else '')


def _intervals(row: dict) -> 'OrderedDict':
    """The metric intervals of a row (without its ``_seed`` note)."""
    return OrderedDict((k, v) for k, v in row.items() if not k.startswith('_'))


def _how(row: dict) -> str:
    ivs = list(_intervals(row).values())
    if ivs[0].kind == 't':
        return f't, {ivs[0].n} seeds'
    return f'bootstrap, {ivs[0].n} images, seed {row.get("_seed")}'


def _header(key: str) -> str:
    if key in SUMMARY:
        return SUMMARY[key]
    return key[len(PER_CLASS_PREFIX):].replace('_', ' ')


def delta_section(comparison: 'OrderedDict',
                  name_fn,
                  reference_name: str = 'MixSSL',
                  digits: int = 2) -> List[str]:
    """results.md's section of the differences to the reference: per
    protocol a table of the summary metrics and one of the per-class
    accuracies (the layouts of Tables 2 and 1); ``[]`` without results."""
    if not comparison:
        return []
    pct = int(round(CONFIDENCE * 100))
    out = [
        f'## Δ vs {reference_name} [{pct} % CI]', '',
        f'Each cell: the method minus {reference_name} (percentage points) '
        f'and its {pct} % interval, paired: by seed (Student\'s t over the '
        'per-seed differences) when both ran two or more seeds, else by '
        f'test image (percentile bootstrap, {RESAMPLES:,} resamples of the '
        'test images, the same resample for both methods, fixed seed). '
        '**≈ marks an interval that contains 0: within noise.**', ''
    ]
    shown, none = has_fractions(comparison), []
    for proto, all_rows in comparison.items():
        rows = OrderedDict(
            (m, r) for m, r in all_rows.items() if _intervals(r))
        none += [
            f'{name_fn(m)} ({protocol_title(proto, shown)})' for m in all_rows
            if m not in rows
        ]
        if not rows:
            continue
        keys = []
        for row in rows.values():
            keys += [k for k in _intervals(row) if k not in keys]
        summary = [k for k in SUMMARY if k in keys]
        per_class = [k for k in keys if k not in SUMMARY]
        out += [f'### {protocol_title(proto, shown)}', '']
        for cols in (summary, per_class):
            if not cols:
                continue
            out += md_table(
                ['Method', 'Interval'] + [_header(k) for k in cols],
                [[name_fn(m), _how(row)] +
                 [fmt_interval(row.get(k), digits) for k in cols]
                 for m, row in rows.items()], (0, 1)) + ['']
    if none:
        out += [
            f'No interval for {", ".join(none)}: one common seed and no '
            'per-image predictions (`predictions.pkl`) of both test '
            'stages (k-NN has none).', ''
        ]
    return out


def delta_rows(comparison: 'OrderedDict', name_fn) -> List[dict]:
    """``deltas.csv`` rows: protocol, method, metric, delta, low, high,
    interval kind, n, within_noise."""
    rows = []
    for proto, by_method in comparison.items():
        for m, row in by_method.items():
            for key, iv in _intervals(row).items():
                rows.append(
                    OrderedDict(
                        protocol=proto,
                        method=name_fn(m),
                        metric=key,
                        delta=iv.delta,
                        low=iv.low,
                        high=iv.high,
                        kind=iv.kind,
                        n=iv.n,
                        within_noise=within_noise(iv)))
    return rows
