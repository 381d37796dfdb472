# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Building a dataset config with mmpretrain/mmengine's errors of a known
cause re-raised as a :class:`ConfigError` naming the cause and the fix.

The one home of these explanations: the entry points build every dataset
config through :func:`build_dataset` (train, val and test dataloaders), and
``CrossDomainMixup`` explains the errors of its ``aux_dataset`` with
:func:`explain_dataset_error`. The catalogue (docs/reliability.md, "Dataset
errors with a known cause"):

- an annotation file that lists paths without labels, read with
  ``with_label=True`` (mmpretrain's default): ``ValueError: not enough values
  to unpack (expected 2, got 1)`` -> set ``with_label=False``;
- a key the dataset or one of its transforms does not take
  (``class_subset``): ``TypeError: ... unexpected keyword argument`` -> the
  key's place and the closest key of the class's ``__init__`` (and its
  bases', e.g. mmengine's ``BaseDataset``);
- a dataset or transform type that is not registered -> the closest
  registered names and the ``custom_imports`` line;

  both by :mod:`.component_errors`, which the entry points also use for
  every other component (model, hooks, optimizer, metrics);
- ``classes`` given for a split with another number of class folders;
- a missing ``data_root`` / ``ann_file`` / image folder, and a folder with
  no image of a supported extension -> which key to point where.
"""
import copy
import re
from typing import Optional

from .component_errors import explain_component_error
from .error import ConfigError

__all__ = ['explain_dataset_error', 'build_dataset']

_UNPACK = re.compile(r'not enough values to unpack \(expected 2, got 1\)')
_FOUND_NONE = 'Found 0 files in subfolders of'
_FOLDER_COUNT = re.compile(r"number of subfolders \((\d+)\) doesn't match "
                           r'the number of specified classes \((\d+)\)')


def explain_dataset_error(ds_cfg: dict,
                          error: BaseException,
                          key: str,
                          cfg_options: bool = True) -> Optional[ConfigError]:
    """A :class:`ConfigError` naming the cause and the fix of ``error``,
    raised while building the dataset config ``ds_cfg`` (``key``: where it
    is in the config, e.g. ``'train_dataloader.dataset'``); None when the
    cause is not one of the known ones. ``cfg_options=False`` leaves out the
    ``--cfg-options`` form of the fix, for a ``key`` that is no path from
    the config's root (a transform's ``aux_dataset``).

    Use as ``raise explain_dataset_error(...) or error`` (``from error``).
    """
    if not isinstance(ds_cfg, dict):
        return None
    text = str(error)
    kind = ds_cfg.get('type')
    name = kind if isinstance(kind, str) else getattr(kind, '__name__', kind)
    where = f'{key} (type={name!r})'

    def option(setting: str) -> str:
        return f' (--cfg-options {key}.{setting})' if cfg_options else ''

    # a key or a type of the dataset or one of its transforms
    explained = explain_component_error(ds_cfg, error, key)
    if explained is not None:
        return explained
    if isinstance(error, ValueError) and _UNPACK.search(text) and \
            ds_cfg.get('ann_file') and ds_cfg.get('with_label', True):
        return ConfigError(
            f'{where}: the annotation file {ds_cfg["ann_file"]!r} lists image '
            'paths without labels, but the dataset reads it with '
            'with_label=True (mmpretrain\'s default), which expects '
            "'<path> <label>' on every line (ValueError: {text}). For "
            f'unlabelled images (self-supervised pretraining) set {key}.'
            f'with_label=False{option("with_label=False")}; otherwise add '
            'each image\'s label after its path.'.replace('{text}', text))
    found = _FOLDER_COUNT.search(text)
    if isinstance(error, AssertionError) and found:
        return ConfigError(
            f'{where}: {key}.classes (or metainfo.classes) names '
            f'{found.group(2)} classes, but the split has {found.group(1)} '
            'class folders; mmpretrain maps the folders in sorted order to '
            'the classes, so they must be the same. Create the missing class '
            'folder(s) (an empty one keeps the label ids) or remove the '
            'extra one(s).')
    if isinstance(error, FileNotFoundError):
        missing = getattr(error, 'filename', None) or text
        return ConfigError(
            f'{where}: {missing} does not exist ({type(error).__name__}: '
            f'{text}). Point {key}.data_root (and {key}.ann_file / '
            f'{key}.data_prefix, relative to it) at the data'
            f'{option("data_root=PATH")}.')
    if isinstance(error, RuntimeError) and _FOUND_NONE in text:
        return ConfigError(
            f'{where}: no image file of a supported extension in the class '
            f'folders ({text}). Point {key}.data_root at a folder with one '
            'sub-folder of images per class, or at a flat folder of images '
            f'with {key}.with_label=False (unlabelled), or give '
            f'{key}.ann_file.')
    return None


def build_dataset(ds_cfg: dict,
                  key: str,
                  default_scope: Optional[str] = 'mmpretrain'):
    """Build (and ``full_init``) the dataset config ``ds_cfg`` as the Runner
    would, in ``default_scope``.

    Raises:
        ConfigError: an error of a known cause (:func:`explain_dataset_error`)
            with its fix; other errors as they are.
    """
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import DATASETS
    try:
        with DefaultScope.overwrite_default_scope(default_scope):
            dataset = DATASETS.build(copy.deepcopy(ds_cfg))
            if hasattr(dataset, 'full_init'):
                dataset.full_init()
    except ConfigError:
        raise
    except Exception as e:  # noqa: B902  explained when the cause is known
        explained = explain_dataset_error(ds_cfg, e, key)
        if explained is None:
            raise
        raise explained from e
    return dataset
