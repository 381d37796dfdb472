# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Every method against MixSSL: the difference on each reported metric,
paired, with its 95 % interval (:mod:`.intervals`).

- Two or more seeds that both methods finished: Student's t interval over
  the per-seed differences (the seeds pair the runs).
- One common seed: the paired bootstrap over test images, from the test
  stages' per-image predictions (``predictions.pkl``): the same resamples
  for both methods, 2,000 of them, seeded. Only metrics whose value
  recomputed from the predictions equals the reported one are bootstrapped
  (a metric the recomputation does not know gets no interval).

A *record* is as in :mod:`.report`, with ``predictions``: the path of its
test stage's ``predictions.pkl`` (optional).
"""
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np

from .intervals import (CONFIDENCE, RESAMPLES, Interval, bootstrap_intervals,
                        paired_t_interval, within_noise)
from .prediction_metrics import load_predictions, weighted_metrics
from .protocols import has_fractions, ordered_protocols, protocol_title
from .report import PER_CLASS_MEAN
from .report import PER_CLASS_PREFIX as PER_CLASS
from .report import class_keys

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
    return keys + [PER_CLASS + c for c in class_keys(metrics)]


def _finite(v) -> bool:
    return v is not None and np.isfinite(float(v))


def _t_intervals(mine: List[dict], ref: List[dict],
                 keys: Sequence[str]) -> Dict[str, Interval]:
    out = {}
    for key in keys:
        a = [r['metrics'].get(key) for r in mine]
        b = [r['metrics'].get(key) for r in ref]
        if all(map(_finite, a + b)):
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
        if _finite(record['metrics'].get(k)) and np.isfinite(v[0])
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
            keys = [
                k for k in compared_keys(ref[seeds[0]]['metrics']) if seeds
            ] if seeds else []
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
    return key[len(PER_CLASS):].replace('_', ' ')


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
            out += [
                '| Method | Interval | ' + ' | '.join(map(_header, cols)) +
                ' |', '|---|---|' + ':-:|' * len(cols)
            ]
            out += [
                f'| {name_fn(m)} | {_how(row)} | ' +
                ' | '.join(fmt_interval(row.get(k), digits)
                           for k in cols) + ' |' for m, row in rows.items()
            ]
            out.append('')
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
