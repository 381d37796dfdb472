"""Per-class accuracy (the layout of the paper's Table 1).

Top-1 accuracy and macro precision / recall / F1 are already provided by
mmpretrain (``Accuracy`` and ``SingleLabelMetric``); this metric adds the
one-column-per-class breakdown that those only give as an unnamed list.
"""
import warnings
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from mmpretrain.registry import METRICS
from .utils import (as_dict, class_metric_keys, dataset_class_names,
                    to_tensor)

@METRICS.register_module()
class PerClassAccuracy(BaseMetric):
    r"""Accuracy of every class, plus its mean over classes.

    The accuracy of class :math:`c` is the fraction of the samples whose
    ground truth is :math:`c` that are predicted as :math:`c` (i.e. the recall
    of class :math:`c`):

    .. math::

        \text{Acc}_c = \frac{|\{i: \hat{y}_i = c, y_i = c\}|}{|\{i: y_i = c\}|}

    The prediction is the arg-max of ``pred_score`` (ties go to the lowest
    class index), or ``pred_label`` when the model gives no score.

    Output keys (with the default prefix ``per_class_accuracy``):

    - ``per_class_accuracy/<class>``: one per class. ``<class>`` comes from
      ``dataset_meta['classes']`` (set by the ``Evaluator``), made key-safe by
      :func:`class_metric_keys` (``'immature granulocyte'`` ->
      ``'immature_granulocyte'``); without ``dataset_meta`` it is
      ``class_<i>``.
    - ``per_class_accuracy/mean``: the unweighted mean over classes
      (balanced accuracy).

    A class with no sample in the evaluation set has an undefined accuracy:
    it is reported as NaN, a ``UserWarning`` naming it is issued, and
    ``mean`` is taken over the remaining classes only. This differs on
    purpose from mmpretrain's ``SingleLabelMetric`` macro recall, which counts
    such a class as 0 and so drags the mean down for a reason unrelated to
    the model.

    All values are percentages (0-100), like mmpretrain's ``Accuracy``.

    Args:
        num_classes (int, optional): The number of classes. Only needed when
            the data samples carry ``pred_label`` but no ``pred_score`` and no
            ``dataset_meta['classes']`` is given. Defaults to None.
        collect_device (str): Device name used for collecting results from
            different ranks during distributed training. Must be 'cpu' or
            'gpu'. Defaults to 'cpu'.
        prefix (str, optional): The prefix that will be added in the metric
            names to disambiguate homonymous metrics of different evaluators.
            If not given, ``default_prefix`` (``'per_class_accuracy'``) is
            used. Defaults to None.

    Examples:
        >>> PerClassAccuracy.calculate([0, 1, 1, 2], [0, 1, 2, 2],
        ...                            num_classes=4)
        tensor([100., 100.,  50.,  nan], dtype=torch.float64)
    """
    default_prefix: Optional[str] = 'per_class_accuracy'

    def __init__(self,
                 num_classes: Optional[int] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_classes = num_classes

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each sample's ``pred_score`` (else ``pred_label``) and
        ``gt_label`` on the CPU (``data_batch`` is unused; ``data_samples``
        are dicts or ``DataSample`` s)."""
        for data_sample in map(as_dict, data_samples):
            result = dict()
            if 'pred_score' in data_sample:
                result['pred_score'] = data_sample['pred_score'].cpu()
            else:
                result['pred_label'] = data_sample['pred_label'].cpu()
            result['gt_label'] = data_sample['gt_label'].cpu()
            self.results.append(result)

    def compute_metrics(self, results: List) -> dict:
        """Compute the per-class accuracies from the collected results.

        Args:
            results (list): The processed results of every batch.

        Returns:
            dict: ``{<class key>: acc, ..., 'mean': acc}`` as floats
            (percent; NaN for classes without samples).
        """
        target = torch.cat([res['gt_label'] for res in results])
        if 'pred_score' in results[0]:
            pred = torch.stack([res['pred_score'] for res in results])
            num_classes = pred.size(1)
        else:
            pred = torch.cat([res['pred_label'] for res in results])
            num_classes = self.num_classes
            if num_classes is None and self.dataset_meta:
                classes = self.dataset_meta.get('classes')
                num_classes = None if classes is None else len(classes)
        names = dataset_class_names(self.dataset_meta, num_classes,
                                    'PerClassAccuracy')

        acc = self.calculate(pred, target, num_classes=len(names))
        missing = [names[i] for i in torch.nonzero(acc.isnan()).flatten()]
        if missing:
            # Not an error: a small or filtered test split may lack a class,
            # and the other columns of the table are still meaningful.
            warnings.warn(
                f'PerClassAccuracy: no evaluation sample of class(es) '
                f'{missing}; their accuracy is reported as NaN and '
                '`mean` is taken over the remaining classes.')

        keys = class_metric_keys(names, reserved=('mean', ))
        metrics = {k: float(v) for k, v in zip(keys, acc.tolist())}
        metrics['mean'] = float(torch.nanmean(acc))
        return metrics

    @staticmethod
    def calculate(pred: Union[torch.Tensor, np.ndarray, Sequence],
                  target: Union[torch.Tensor, np.ndarray, Sequence],
                  num_classes: Optional[int] = None) -> torch.Tensor:
        """Calculate the accuracy of every class.

        Args:
            pred (torch.Tensor | np.ndarray | Sequence): Predicted labels
                ``(N, )`` or scores of every class ``(N, C)``.
            target (torch.Tensor | np.ndarray | Sequence): Ground-truth
                labels ``(N, )``.
            num_classes (int, optional): The number of classes. Defaults to
                ``C`` for scores, and to ``max(pred, target) + 1`` for labels
                (pass it explicitly so that absent trailing classes still get
                a NaN column).

        Returns:
            torch.Tensor: ``(num_classes, )`` float64 accuracies in percent;
            NaN for classes with no sample in ``target``.
        """
        pred = to_tensor(pred)
        target = to_tensor(target).to(torch.int64).flatten()
        assert pred.size(0) == target.size(0), \
            f"The size of pred ({pred.size(0)}) doesn't match " \
            f'the target ({target.size(0)}).'

        if pred.ndim == 2:
            if num_classes is None:
                num_classes = pred.size(1)
            # argmax returns the first maximal index, so ties are
            # deterministic.
            pred_label = pred.argmax(dim=1)
        else:
            pred_label = pred.to(torch.int64)
            if num_classes is None:
                num_classes = int(max(pred_label.max(), target.max())) + 1

        if target.numel() and (target.min() < 0
                               or target.max() >= num_classes):
            raise ValueError(
                f'gt labels must lie in [0, {num_classes}), got '
                f'[{int(target.min())}, {int(target.max())}].')
        support = torch.bincount(target, minlength=num_classes)
        correct = torch.bincount(
            target[pred_label == target], minlength=num_classes)
        # 0/0 -> NaN marks a class that is absent from the evaluation set.
        return correct.double() / support.double() * 100
