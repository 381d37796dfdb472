"""Area under the ROC curve, computed from ranks (no sklearn at runtime)."""
import warnings
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from mmpretrain.registry import METRICS
from .utils import (class_metric_keys, dataset_class_names, score_records,
                    to_tensor)


def _average_ranks(scores: torch.Tensor) -> torch.Tensor:
    """1-based ranks of ``scores`` (N, ), tied values sharing their average
    rank, which is what makes a tied positive/negative pair count 1/2."""
    _, inverse, counts = torch.unique(
        scores, sorted=True, return_inverse=True, return_counts=True)
    last_rank = torch.cumsum(counts, 0).double()
    avg_rank = last_rank - (counts.double() - 1) / 2
    return avg_rank[inverse]


def _binary_auc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """Mann-Whitney U statistic normalized by ``P * N`` (NaN if P or N is 0).

    ``U = R_pos - P (P + 1) / 2`` where ``R_pos`` is the sum of the ranks of
    the positives; ``U`` counts the (positive, negative) pairs ordered
    correctly, plus 1/2 per tied pair.
    """
    n_pos = int(positive.sum())
    n_neg = positive.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return float('nan')
    ranks = _average_ranks(scores.double())
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def _undefined_reason(positive: torch.Tensor) -> str:
    return ('no positive samples' if not bool(positive.any()) else
            'no negative samples (every sample belongs to it)')


@METRICS.register_module()
class ROCAUC(BaseMetric):
    r"""ROC-AUC (area under the ROC curve), in percent.

    Computed exactly with the rank (Mann-Whitney U) formulation: for a class
    with :math:`P` positives and :math:`N` negatives,

    .. math::

        \text{AUC} = \frac{\#\{(i, j): s_i > s_j\}
                          + \frac{1}{2}\#\{(i, j): s_i = s_j\}}{P N}

    over positive :math:`i` and negative :math:`j`, obtained as
    :math:`(R_{pos} - P(P+1)/2) / (PN)` with average ranks for ties. This
    equals ``sklearn.metrics.roc_auc_score``.

    - **Binary** (``pred_score`` has 2 columns, or is 1-D): the score of
      class ``pos_label`` ranks samples, and samples with ``gt_label ==
      pos_label`` are the positives. ``average`` is ignored.
    - **Multi-class**: one-vs-rest, class :math:`c` scored by
      ``pred_score[:, c]``. ``average='macro'`` gives the unweighted mean
      over classes; ``average=None`` additionally outputs every class.

    Output keys (``default_prefix`` is None so the keys read as below; a
    ``prefix`` given in the config is prepended as ``<prefix>/``):

    - ``roc_auc``: the binary AUC, or the macro one-vs-rest AUC (also when
      ``average=None``, so one metric fills a whole per-class + mean row).
    - ``roc_auc/<class>`` (``average=None``, multi-class only): class names
      from ``dataset_meta['classes']`` made key-safe by
      :func:`class_metric_keys` (``'immature granulocyte'`` ->
      ``'immature_granulocyte'``), or ``class_<i>`` without dataset_meta.

    **Undefined classes.** A class with no positive or no negative sample in
    the evaluation set has no ROC curve. By default (``undefined='raise'``)
    this raises a ``ValueError`` naming the class, because a silently
    shrunk macro mean is not comparable to a paper's number. With
    ``undefined='nan'`` such a class is reported as NaN (with a
    ``UserWarning``) and the macro mean is taken over the remaining classes
    (NaN if none remain).

    Args:
        average (str | None): ``'macro'`` or ``None`` (see above). Only used
            for multi-class scores. Defaults to ``'macro'``.
        pos_label (int): The positive class for binary scores.
            Defaults to 1.
        undefined (str): ``'raise'`` or ``'nan'``; what to do with a class
            whose ROC-AUC is undefined. Defaults to ``'raise'``.
        collect_device (str): Device name used for collecting results from
            different ranks during distributed training. Must be 'cpu' or
            'gpu'. Defaults to 'cpu'.
        prefix (str, optional): The prefix that will be added in the metric
            names to disambiguate homonymous metrics of different evaluators.
            Defaults to None.

    Examples:
        >>> # 2 positives, 2 negatives, one tied pair: (3 + 0.5) / 4
        >>> ROCAUC.calculate([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0])
        tensor(87.5000, dtype=torch.float64)
    """
    default_prefix: Optional[str] = None

    def __init__(self,
                 average: Optional[str] = 'macro',
                 pos_label: int = 1,
                 undefined: str = 'raise',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        # The keys returned by `compute_metrics` are already complete
        # ('roc_auc', 'roc_auc/<class>'), so no prefix is added by default;
        # a placeholder is passed only to avoid BaseMetric's "prefix is not
        # set" warning, then the user's (possibly None) prefix is restored.
        super().__init__(
            collect_device=collect_device, prefix=prefix or 'roc_auc')
        self.prefix = prefix
        assert average in ('macro', None), \
            f"`average` must be 'macro' or None, got {average!r}."
        assert undefined in ('raise', 'nan'), \
            f"`undefined` must be 'raise' or 'nan', got {undefined!r}."
        self.average = average
        self.pos_label = pos_label
        self.undefined = undefined

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep the scores and labels of the batch's samples (``data_batch``
        is unused); refuse samples without ``pred_score``."""
        self.results.extend(score_records(data_samples, 'ROCAUC'))

    def compute_metrics(self, results: List) -> dict:
        """Compute ROC-AUC from the collected results.

        Args:
            results (list): The processed results of every batch.

        Returns:
            dict: ``{'roc_auc': auc}`` plus ``{'roc_auc/<class>': auc}`` per
            class when ``average=None`` (floats, percent).
        """
        target = torch.cat([res['gt_label'] for res in results])
        pred = torch.stack([res['pred_score'] for res in results])
        num_classes = pred.size(1) if pred.ndim == 2 else 2
        names = dataset_class_names(self.dataset_meta, num_classes,
                                    'ROCAUC', 'pred_score has {n} columns')

        if num_classes == 2:
            auc = self.calculate(
                pred, target, pos_label=self.pos_label,
                undefined=self.undefined, class_names=names)
            return {'roc_auc': float(auc)}

        per_class = self.calculate(
            pred, target, average=None, undefined=self.undefined,
            class_names=names)
        metrics = {'roc_auc': float(torch.nanmean(per_class))}
        if self.average is None:
            keys = class_metric_keys(names)
            metrics.update({
                f'roc_auc/{k}': float(v)
                for k, v in zip(keys, per_class.tolist())
            })
        return metrics

    @staticmethod
    def calculate(pred: Union[torch.Tensor, np.ndarray, Sequence],
                  target: Union[torch.Tensor, np.ndarray, Sequence],
                  average: Optional[str] = 'macro',
                  pos_label: int = 1,
                  undefined: str = 'raise',
                  class_names: Optional[Sequence[str]] = None
                  ) -> torch.Tensor:
        """Calculate ROC-AUC in percent.

        Args:
            pred (torch.Tensor | np.ndarray | Sequence): Scores ``(N, C)``,
                or ``(N, )`` scores of the positive class (binary).
            target (torch.Tensor | np.ndarray | Sequence): Ground-truth
                labels ``(N, )``.
            average (str | None): ``'macro'`` returns the mean over classes,
                ``None`` the ``(C, )`` per-class values. Ignored for binary
                scores. Defaults to ``'macro'``.
            pos_label (int): The positive label for binary scores; with 2
                columns it also selects the score column. Defaults to 1.
            undefined (str): ``'raise'`` a ``ValueError`` or return ``'nan'``
                for a class without positives or negatives (the macro mean
                skips NaN classes). Defaults to ``'raise'``.
            class_names (Sequence[str], optional): Used in error messages.
                Defaults to ``class_<i>``.

        Returns:
            torch.Tensor: A float64 scalar (binary or macro) or ``(C, )``
            tensor (``average=None``, multi-class).
        """
        assert average in ('macro', None), \
            f"`average` must be 'macro' or None, got {average!r}."
        assert undefined in ('raise', 'nan'), \
            f"`undefined` must be 'raise' or 'nan', got {undefined!r}."
        pred = to_tensor(pred)
        target = to_tensor(target).to(torch.int64).flatten()
        assert pred.size(0) == target.size(0), \
            f"The size of pred ({pred.size(0)}) doesn't match " \
            f'the target ({target.size(0)}).'

        binary = pred.ndim == 1 or pred.size(1) == 2
        if binary:
            if pred.ndim == 2:
                assert pos_label in (0, 1), \
                    f'`pos_label` must be 0 or 1 for 2-column scores, ' \
                    f'got {pos_label}.'
                pred = pred[:, pos_label]
            columns = [(pred, target == pos_label, pos_label)]
        else:
            columns = [(pred[:, c], target == c, c)
                       for c in range(pred.size(1))]

        aucs = []
        for scores, positive, label in columns:
            auc = _binary_auc(scores, positive)
            if np.isnan(auc):
                name = (class_names[label] if class_names is not None else
                        f'class_{label}')
                reason = _undefined_reason(positive)
                if undefined == 'raise':
                    raise ValueError(
                        f'ROC-AUC: class {name!r} has {reason} in the '
                        'evaluation set; ROC-AUC is undefined. Evaluate on a '
                        'split that contains every class, or set '
                        "undefined='nan' to report NaN for it and average "
                        'over the remaining classes.')
                warnings.warn(
                    f'ROC-AUC: class {name!r} has {reason} in the evaluation '
                    'set; reporting NaN and leaving it out of the mean.')
            aucs.append(auc)

        aucs = torch.tensor(aucs, dtype=torch.float64) * 100
        if binary:
            return aucs[0]
        if average == 'macro':
            return torch.nanmean(aucs)
        return aucs
