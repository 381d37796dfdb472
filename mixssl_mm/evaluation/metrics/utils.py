# Copyright (c) mixssl_mm contributors. All rights reserved.
"""What the metrics share: class names from ``dataset_meta``, key-safe
names for metric keys, reading the data samples the Evaluator passes, and
what to do with a class whose metric is undefined on the evaluation split.
Registers nothing."""
import logging
import os.path as osp
import re
import warnings
from typing import List, Optional, Sequence, Tuple

from mmengine.logging import print_log
from mmengine.structures import BaseDataElement

#: What ``undefined`` accepts: report NaN with a warning, or refuse.
UNDEFINED_OPTIONS = ('nan', 'raise')

#: The metrics that take ``undefined`` (see :func:`refuse_undefined`).
UNDEFINED_AWARE = ('ROCAUC', 'PerClassAccuracy', 'PositiveClassMetric')


def sklearn_metrics(owner: str):
    """``sklearn.metrics``, or an ImportError saying how to install it.

    scikit-learn is an optional dependency of the package; the metrics call
    this in ``__init__`` so a missing install fails when the evaluator is
    built, not after a whole validation pass.
    """
    try:
        from sklearn import metrics
    except ImportError as e:
        raise ImportError(
            f'{owner} computes its values with scikit-learn; install it with '
            '`pip install scikit-learn`.') from e
    return metrics


def check_undefined_option(owner: str, undefined: str) -> None:
    """Refuse an ``undefined`` that is not ``'nan'`` or ``'raise'``."""
    if undefined not in UNDEFINED_OPTIONS:
        raise ValueError(f"{owner}: `undefined` must be 'raise' or 'nan', "
                         f'got {undefined!r}.')


def as_dict(data_sample) -> dict:
    """Accept both the dicts the ``Evaluator`` passes (it calls ``to_dict``)
    and raw ``DataSample`` objects, for callers that invoke ``process``
    directly."""
    if isinstance(data_sample, BaseDataElement):
        return data_sample.to_dict()
    return data_sample


def score_records(data_samples: Sequence, owner: str) -> List[dict]:
    """``dict(pred_score=..., gt_label=...)`` (CPU tensors) of every sample,
    for the metrics that rank samples by score, plus ``img_path`` when the
    sample has one (to name the split in messages, see
    :func:`describe_split`).

    Args:
        data_samples (Sequence[dict | DataSample]): Model outputs.
        owner (str): The metric's name, for the error message.

    Raises:
        ValueError: A sample without ``pred_score`` (hard labels give a
            single ROC point, not a curve).
    """
    records = []
    for sample in map(as_dict, data_samples):
        if 'pred_score' not in sample:
            raise ValueError(
                f'{owner} needs `pred_score` in the data samples (ROC-AUC '
                'ranks by score); the model only gave `pred_label`.')
        record = dict(
            pred_score=sample['pred_score'].cpu(),
            gt_label=sample['gt_label'].cpu())
        if 'img_path' in sample:
            record['img_path'] = sample['img_path']
        records.append(record)
    return records


def describe_split(results: Sequence[dict]) -> str:
    """How messages name the evaluation split of ``results``.

    A metric does not see its dataset, only the samples: when they carry
    ``img_path`` (image folders, annotation files), the split is named by
    the folder that holds all of its class folders, e.g. ``'the evaluation
    split (12 samples under data/x/val)'``; else by its size alone.
    """
    paths = [r['img_path'] for r in results if r.get('img_path')]
    where = ''
    if paths:
        # the parent of the class folders: <split>/<class>/<file>
        try:
            where = ' under ' + osp.commonpath(
                [osp.dirname(osp.dirname(p)) or '.' for p in paths])
        except ValueError:  # absolute and relative paths mixed
            where = ''
    return f'the evaluation split ({len(results)} samples{where})'


def report_undefined(owner: str,
                     problems: Sequence[Tuple[str, str]],
                     split: str,
                     undefined: str,
                     fix: str = '') -> None:
    """Warn about (``undefined='nan'``) or refuse (``'raise'``) classes
    whose metric is undefined on the evaluation split.

    The warning also goes to the current mmengine logger, so it lands in the
    run's log file next to the NaN it explains.

    Args:
        owner (str): The metric's name.
        problems (Sequence[tuple[str, str]]): ``(class name, what it lacks)``
            per undefined class, e.g. ``('platelet', 'no positive
            samples')``.
        split (str): The split's description (:func:`describe_split`).
        undefined (str): ``'nan'`` or ``'raise'``.
        fix (str): What the NaN means for the other values (appended to
            the warning).

    Raises:
        ValueError: ``undefined='raise'`` and ``problems`` is not empty.
    """
    if not problems:
        return
    what = '; '.join(f'class {name!r} has {reason}'
                     for name, reason in problems)
    its = 'its value is' if len(problems) == 1 else 'their values are'
    message = f'{owner}: {what} in {split}, so {its} undefined'
    if undefined == 'raise':
        raise ValueError(
            f'{message}. Evaluate on a split that holds every class, or set '
            f"undefined='nan' on {owner} to report NaN for it.")
    message = f'{message}; reporting NaN. {fix}'
    warnings.warn(message, UserWarning, stacklevel=3)
    print_log(message, logger='current', level=logging.WARNING)


def refuse_undefined(evaluator_cfg):
    """Set ``undefined='raise'`` on every metric of ``evaluator_cfg`` that
    takes it (:data:`UNDEFINED_AWARE`), for a final test that must refuse a
    split missing a class instead of reporting NaN.

    Validation during training keeps the default ``'nan'`` (a warning, the
    run goes on); a test entry point that is asked to be strict calls this
    on ``cfg.test_evaluator`` before building the Runner.

    Args:
        evaluator_cfg (dict | list[dict]): An evaluator config as in
            ``cfg.test_evaluator``: one metric dict, a list of them, or a
            dict with ``metrics``. Changed in place.

    Returns:
        The same config.
    """
    if isinstance(evaluator_cfg, dict) and 'metrics' in evaluator_cfg:
        refuse_undefined(evaluator_cfg['metrics'])
        return evaluator_cfg
    metrics = evaluator_cfg if isinstance(evaluator_cfg,
                                          (list, tuple)) else [evaluator_cfg]
    for metric in metrics:
        kind = str(metric.get('type', '')).split('.')[-1]
        if kind in UNDEFINED_AWARE:
            metric['undefined'] = 'raise'
    return evaluator_cfg


def dataset_class_names(
        dataset_meta: Optional[dict],
        num_classes: Optional[int],
        owner: str,
        counted: str = 'the predictions have {n}') -> List[str]:
    """Class names from ``dataset_meta['classes']``, else ``class_<i>``.

    Args:
        dataset_meta (dict, optional): The metric's ``dataset_meta`` (set by
            the ``Evaluator`` from the dataset).
        num_classes (int, optional): How many classes the predictions have;
            None when they do not tell (hard labels only).
        owner (str): The metric's name, for the error messages.
        counted (str): How the predictions' class count reads in the
            mismatch message, with ``{n}`` for the count.

    Returns:
        List[str]: One name per class, in label order.

    Raises:
        ValueError: ``dataset_meta`` names a different number of classes
            than ``num_classes``; or neither gives the classes.
    """
    classes = (dataset_meta or {}).get('classes')
    if classes is not None:
        if num_classes is not None and len(classes) != num_classes:
            raise ValueError(
                f'dataset_meta has {len(classes)} classes but '
                f'{counted.format(n=num_classes)}; check that the evaluator '
                'and the model use the same dataset.')
        return list(classes)
    if num_classes is None:
        raise ValueError(
            f'`num_classes` must be given to {owner} when the model outputs '
            "only `pred_label` and there is no dataset_meta['classes'].")
    return [f'class_{i}' for i in range(num_classes)]


def class_metric_keys(
    classes: Sequence[str], reserved: Sequence[str] = ()) -> List[str]:
    """Turn class names into metric-key-safe suffixes.

    Every run of characters outside ``[A-Za-z0-9_-]`` (spaces, ``/``,
    parentheses, commas...) becomes a single ``_`` and leading/trailing ``_``
    are stripped, e.g. ``'immature granulocyte'`` ->
    ``'immature_granulocyte'``.
    ``/`` must go because loggers/visualizers treat it as a group separator.
    Case is kept. A name that sanitizes to nothing becomes ``class_<i>``; a key
    that collides with an earlier one or with ``reserved`` gets ``_<i>``
    appended (``i`` = class index) so no metric silently overwrites another.

    Args:
        classes (Sequence[str]): Class names, in label order.
        reserved (Sequence[str]): Keys already used by the metric itself
            (e.g. ``'mean'``). Defaults to ``()``.

    Returns:
        List[str]: One key suffix per class.
    """
    keys: List[str] = []
    taken = set(reserved)
    for i, name in enumerate(classes):
        key = re.sub(r'[^0-9A-Za-z_-]+', '_', str(name)).strip('_')
        if not key:
            key = f'class_{i}'
        if key in taken:
            key = f'{key}_{i}'
        keys.append(key)
        taken.add(key)
    return keys
