# Copyright (c) mixssl_mm contributors. All rights reserved.
"""ROC-AUC for mmengine's Evaluator: scikit-learn's ``roc_auc_score``."""
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmpretrain.evaluation.metrics.single_label import to_tensor
from mmpretrain.registry import METRICS

from .utils import (check_undefined_option, class_metric_keys,
                    dataset_class_names, describe_split, report_undefined,
                    score_records, sklearn_metrics)


@METRICS.register_module()
class ROCAUC(BaseMetric):
    """ROC-AUC (area under the ROC curve) in percent, one-vs-rest.

    An adapter of ``sklearn.metrics.roc_auc_score`` (tied scores count 1/2
    per positive/negative pair) to mmengine's ``BaseMetric``: it collects
    ``pred_score`` and ``gt_label``, names the classes and handles those
    whose AUC is undefined.

    - **Binary** (``pred_score`` has 2 columns, or is 1-D): the score of
      class ``pos_label`` ranks the samples, those with ``gt_label ==
      pos_label`` are the positives. ``average`` is ignored.
    - **Multi-class**: one-vs-rest, class :math:`c` scored by
      ``pred_score[:, c]`` (``roc_auc_score(gt == c, score[:, c])``, i.e.
      scikit-learn's ``multi_class='ovr'`` without its requirement that
      scores sum to 1). ``average='macro'`` gives the unweighted mean over
      classes; ``average=None`` additionally outputs every class.

    Output keys (``default_prefix`` is None so the keys read as below; a
    ``prefix`` given in the config is prepended as ``<prefix>/``):

    - ``roc_auc``: the binary AUC, or the macro one-vs-rest AUC (also when
      ``average=None``, so one metric fills a whole per-class + mean row).
    - ``roc_auc/<class>`` (``average=None``, multi-class only): class names
      from ``dataset_meta['classes']`` made key-safe by
      :func:`class_metric_keys` (``'immature granulocyte'`` ->
      ``'immature_granulocyte'``), or ``class_<i>`` without dataset_meta.

    **Undefined classes.** A class with no positive or no negative sample in
    the evaluation split (e.g. an empty class folder) has no ROC curve. By
    default (``undefined='nan'``) it is reported as NaN with a
    ``UserWarning`` (also written to the run's log) naming the class and the
    split, and the macro mean is taken over the remaining classes (NaN if
    none remain): validation during training goes on. ``undefined='raise'``
    refuses with a ``ValueError`` instead; a final test that must not report
    a mean over fewer classes than the paper's sets it (see
    :func:`~mixssl_mm.evaluation.metrics.utils.refuse_undefined`).

    Args:
        average (str | None): ``'macro'`` or ``None`` (see above). Only used
            for multi-class scores. Defaults to ``'macro'``.
        pos_label (int): The positive class for binary scores.
            Defaults to 1.
        undefined (str): ``'nan'`` or ``'raise'``; what to do with a class
            whose ROC-AUC is undefined. Defaults to ``'nan'``.
        collect_device (str): Device name used for collecting results from
            different ranks during distributed training. Must be 'cpu' or
            'gpu'. Defaults to 'cpu'.
        prefix (str, optional): The prefix that will be added in the metric
            names to disambiguate homonymous metrics of different evaluators.
            Defaults to None.

    Raises:
        ImportError: scikit-learn is not installed (when built).
        ValueError: A bad ``average`` / ``undefined``; samples without
            ``pred_score``; ``dataset_meta`` naming another number of
            classes than the score columns; an undefined class with
            ``undefined='raise'``.

    Examples:
        >>> # 2 positives, 2 negatives, one tied pair: (3 + 0.5) / 4
        >>> ROCAUC.calculate([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0])
        tensor(87.5000, dtype=torch.float64)
    """
    default_prefix: Optional[str] = None

    def __init__(self,
                 average: Optional[str] = 'macro',
                 pos_label: int = 1,
                 undefined: str = 'nan',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        # The keys returned by `compute_metrics` are already complete
        # ('roc_auc', 'roc_auc/<class>'), so no prefix is added by default;
        # a placeholder is passed only to avoid BaseMetric's "prefix is not
        # set" warning, then the user's (possibly None) prefix is restored.
        super().__init__(
            collect_device=collect_device, prefix=prefix or 'roc_auc')
        self.prefix = prefix
        if average not in ('macro', None):
            raise ValueError(
                f"ROCAUC: `average` must be 'macro' or None, got {average!r}.")
        check_undefined_option('ROCAUC', undefined)
        sklearn_metrics('ROCAUC')  # fail when built, not after validation
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
            class when ``average=None`` (floats, percent; NaN for an
            undefined class).
        """
        target = torch.cat([res['gt_label'] for res in results])
        pred = torch.stack([res['pred_score'] for res in results])
        num_classes = pred.size(1) if pred.ndim == 2 else 2
        names = dataset_class_names(self.dataset_meta, num_classes, 'ROCAUC',
                                    'pred_score has {n} columns')
        split = describe_split(results)

        if num_classes == 2:
            auc = self.calculate(
                pred,
                target,
                pos_label=self.pos_label,
                undefined=self.undefined,
                class_names=names,
                split=split)
            return {'roc_auc': float(auc)}

        per_class = self.calculate(
            pred,
            target,
            average=None,
            undefined=self.undefined,
            class_names=names,
            split=split)
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
                  undefined: str = 'nan',
                  class_names: Optional[Sequence[str]] = None,
                  split: str = 'the evaluation split') -> torch.Tensor:
        """Calculate ROC-AUC in percent with ``sklearn.metrics``.

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
            undefined (str): ``'nan'`` (with a warning; the macro mean skips
                NaN classes) or ``'raise'`` a ``ValueError`` for a class
                without positives or negatives. Defaults to ``'nan'``.
            class_names (Sequence[str], optional): Used in the messages.
                Defaults to ``class_<i>``.
            split (str): How the messages name the evaluated samples.

        Returns:
            torch.Tensor: A float64 scalar (binary or macro) or ``(C, )``
            tensor (``average=None``, multi-class).
        """
        if average not in ('macro', None):
            raise ValueError(
                f"ROCAUC: `average` must be 'macro' or None, got {average!r}.")
        check_undefined_option('ROCAUC', undefined)
        metrics = sklearn_metrics('ROCAUC')
        pred = to_tensor(pred).double().numpy()
        target = to_tensor(target).to(torch.int64).flatten().numpy()
        if pred.shape[0] != target.shape[0]:
            raise ValueError(f'ROCAUC: the size of pred ({pred.shape[0]}) '
                             f"doesn't match the target ({target.shape[0]}).")

        binary = pred.ndim == 1 or pred.shape[1] == 2
        if binary:
            if pred.ndim == 2:
                if pos_label not in (0, 1):
                    raise ValueError('ROCAUC: `pos_label` must be 0 or 1 for '
                                     f'2-column scores, got {pos_label}.')
                pred = pred[:, pos_label]
            columns = [(pred, target == pos_label, pos_label)]
        else:
            columns = [(pred[:, c], target == c, c)
                       for c in range(pred.shape[1])]

        aucs, problems = [], []
        for scores, positive, label in columns:
            if positive.all() or not positive.any():
                # roc_auc_score would raise "Only one class present in
                # y_true"; a NaN column keeps the other classes' values.
                name = (
                    class_names[label]
                    if class_names is not None else f'class_{label}')
                problems.append(
                    (name, 'no positive samples' if not positive.any() else
                     'no negative samples (every sample belongs to it)'))
                aucs.append(float('nan'))
            else:
                aucs.append(metrics.roc_auc_score(positive, scores))
        report_undefined(
            'ROCAUC', problems, split, undefined,
            'It is left out of the mean over classes.' if not binary else '')

        aucs = torch.tensor(aucs, dtype=torch.float64) * 100
        if binary:
            return aucs[0]
        if average == 'macro':
            return torch.nanmean(aucs)
        return aucs
