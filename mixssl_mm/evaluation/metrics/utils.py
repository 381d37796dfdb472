# Copyright (c) mixssl_mm contributors. All rights reserved.
"""What the metrics share: class names from ``dataset_meta``, key-safe
names for metric keys, and reading the data samples the Evaluator passes.
Registers nothing."""
import re
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.structures import BaseDataElement


def to_tensor(value) -> torch.Tensor:
    """Convert an array / sequence / tensor to a ``torch.Tensor``.

    Raises:
        TypeError: Anything else (e.g. a string).
    """
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return torch.tensor(value)
    raise TypeError(f'{type(value)} is not an available argument.')


def as_dict(data_sample) -> dict:
    """Accept both the dicts the ``Evaluator`` passes (it calls ``to_dict``)
    and raw ``DataSample`` objects, for callers that invoke ``process``
    directly."""
    if isinstance(data_sample, BaseDataElement):
        return data_sample.to_dict()
    return data_sample


def score_records(data_samples: Sequence, owner: str) -> List[dict]:
    """``dict(pred_score=..., gt_label=...)`` (CPU tensors) of every sample,
    for the metrics that rank samples by score.

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
        records.append(
            dict(pred_score=sample['pred_score'].cpu(),
                 gt_label=sample['gt_label'].cpu()))
    return records


def dataset_class_names(dataset_meta: Optional[dict],
                        num_classes: Optional[int],
                        owner: str,
                        counted: str = 'the predictions have {n}'
                        ) -> List[str]:
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


def class_metric_keys(classes: Sequence[str],
                      reserved: Sequence[str] = ()) -> List[str]:
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
