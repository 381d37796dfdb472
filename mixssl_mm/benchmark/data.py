# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The benchmark's target data and task, read and checked before any stage
(docs/benchmark.md, "Your own data"): a MedMNIST ``.npz`` or split folders
of class folders (found as mmpretrain's ``CustomDataset`` finds them);
:func:`choose_task` refuses, naming what the data holds, a task that does
not match it or lacks train or test images.
"""
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmpretrain.datasets import ImageNet
from mmpretrain.datasets.custom import find_folders, get_samples

from mixssl_mm.datasets.medmnist import (BLOODMNIST_CATEGORIES,
                                         BLOODMNIST_PAPER_4, FETCH_HINT,
                                         SPLITS, medmnist_class_names,
                                         open_npz)

DEFAULT_DATA_ROOT = 'data/medmnist/'
DEFAULT_ANN_FILE = 'bloodmnist.npz'
# display names of the official MedMNIST 2D files, by file-name prefix
MEDMNIST_NAMES = ('PathMNIST', 'ChestMNIST', 'DermaMNIST', 'OCTMNIST',
                  'PneumoniaMNIST', 'RetinaMNIST', 'BreastMNIST', 'BloodMNIST',
                  'TissueMNIST', 'OrganAMNIST', 'OrganCMNIST', 'OrganSMNIST')
# split sub-folders of an image-folder dataset (any case: train/ or TRAIN/)
FOLDER_SPLITS = ('train', 'val', 'test')
# folder names too generic to name a dataset (Kaggle: .../dataset2-master/
# images/TRAIN): the parent names it then
_GENERIC_NAMES = {'images', 'image', 'imgs', 'data', 'dataset'}
# CustomDataset's default extensions
IMG_EXTENSIONS = ImageNet.IMG_EXTENSIONS


@dataclass
class Target:
    """What the target data holds: ``kind`` ``'npz'`` or ``'folder'``,
    display ``name``, ``path`` (folders absolute), every class (index =
    label id), split -> images per class; folders: split -> sub-folder and
    ``[(path in split folder, id)]``; ``layout`` for results.md."""
    kind: str
    name: str
    path: str
    classes: List[str]
    counts: Dict[str, List[int]]
    splits: Dict[str, str] = field(default_factory=dict)
    files: Dict[str, list] = field(default_factory=dict)
    layout: str = ''

    @property
    def is_bloodmnist(self) -> bool:
        """A file the ``MedMNIST`` dataset gives BloodMNIST's classes."""
        return self.kind == 'npz' and \
            tuple(self.classes) == BLOODMNIST_CATEGORIES

    def describe(self, ids: Optional[Sequence[int]] = None) -> str:
        """``'eosinophil (id 1; 1085 train, 624 test), …'`` for ``ids``
        (default: every class)."""
        ids = range(len(self.classes)) if ids is None else ids
        return ', '.join(
            f'{self.classes[i]} (id {i}; {self.counts["train"][i]} train, '
            f'{self.counts["test"][i]} test)' for i in ids)


@dataclass
class Task:
    """Target label ``ids`` in task order (task label ``j`` is
    ``target.classes[ids[j]]``), their names; ``paper``: BloodMNIST's
    4-class paper task or all 8, run on the shipped task configs."""
    ids: List[int]
    classes: List[str]
    paper: Optional[str] = None

    @property
    def num_classes(self) -> int:
        return len(self.ids)


def _npz_name(path: str) -> str:
    stem = osp.splitext(osp.basename(path))[0]
    for name in MEDMNIST_NAMES:
        if stem.lower().startswith(name.lower()):
            rest = stem[len(name):].strip('_-')
            return f'{name} ({rest} px)' if rest.isdigit() else \
                f'{name} {rest}'.strip()
    return stem


def read_npz(path: str) -> Target:
    """A MedMNIST ``.npz``'s classes and per-split class counts.

    Raises:
        SystemExit: no such file, no train/test arrays, multi-label.
    """
    if not osp.isfile(path):
        raise SystemExit(
            f'target data {path}: no such file. For BloodMNIST run '
            f'`{FETCH_HINT}`; give another MedMNIST file with --data-root / '
            '--ann-file, or an image folder with --data-root DIR (holding '
            'train/ and test/ class folders).')
    labels = {}
    try:
        npz = open_npz(path)
    except ValueError as e:
        raise SystemExit(f'target data {e}') from None
    with npz:
        need = ['train_images', 'train_labels', 'test_images', 'test_labels']
        missing = [k for k in need if k not in npz.files]
        if missing:
            raise SystemExit(
                f'{path} lacks {missing} (found {sorted(npz.files)}); the '
                'benchmark needs a MedMNIST-format file with train and test '
                'images and labels.')
        for split in [s for s in SPLITS if f'{s}_labels' in npz.files]:
            lab = np.asarray(npz[f'{split}_labels'])
            if lab.ndim == 2 and lab.shape[1] != 1:
                raise SystemExit(
                    f'{path}: {split}_labels has shape {lab.shape}, a '
                    'multi-label task; the benchmark needs one class per '
                    'image.')
            labels[split] = lab.reshape(-1).astype(np.int64)
    num = int(max(int(v.max()) for v in labels.values() if v.size)) + 1
    classes = list(medmnist_class_names(path, num))
    counts = {
        s: np.bincount(v, minlength=num).tolist()
        for s, v in labels.items()
    }
    return Target(
        'npz', _npz_name(path), path, classes, counts, layout='MedMNIST .npz')


def folder_splits(root: str) -> Dict[str, str]:
    """split -> sub-folder of ``root`` (``train`` / ``TRAIN``, any case)."""
    if not osp.isdir(root):
        return {}
    found = {}
    for entry in sorted(os.listdir(root)):
        if entry.lower() in FOLDER_SPLITS and osp.isdir(osp.join(root, entry)):
            found.setdefault(entry.lower(), entry)
    return found


def read_folder(root: str) -> Target:
    """Classes and images of split folders of class folders.

    Raises:
        SystemExit: no train/ or test/, splits with other classes than
            train's, fewer than 2 classes.
    """
    root = osp.abspath(root)
    splits = folder_splits(root)
    if 'train' not in splits or 'test' not in splits:
        raise SystemExit(
            f'{root} is no image-folder dataset the benchmark can read: it '
            'needs split folders of class folders, train/<class>/<images> and '
            'test/<class>/<images> (val/ optional), or the Kaggle layout '
            f'TRAIN/<CLASS>/, TEST/<CLASS>/; found {sorted(os.listdir(root))}'
            '. For a MedMNIST .npz give --ann-file.')
    classes, files, counts = None, {}, {}
    for split in [s for s in FOLDER_SPLITS if s in splits]:
        sdir = osp.join(root, splits[split])
        names = [c for c in find_folders(sdir)[0] if not c.startswith('.')]
        if classes is None and len(names) < 2:
            raise SystemExit(
                f'{sdir} holds {len(names)} class folder(s) {names}; a '
                'classification task needs at least 2.')
        classes = classes or names
        if names != classes:
            raise SystemExit(
                f'{sdir} holds the class folders {names}, {splits["train"]}/ '
                f'holds {classes}; every split needs the same class folders '
                f'(missing: {sorted(set(classes) - set(names))}, extra: '
                f'{sorted(set(names) - set(classes))}).')
        files[split], _ = get_samples(
            sdir, {
                c: i
                for i, c in enumerate(names)
            },
            is_valid_file=lambda f: f.lower().endswith(IMG_EXTENSIONS))
        counts[split] = np.bincount([i for _, i in files[split]],
                                    minlength=len(classes)).tolist()
    layout = ('Kaggle blood-cell layout (TRAIN/<CLASS>/, TEST/<CLASS>/)'
              if splits['train'] == 'TRAIN' else
              'ImageNet-style folders (train/<class>/, test/<class>/)')
    parts = [p for p in osp.normpath(root).split(os.sep) if p]
    name = next(
        (p for p in reversed(parts) if p.lower() not in _GENERIC_NAMES),
        parts[-1] if parts else root)
    return Target('folder', name, root, classes, counts, splits, files, layout)


def find_target(data_root: Optional[str], ann_file: Optional[str]) -> Target:
    """``--data-root`` / ``--ann-file``: an image folder when no
    ``ann_file`` is given and ``data_root`` holds sub-folders (and no
    ``bloodmnist.npz``), else a MedMNIST ``.npz``."""
    if data_root and not ann_file and osp.isdir(data_root) and (
            folder_splits(data_root)
            or not osp.isfile(osp.join(data_root, DEFAULT_ANN_FILE))
            and any(e.is_dir() for e in os.scandir(data_root))):
        return read_folder(data_root)  # refuses folders without splits
    ann = ann_file or DEFAULT_ANN_FILE
    path = ann if osp.isabs(ann) else osp.join(
        data_root if data_root is not None else DEFAULT_DATA_ROOT, ann)
    return read_npz(path)


def _class_id(target: Target, token: str) -> int:
    if token in target.classes:
        return target.classes.index(token)
    try:
        cid = int(token)
    except ValueError:
        cid = -1
    if not 0 <= cid < len(target.classes):
        raise SystemExit(
            f'--classes-subset {token}: no such class in {target.name}, '
            f'which holds {len(target.classes)} classes: '
            f'{target.describe()}. Give class names or ids.')
    return cid


def choose_task(target: Target,
                classes: Optional[str] = None,
                subset: Optional[Sequence[str]] = None,
                num_classes: Optional[int] = None) -> Task:
    """The task of ``--classes`` (BloodMNIST's 4 or 8), ``--classes-subset``
    (names or ids) and ``--num-classes`` (a check); default every class.

    Raises:
        SystemExit: classes the data does not hold, ``--classes`` off
            BloodMNIST or with ``--classes-subset``, fewer than 2, a class
            without train or test images.
    """
    if classes is not None and not target.is_bloodmnist:
        raise SystemExit(
            f'--classes {classes} picks a BloodMNIST task, but the data is '
            f'{target.name} with {len(target.classes)} classes: '
            f'{target.describe()}. Leave --classes out to use every class, '
            'or choose some with --classes-subset.')
    paper = None
    if subset is not None and classes is not None:
        raise SystemExit(
            f'--classes {classes} and --classes-subset {" ".join(subset)} '
            'both choose the classes; give one of them.')
    if subset is not None:
        ids = [_class_id(target, str(t)) for t in subset]
        if len(set(ids)) != len(ids):
            raise SystemExit(f'--classes-subset {" ".join(subset)} names a '
                             'class twice.')
    elif target.is_bloodmnist and classes == '4':
        ids, paper = list(BLOODMNIST_PAPER_4), '4'
    else:
        ids = list(range(len(target.classes)))
        paper = '8' if target.is_bloodmnist and (
            classes == '8' or num_classes is None) else None
    if num_classes is not None and num_classes != len(ids):
        what = 'the subset you chose' if subset is not None else target.name
        raise SystemExit(
            f'--num-classes {num_classes} does not match the data: '
            f'{what} has {len(ids)} classes: {target.describe(ids)}. Drop '
            '--num-classes (the classes are read off the data) or choose '
            'classes with --classes-subset.')
    if len(ids) < 2:
        raise SystemExit(f'the task needs at least 2 classes, got '
                         f'{target.describe(ids)}.')
    empty = [
        i for i in ids
        if not (target.counts['train'][i] and target.counts['test'][i])
    ]
    if empty:
        raise SystemExit(
            f'class(es) {[target.classes[i] for i in empty]} of {target.name} '
            'have no train or no test image, so they can be neither learnt '
            f'nor scored: {target.describe(empty)}. Leave them out with '
            f'--classes-subset (the data holds: {target.describe()}).')
    return Task(ids, [target.classes[i] for i in ids], paper)


def positive_index(task: Task, positive: Optional[str]) -> Optional[int]:
    """The task label of ``--positive-class`` (name or index; default 1);
    None for a task that is not binary.

    Raises:
        SystemExit: not binary, or no such class.
    """
    if task.num_classes != 2:
        if positive is not None:
            raise SystemExit(
                f'--positive-class {positive}: the task has '
                f'{task.num_classes} classes {task.classes}; a positive class '
                'belongs to a binary task (2 classes).')
        return None
    if positive is None:
        return 1
    if positive in task.classes:
        return task.classes.index(positive)
    if positive in ('0', '1'):
        return int(positive)
    raise SystemExit(f'--positive-class {positive}: the task\'s classes are '
                     f'0 = {task.classes[0]}, 1 = {task.classes[1]}; give a '
                     'name or an index.')


@dataclass
class AuxFolder:
    """An ``--aux-root`` folder (absolute), its images (any depth) and its
    class sub-folders when ``CrossDomainMixup`` labels it by them."""
    root: str
    num_images: int
    classes: Optional[List[str]]


def read_aux(root: str) -> AuxFolder:
    """Raises:
        SystemExit: no such folder, or no image in it.
    """
    from mixssl_mm.datasets.transforms.cross_domain_mixup import \
        _has_class_folders
    root = osp.abspath(root)
    if not osp.isdir(root):
        raise SystemExit(f'--aux-root {root}: no such folder.')
    n = sum(f.lower().endswith(IMG_EXTENSIONS) for _, _, fs in os.walk(root)
            for f in fs)
    if not n:
        raise SystemExit(
            f'--aux-root {root} holds no image ({", ".join(IMG_EXTENSIONS)}); '
            "give a folder of natural images, e.g. Imagenette's train/.")
    classes = find_folders(root)[0] if _has_class_folders(root) else None
    return AuxFolder(root, n, classes)
