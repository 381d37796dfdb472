# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Per-class accuracy (the layout of the paper's Table 1).

Top-1 accuracy and macro precision / recall / F1 are already provided by
mmpretrain (``Accuracy`` and ``SingleLabelMetric``); this metric adds the
one-column-per-class breakdown that those only give as an unnamed list.
"""
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmpretrain.evaluation.metrics.single_label import to_tensor
from mmpretrain.registry import METRICS

from .utils import (as_dict, check_undefined_option, class_metric_keys,
                    dataset_class_names, describe_split, report_undefined,
                    sklearn_metrics)


@METRICS.register_module()
class PerClassAccuracy(BaseMetric):
    r"""Accuracy of every class, plus its mean over classes.

    The accuracy of class :math:`c` is the fraction of the samples whose
    ground truth is :math:`c` that are predicted as :math:`c`, i.e. the
    recall of class :math:`c`, computed by scikit-learn's
    ``recall_score(average=None)``:

    .. math::

        \text{Acc}_c = \frac{|\{i: \hat{y}_i = c, y_i = c\}|}
                             {|\{i: y_i = c\}|}

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

    **Undefined classes.** A class with no sample in the evaluation split
    (e.g. an empty class folder) has an undefined accuracy. By default
    (``undefined='nan'``) it is reported as NaN with a ``UserWarning`` (also
    written to the run's log) naming the class and the split, and ``mean``
    is taken over the remaining classes only: validation during training
    goes on. ``undefined='raise'`` refuses with a ``ValueError`` instead
    (for a final test, see
    :func:`~mixssl_mm.evaluation.metrics.utils.refuse_undefined`). This
    differs on purpose from mmpretrain's ``SingleLabelMetric`` (``average=
    None``), whose recall counts such a class as 0 and so drags the mean
    down for a reason unrelated to the model.

    All values are percentages (0-100), like mmpretrain's ``Accuracy``.

    Args:
        num_classes (int, optional): The number of classes. Only needed when
            the data samples carry ``pred_label`` but no ``pred_score`` and no
            ``dataset_meta['classes']`` is given. Defaults to None.
        undefined (str): ``'nan'`` or ``'raise'``; what to do with a class
            without samples. Defaults to ``'nan'``.
        collect_device (str): Device name used for collecting results from
            different ranks during distributed training. Must be 'cpu' or
            'gpu'. Defaults to 'cpu'.
        prefix (str, optional): The prefix that will be added in the metric
            names to disambiguate homonymous metrics of different evaluators.
            If not given, ``default_prefix`` (``'per_class_accuracy'``) is
            used. Defaults to None.

    Raises:
        ImportError: scikit-learn is not installed (when built).
        ValueError: A bad ``undefined``; ``dataset_meta`` naming another
            number of classes than the scores; a class without samples with
            ``undefined='raise'``.

    Examples:
        >>> PerClassAccuracy.calculate([0, 1, 1, 2], [0, 1, 2, 2],
        ...                            num_classes=4)
        tensor([100., 100.,  50.,  nan], dtype=torch.float64)
    """
    default_prefix: Optional[str] = 'per_class_accuracy'

    def __init__(self,
                 num_classes: Optional[int] = None,
                 undefined: str = 'nan',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        check_undefined_option('PerClassAccuracy', undefined)
        sklearn_metrics('PerClassAccuracy')  # fail when built
        self.num_classes = num_classes
        self.undefined = undefined

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each sample's ``pred_score`` (else ``pred_label``),
        ``gt_label`` and ``img_path`` if any, on the CPU (``data_batch`` is
        unused; ``data_samples`` are dicts or ``DataSample`` s)."""
        for data_sample in map(as_dict, data_samples):
            result = dict()
            if 'pred_score' in data_sample:
                result['pred_score'] = data_sample['pred_score'].cpu()
            else:
                result['pred_label'] = data_sample['pred_label'].cpu()
            result['gt_label'] = data_sample['gt_label'].cpu()
            if 'img_path' in data_sample:  # names the split in warnings
                result['img_path'] = data_sample['img_path']
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
        # Not an error by default: a small or filtered split may lack a
        # class, and the other columns of the table are still meaningful.
        report_undefined(
            'PerClassAccuracy',
            [(names[i], 'no samples')
             for i in torch.nonzero(acc.isnan()).flatten().tolist()],
            describe_split(results), self.undefined,
            '`mean` is taken over the remaining classes.')

        keys = class_metric_keys(names, reserved=('mean', ))
        metrics = {k: float(v) for k, v in zip(keys, acc.tolist())}
        metrics['mean'] = float(torch.nanmean(acc))
        return metrics

    @staticmethod
    def calculate(pred: Union[torch.Tensor, np.ndarray, Sequence],
                  target: Union[torch.Tensor, np.ndarray, Sequence],
                  num_classes: Optional[int] = None) -> torch.Tensor:
        """Calculate the accuracy of every class: scikit-learn's per-class
        recall (``recall_score(average=None, zero_division=nan)``).

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

        Raises:
            ValueError: ``pred`` and ``target`` of different lengths, or a
                label outside ``[0, num_classes)``.
        """
        metrics = sklearn_metrics('PerClassAccuracy')
        pred = to_tensor(pred)
        target = to_tensor(target).to(torch.int64).flatten()
        if pred.size(0) != target.size(0):
            raise ValueError(
                f'PerClassAccuracy: the size of pred ({pred.size(0)}) '
                f"doesn't match the target ({target.size(0)}).")

        if pred.ndim == 2:
            if num_classes is None:
                num_classes = pred.size(1)
            # argmax returns the first maximal index, so ties are
            # deterministic (mmpretrain's topk does not promise that).
            pred_label = pred.argmax(dim=1)
        else:
            pred_label = pred.to(torch.int64)
            if num_classes is None:
                num_classes = int(max(pred_label.max(), target.max())) + 1

        if target.numel() and (target.min() < 0
                               or target.max() >= num_classes):
            raise ValueError(f'gt labels must lie in [0, {num_classes}), got '
                             f'[{int(target.min())}, {int(target.max())}].')
        # zero_division=nan: 0/0 marks a class absent from the split
        recall = metrics.recall_score(
            target.numpy(),
            pred_label.numpy(),
            labels=range(num_classes),
            average=None,
            zero_division=np.nan)
        return torch.from_numpy(recall).double() * 100
