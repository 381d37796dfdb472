# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Pre-flight check of the classes of the evaluation splits (and of the
training split of a classifier) against the model's ``num_classes`` and the
training classes, before any work.

mmpretrain's ``CustomDataset`` takes its classes from the split's class
folders, in sorted order, so a class folder missing from a test split shifts
every later label id: mmpretrain's metrics then score against wrong ids and
exit 0, and a metric that checks the shapes fails only after the whole test
pass (``dataset_meta has 2 classes but the predictions have 3``). Refused
here, naming the missing / extra folders and the fix. A class with a folder
but no sample is not refused: its per-class metrics are undefined (NaN, with
a warning, in ``mixssl_mm.evaluation``); it is named on the console.
"""
from typing import List, Optional, Sequence

import numpy as np

from .config import config_dicts
from .dataset_errors import build_dataset
from .error import ConfigError

__all__ = [
    'model_num_classes', 'dataset_classes', 'check_split_classes',
    'check_eval_classes'
]


def model_num_classes(cfg) -> Optional[int]:
    """``num_classes`` of the model's head (else of any part of the model,
    e.g. its data preprocessor); None for a model without classes (a
    self-supervised algorithm)."""
    model = cfg.get('model')
    if not isinstance(model, dict) or not _is_classifier(model, cfg):
        return None
    head = model.get('head')
    if isinstance(head, dict) and isinstance(head.get('num_classes'), int):
        return head['num_classes']
    for _, d in config_dicts(model, 'model'):
        if isinstance(d.get('num_classes'), int):
            return d['num_classes']
    return None


def _is_classifier(model: dict, cfg) -> bool:
    """Whether ``model`` builds one of mmpretrain's classifiers, whose
    ``num_classes`` are the dataset's classes (a self-supervised head's are
    not: Rotation's 4 angles, MixSSLAux's auxiliary photos)."""
    from mmengine.registry import DefaultScope
    from mmpretrain.models import BaseClassifier
    from mmpretrain.registry import MODELS
    kind = model.get('type')
    if not isinstance(kind, str):
        return isinstance(kind, type) and issubclass(kind, BaseClassifier)
    scope = cfg.get('default_scope', 'mmpretrain')
    with DefaultScope.overwrite_default_scope(scope):
        cls = MODELS.get(kind)
    return isinstance(cls, type) and issubclass(cls, BaseClassifier)


def dataset_classes(dataset) -> Optional[List[str]]:
    """The class names of a built dataset (None without)."""
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    return None if classes is None else [str(c) for c in classes]


def _folder(dataset) -> str:
    prefix = getattr(dataset, 'img_prefix', None) or getattr(
        dataset, 'data_root', None)
    return f' ({prefix})' if prefix else ''


def _empty_classes(dataset, classes: Sequence[str]) -> List[str]:
    try:
        labels = np.asarray(dataset.get_gt_labels()).reshape(-1)
    except Exception:  # noqa: B902  a dataset without labels
        return []
    counts = np.bincount(
        labels[labels >= 0].astype(int), minlength=len(classes))
    return [c for c, n in zip(classes, counts) if n == 0]


def check_split_classes(dataset,
                        key: str,
                        num_classes: Optional[int],
                        train_classes: Optional[Sequence[str]] = None,
                        report=print,
                        evaluated: bool = True) -> None:
    """Refuse a split of ``dataset`` (config ``key``) whose classes are not
    the training classes (names and order) or not ``num_classes`` many;
    for a split that is ``evaluated``, name the classes without a sample
    (``report``; their per-class metrics are NaN).

    Raises:
        ConfigError: naming the missing / extra class folders and the fix.
    """
    classes = dataset_classes(dataset)
    if classes is None:
        return
    where = f'{key}{_folder(dataset)}'
    if train_classes is not None and list(train_classes) != classes:
        missing = [c for c in train_classes if c not in classes]
        extra = [c for c in classes if c not in train_classes]
        lines = ''.join([
            f'\n  missing (training classes without a folder here): '
            f'{", ".join(missing)}' if missing else '',
            f'\n  extra (folders here the training split has not): '
            f'{", ".join(extra)}' if extra else '', '' if missing or extra else
            f'\n  the same names in another order: {", ".join(classes)} '
            f'vs the training {", ".join(train_classes)}'
        ])
        raise ConfigError(
            f'{where} has the classes {", ".join(classes)}, not the training '
            f'classes {", ".join(train_classes)}:{lines}\nLabel ids follow '
            'the class list, so the model\'s outputs would be scored against '
            'the wrong classes. ' +
            ('Create the missing class folder(s) in the split (an empty '
             'folder keeps the label ids; its per-class metrics are then '
             'undefined)' if missing else '') +
            (' and ' if missing and extra else '') +
            ('remove or rename the extra folder(s)' if extra else '') +
            ('' if missing or extra else 'Give the split the training '
             "split's classes") + f', or set {key}.classes to the training '
            'classes.')
    if num_classes is not None and len(classes) != num_classes:
        raise ConfigError(
            f'{where} has {len(classes)} classes ({", ".join(classes)}) but '
            f'the model\'s head has num_classes={num_classes}. Give the '
            f'split one folder per class of the model ({num_classes}), or '
            f'set model.head.num_classes={len(classes)} (and train the '
            'model for that many classes).')
    empty = _empty_classes(dataset, classes) if evaluated else []
    if empty:
        report(f'WARNING: {where}: no sample of the class(es) '
               f'{", ".join(empty)}; their per-class metrics are undefined '
               '(NaN) in this evaluation.')


def _has_parts(cfg, prefix: str) -> bool:
    return all(
        cfg.get(f'{prefix}_{part}') is not None
        for part in ('dataloader', 'evaluator', 'cfg'))


def check_eval_classes(cfg,
                       tool: str = 'train',
                       train_dataset=None,
                       report=print) -> dict:
    """Check the classes of the splits the run evaluates: the
    ``val_dataloader`` of a training run that validates and its training
    split (``train_dataset``, built by the pre-flight), or the
    ``test_dataloader`` of ``tools/test.py`` (against the training split of
    the config when it can be built here), with
    :func:`check_split_classes`.

    Returns:
        ``{key: built dataset}`` of the evaluation splits checked.

    Raises:
        ConfigError: see :func:`check_split_classes`; a dataset error of a
            known cause (:mod:`.dataset_errors`).
    """
    num_classes = model_num_classes(cfg)
    scope = cfg.get('default_scope', 'mmpretrain')
    train_classes = None
    if train_dataset is not None:
        check_split_classes(
            train_dataset,
            'train_dataloader.dataset',
            num_classes,
            report=report,
            evaluated=False)
        train_classes = dataset_classes(train_dataset)
    split = 'val' if tool == 'train' else 'test'
    loader = cfg.get(f'{split}_dataloader')
    if not _has_parts(cfg, split) or not isinstance(loader, dict) or \
            not isinstance(loader.get('dataset'), dict):
        return {}
    if tool == 'test' and isinstance(cfg.get('train_dataloader'), dict) \
            and isinstance(cfg.train_dataloader.get('dataset'), dict):
        try:  # the training data may not be on this machine
            train_classes = dataset_classes(
                build_dataset(cfg.train_dataloader.dataset,
                              'train_dataloader.dataset', scope))
        except Exception:  # noqa: B902
            train_classes = None
    key = f'{split}_dataloader.dataset'
    dataset = build_dataset(loader['dataset'], key, scope)
    check_split_classes(dataset, key, num_classes, train_classes, report)
    return {key: dataset}
