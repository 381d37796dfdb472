# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The benchmark's reported metrics recomputed from per-image predictions,
with a weight per test image, for many weightings at once (the bootstrap's
resamples, see :mod:`.intervals`).

The predictions are the pickle that mmengine's ``DumpResults`` writes (what
``mmpretrain tools/test.py --out FILE.pkl`` gives, and what the benchmark's
test stages write through
:class:`~mixssl_mm.engine.hooks.DumpPredictionsHook`): one dict per test
image with ``pred_score`` ``(C, )``, ``gt_label`` and ``sample_idx``.

The definitions follow the metrics the test stages report, so with weight 1
on every image the values equal ``metrics.json`` (the benchmark checks this
per key and bootstraps only the keys that match):

- ``accuracy/top1``: mmpretrain ``Accuracy`` (arg-max of the score);
- ``single-label/{precision,recall,f1-score}``: mmpretrain
  ``SingleLabelMetric(average='macro')``: per class ``tp / max(pred, 1)``,
  ``tp / max(gt, 1)``, their harmonic mean, then the mean over classes;
- ``per_class_accuracy/<class>`` and ``/mean``: ``PerClassAccuracy``
  (recall per class; the mean over classes that have images);
- ``roc_auc``: ``ROCAUC`` (one-vs-rest macro; with 2 classes the AUC of
  class 1's score), exact with ties counted 1/2 (Mann-Whitney);
- ``binary/*``: ``PositiveClassMetric`` of class ``pos_label``.
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

PER_CLASS = 'per_class_accuracy/'


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
    """``(B, )`` ROC-AUC (percent) of ``scores`` (N, ) for the ``positive``
    mask, image ``i`` counted ``weights[b, i]`` times: the weighted
    Mann-Whitney statistic, a tied (positive, negative) pair counting 1/2;
    NaN when a weighting has no positive or no negative."""
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
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(den > 0, num / np.where(den > 0, den, 1) * 100.0,
                        np.nan)


def _nanmean(values: np.ndarray) -> np.ndarray:
    """Row means over the defined (non-NaN) entries; NaN for none."""
    ok = ~np.isnan(values)
    total = np.where(ok, values, 0.0).sum(1)
    count = ok.sum(1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def weighted_metrics(scores: np.ndarray,
                     labels: np.ndarray,
                     weights: Optional[np.ndarray] = None,
                     class_keys: Sequence[str] = (),
                     pos_label: int = 1) -> Dict[str, np.ndarray]:
    """The reported metrics (module docstring) under each weighting.

    Args:
        scores: ``(N, C)`` class scores.
        labels: ``(N, )`` true classes in ``0..C-1``.
        weights: ``(B, N)`` or ``(N, )`` image weights (default: all 1).
        class_keys: the per-class key of each class index (as in
            ``metrics.json``); without them no per-class keys are given.
        pos_label: the positive class of the ``binary/*`` keys (2 classes).

    Returns:
        ``{metric key: (B, ) values in percent}``.
    """
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
        out[PER_CLASS + key] = per_class[:, i]
    if class_keys:
        out[PER_CLASS + 'mean'] = _nanmean(per_class)
    if c == 2:
        auc = weighted_auc(scores[:, pos_label], labels == pos_label, w)
        out['roc_auc'] = weighted_auc(scores[:, 1], labels == 1, w)
        p = pos_label
        bp, br = _ratio(tp[:, p], pred[:, p]), _ratio(tp[:, p], gt[:, p])
        bp, br = np.nan_to_num(bp), np.nan_to_num(br)
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
