# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Binary-task metrics of one positive class (the paper's Table 2 layout)."""
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmpretrain.registry import METRICS

from .utils import (check_undefined_option, describe_split, report_undefined,
                    score_records, sklearn_metrics)


@METRICS.register_module()
class PositiveClassMetric(BaseMetric):
    """Precision, recall, F1 and ROC-AUC of a positive class, and accuracy.

    The layout of the paper's Table 2 (e.g. a cervix set with CIN2+ as the
    positive class): precision, recall and F1 are those of the positive
    class alone -- not a macro mean over both classes as
    ``SingleLabelMetric(average='macro')`` gives -- so F1 is the harmonic
    mean of the reported P and R. ROC-AUC ranks the samples by the
    positive-class score. All values are computed by scikit-learn
    (``precision_recall_fscore_support(average='binary')``,
    ``roc_auc_score``, ``accuracy_score``) and reported in percent.

    The prediction of a sample is the arg-max of its ``pred_score`` (as in
    mmpretrain's ``SingleLabelMetric``), so the model must output
    ``pred_score`` with 2 columns, and every sample needs a ``gt_label``.

    Output keys, with the default prefix ``binary``: ``binary/precision``,
    ``binary/recall``, ``binary/f1-score``, ``binary/roc_auc``,
    ``binary/accuracy``.

    Args:
        pos_label (int | str): The positive class: its index, or its name
            in ``dataset_meta['classes']`` (e.g. ``'CIN2+'``).
            Defaults to 1.
        zero_division (str | float): Precision (recall) when there is no
            predicted (true) positive, passed to scikit-learn: ``'warn'``
            gives 0 with a warning. Defaults to ``'warn'``.
        undefined (str): ROC-AUC when the evaluation split holds only one
            class: ``'nan'`` with a warning naming the class and the split
            (validation during training goes on), or ``'raise'`` a
            ValueError (a final test that must refuse, see
            :func:`~mixssl_mm.evaluation.metrics.utils.refuse_undefined`).
            Defaults to ``'nan'``.
        collect_device (str): ``'cpu'`` or ``'gpu'``, how results are
            gathered across ranks. Defaults to ``'cpu'``.
        prefix (str, optional): Key prefix. Defaults to ``'binary'``.

    Raises:
        ValueError: Scores without 2 columns, no ``pred_score``, a
            ``pos_label`` that is not a class, or (``undefined='raise'``) a
            single-class evaluation set.

    Examples:
        >>> val_evaluator = dict(type='PositiveClassMetric', pos_label='CIN2+')
    """
    default_prefix: Optional[str] = 'binary'

    def __init__(self,
                 pos_label: Union[int, str] = 1,
                 zero_division: Union[str, float] = 'warn',
                 undefined: str = 'nan',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        check_undefined_option('PositiveClassMetric', undefined)
        # fail at build time, not after a whole epoch
        sklearn_metrics('PositiveClassMetric')
        self.pos_label = pos_label
        self.zero_division = zero_division
        self.undefined = undefined

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep the ``(2, )`` score and the label of every sample.

        Args:
            data_batch: The dataloader batch (unused).
            data_samples (Sequence[dict | DataSample]): Model outputs.
        """
        self.results.extend(score_records(data_samples, 'PositiveClassMetric'))

    def positive_index(self) -> int:
        """The positive class as an index into the score columns."""
        classes = (self.dataset_meta or {}).get('classes')
        if isinstance(self.pos_label, str):
            if not classes or self.pos_label not in classes:
                raise ValueError(
                    f'PositiveClassMetric: pos_label {self.pos_label!r} is '
                    f'not a class name; the dataset has {classes}.')
            return list(classes).index(self.pos_label)
        if self.pos_label not in (0, 1):
            raise ValueError('PositiveClassMetric: pos_label must be 0, 1 or '
                             f'a class name, got {self.pos_label!r}.')
        return int(self.pos_label)

    def compute_metrics(self, results: List[dict]) -> dict:
        """Compute the five values (percent) from the collected results."""
        scores = torch.stack([r['pred_score'] for r in results]).double()
        target = torch.cat([r['gt_label'].flatten() for r in results]).numpy()
        if scores.ndim != 2 or scores.size(1) != 2:
            raise ValueError(
                'PositiveClassMetric is for binary tasks: pred_score must '
                f'have 2 columns, got shape {tuple(scores.shape)}. For more '
                'classes use SingleLabelMetric / PerClassAccuracy / ROCAUC.')
        pos = self.positive_index()
        classes = (self.dataset_meta or {}).get('classes')
        return self.calculate(scores.numpy(), target, pos, self.zero_division,
                              self.undefined, describe_split(results),
                              classes[pos] if classes else None)

    @staticmethod
    def calculate(scores: np.ndarray,
                  target: np.ndarray,
                  pos_label: int = 1,
                  zero_division: Union[str, float] = 'warn',
                  undefined: str = 'nan',
                  split: str = 'the evaluation split',
                  pos_name: Optional[str] = None) -> dict:
        """The metrics of ``(N, 2)`` scores and ``(N, )`` labels in 0/1
        (``split`` and ``pos_name``, the positive class's name, are used in
        messages).

        Returns:
            dict: ``precision``, ``recall``, ``f1-score``, ``roc_auc``,
            ``accuracy`` as floats in percent.
        """
        metrics = sklearn_metrics('PositiveClassMetric')
        if not np.isin(target, (0, 1)).all():
            raise ValueError('PositiveClassMetric: labels must be 0 or 1, got '
                             f'{sorted(set(np.unique(target).tolist()))}.')
        pred = scores.argmax(1)
        precision, recall, f1, _ = metrics.precision_recall_fscore_support(
            target,
            pred,
            pos_label=pos_label,
            average='binary',
            labels=[0, 1],
            zero_division=zero_division)
        positive = target == pos_label
        if positive.all() or not positive.any():
            # roc_auc_score would raise "Only one class present in y_true"
            report_undefined(
                'PositiveClassMetric',
                [(pos_name or f'{pos_label}',
                  'no negative samples (every sample belongs to it)'
                  if positive.all() else 'no positive samples')], split,
                undefined, 'ROC-AUC is undefined; the other values '
                'are reported.')
            auc = float('nan')
        else:
            auc = metrics.roc_auc_score(positive, scores[:, pos_label])
        return {
            'precision': 100.0 * precision,
            'recall': 100.0 * recall,
            'f1-score': 100.0 * f1,
            'roc_auc': 100.0 * auc,
            'accuracy': 100.0 * metrics.accuracy_score(target, pred),
        }
