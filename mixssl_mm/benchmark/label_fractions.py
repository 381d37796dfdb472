# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The label-fraction protocol: fine-tune on a stratified 1 % / 10 % / ...
of the training labels (the semi-supervised protocol of SimCLR and BYOL).

- **The pool** is what the full fine-tune trains on: the train split after
  the class filter, cut to the preset's ``train_subset`` (the first N
  images) or to a ``train_dataloader.dataset.indices`` given in
  ``--downstream-cfg-options``.
- **The subset** of fraction ``f`` draws ``round(f · pool)`` images (at
  least one per class) stratified by class with scikit-learn's
  ``train_test_split(stratify=labels, random_state=seed)``, i.e. its
  ``StratifiedShuffleSplit``: per class ``f · count`` rounded. A class
  with a single image in the pool is always kept; a class the split left
  empty gets one image (drawn with the same seed). It depends only on the
  pool's labels, ``f`` and the seed, so it is fixed per seed and the same
  for every method.
- **Passing it to the stage**: positions in the dataset's ``data_list``
  (mmengine ``BaseDataset(indices=[...])``, which every dataset type has,
  MedMNIST files and image folders alike) written into a generated wrapper
  config (``<work_dir>/generated/configs/finetune_<p>pct_seed<S>-<hash>.py``;
  a list on the command line would hit the 128 KiB limit of one argument
  on large data sets) and, for the record, into
  ``<work_dir>/label_fractions/seed<S>_<p>pct.json`` (fraction, seed, the
  indices, per-class counts, their SHA-256).
- **The budget**: every fraction gets the full fine-tune's number of
  optimizer steps (its epochs scaled by the batches per epoch), so a
  smaller label set is seen more often, not trained less.
"""
import hashlib
import json
import math
import os
import os.path as osp
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from .protocols import fraction_protocol, percent


def check_fractions(fractions: Sequence[float]) -> List[float]:
    """The fractions, sorted and distinct.

    Raises:
        SystemExit: a fraction outside ``(0, 1]``.
    """
    bad = [f for f in fractions if not 0.0 < f <= 1.0]
    if bad:
        raise SystemExit(f'--label-fractions must lie in (0, 1], got {bad} '
                         '(0.01 = 1 % of the training labels).')
    return sorted(set(float(f) for f in fractions))


def pool_positions(num_images: int, indices=None) -> np.ndarray:
    """Positions of the full fine-tune's images in a ``data_list`` of
    ``num_images``: all, the first ``indices`` (an int) or ``indices`` (a
    sequence), as mmengine's ``BaseDataset(indices=...)`` reads them."""
    if indices is None:
        return np.arange(num_images)
    if isinstance(indices, int):
        return np.arange(min(indices, num_images))
    return np.asarray(list(indices), dtype=np.int64)


def stratified_subset(labels: np.ndarray,
                      fraction: float,
                      seed: int,
                      pool: Optional[np.ndarray] = None) -> np.ndarray:
    """Sorted positions of a class-stratified ``fraction`` of ``pool``
    (default: every position of ``labels``), at least one per class.

    Args:
        labels: the class of every ``data_list`` entry.
        fraction: in ``(0, 1]``; 1 returns the whole pool.
        seed: the draw's seed (``random_state`` of scikit-learn).
        pool: the positions to draw from.

    Raises:
        ImportError: scikit-learn is not installed.
    """
    from sklearn.model_selection import train_test_split
    pool = np.arange(len(labels)) if pool is None else np.asarray(pool)
    y = np.asarray(labels)[pool]
    classes, counts = np.unique(y, return_counts=True)
    n = max(len(classes), int(round(fraction * len(pool))))
    if n >= len(pool):
        return np.sort(pool)
    single = np.isin(y, classes[counts < 2])  # sklearn needs 2 per class
    rest, y_rest = pool[~single], y[~single]
    take = n - int(single.sum())
    n_rest_classes = len(np.unique(y_rest))
    if take >= len(rest) - n_rest_classes:  # (almost) everything
        chosen = rest
    elif take <= 0:
        chosen = rest[:0]
    else:
        chosen, _ = train_test_split(
            rest,
            train_size=max(take, n_rest_classes),
            stratify=y_rest,
            random_state=seed)
    chosen = np.concatenate([pool[single], chosen])
    rng = np.random.default_rng(seed)
    for c in classes:  # a class the split left empty gets one image
        if not (np.asarray(labels)[chosen] == c).any():
            chosen = np.append(chosen, rng.choice(pool[y == c]))
    return np.sort(chosen)


@dataclass
class LabelSubset:
    """One seed's subset of one fraction, as recorded in results.md.

    Attributes:
        fraction, seed: what was drawn.
        indices: sorted ``data_list`` positions.
        counts: images per class (class index order) in the subset.
        pool_counts: images per class in the pool.
        classes: class names.
    """
    fraction: float
    seed: int
    indices: List[int]
    counts: List[int]
    pool_counts: List[int]
    classes: List[str]

    @property
    def protocol(self) -> str:
        return fraction_protocol(self.fraction)

    @property
    def sha256(self) -> str:
        """SHA-256 of the index list as JSON (``[3, 17, ...]``)."""
        return hashlib.sha256(json.dumps(self.indices).encode()).hexdigest()

    def record_path(self, work_dir: str) -> str:
        """``<work_dir>/label_fractions/seed<S>_<p>pct.json``."""
        return osp.join(work_dir, 'label_fractions',
                        f'seed{self.seed}_{percent(self.fraction)}pct.json')

    def write(self, work_dir: str) -> str:
        """Write the record (fraction, seed, counts, indices, hash); its
        path."""
        path = self.record_path(work_dir)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            json.dump(
                dict(
                    fraction=self.fraction,
                    seed=self.seed,
                    classes=self.classes,
                    counts=self.counts,
                    pool_counts=self.pool_counts,
                    sha256=self.sha256,
                    indices=self.indices), f)
        return path


def draw_subset(labels: np.ndarray, classes: Sequence[str], fraction: float,
                seed: int, pool: np.ndarray) -> LabelSubset:
    """The :class:`LabelSubset` of ``fraction`` and ``seed`` from
    ``pool``."""
    idx = stratified_subset(labels, fraction, seed, pool)
    k = len(classes)
    labels = np.asarray(labels)
    return LabelSubset(fraction, seed, [int(i) for i in idx],
                       np.bincount(labels[idx], minlength=k).tolist(),
                       np.bincount(labels[pool], minlength=k).tolist(),
                       list(classes))


def dataset_labels(dataset_cfg: dict):
    """``(labels, class names)`` of every ``data_list`` entry of the dataset
    ``dataset_cfg`` describes (its ``indices`` and pipeline ignored), built
    with mmpretrain's registry as the stage builds it."""
    from mmpretrain.registry import DATASETS

    import mixssl_mm  # noqa: F401  (registers MedMNIST)
    cfg = dict(dataset_cfg, pipeline=[], lazy_init=False)
    cfg.pop('indices', None)
    cfg.pop('_delete_', None)
    dataset = DATASETS.build(cfg)
    labels = np.asarray(dataset.get_gt_labels(), dtype=np.int64)
    classes = dataset.metainfo.get('classes') or [
        f'class_{i}' for i in range(int(labels.max()) + 1)
    ]
    return labels, list(classes)


def equal_step_epochs(epochs: int, pool: int, subset: int, batch: int) -> int:
    """Epochs that give a ``subset``-image fine-tune the optimizer steps of
    ``epochs`` epochs on ``pool`` images (batches of ``batch``, the last
    one partial)."""
    steps = epochs * math.ceil(pool / batch)
    return max(epochs, int(round(steps / math.ceil(subset / batch))))


def subsets_section(subsets: Sequence[LabelSubset],
                    work_dir: str) -> List[str]:
    """results.md's record of the label subsets: fraction, seed, images
    per class, the index file and its hash."""
    if not subsets:
        return []
    classes = subsets[0].classes
    out = [
        '## Label fractions', '',
        'Fine-tuning on a class-stratified fraction of the training labels '
        '(scikit-learn `train_test_split(stratify=...)`, at least one image '
        'per class), drawn once per seed and the same for every method, '
        'with the optimizer steps of the full fine-tune. Indices: positions '
        'in the train split after the class filter, listed in the file.', '',
        '| Fraction | Seed | Images | ' +
        ' | '.join(c.replace('_', ' ')
                   for c in classes) + ' | Indices (SHA-256) |',
        '|---|:-:|:-:|' + ':-:|' * len(classes) + '---|'
    ]
    pool = subsets[0]
    out.append('| 100 % (pool) | – | ' + f'{sum(pool.pool_counts)} | ' +
               ' | '.join(map(str, pool.pool_counts)) + ' | – |')
    for s in subsets:
        path = osp.relpath(s.record_path(work_dir), work_dir)
        out.append(f'| {percent(s.fraction)} % | {s.seed} | '
                   f'{len(s.indices)} | ' + ' | '.join(map(str, s.counts)) +
                   f' | `{path}` (`{s.sha256[:12]}`) |')
    return out + ['']
