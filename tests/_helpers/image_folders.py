"""Generated target data for the benchmark's tests: image-folder datasets
in the ImageNet and Kaggle layouts, auxiliary folders, MedMNIST-format
``.npz`` files with chosen labels."""
import os
import os.path as osp
from typing import Dict, Sequence

import cv2
import numpy as np


def write_split_folders(root,
                        classes: Sequence[str],
                        counts: Dict[str, int],
                        size: int = 24,
                        seed: int = 0,
                        ext: str = '.png') -> str:
    """``root/<split>/<class>/<i>.png`` for each split of ``counts``
    (e.g. ``{'train': 24, 'test': 8}`` images per class; the split names as
    given: ``train`` or ``TRAIN``). Each class has its own mean colour, so a
    classifier can learn something. Returns ``root``."""
    rng = np.random.default_rng(seed)
    for split, n in counts.items():
        for c, name in enumerate(classes):
            folder = osp.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(n):
                img = rng.integers(0, 96, (size, size, 3)) + 40 * c
                cv2.imwrite(
                    osp.join(folder, f'{i:03d}{ext}'),
                    np.clip(img, 0, 255).astype(np.uint8))
    return str(root)


def write_flat_folder(root, n: int, size: int = 24, seed: int = 1) -> str:
    """``n`` images at the top level of ``root`` (no class folders)."""
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    for i in range(n):
        cv2.imwrite(
            osp.join(root, f'{i:03d}.jpg'),
            rng.integers(0, 256, (size, size + 4, 3), np.uint8))
    return str(root)


def write_npz(path,
              labels: Dict[str, Sequence[int]],
              size: int = 28,
              seed: int = 0) -> str:
    """A MedMNIST-format ``.npz`` with the given labels per split (RGB
    uint8 images, ``(N, 1)`` labels)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, lab in labels.items():
        lab = np.asarray(lab, dtype=np.int64).reshape(-1, 1)
        arrays[f'{split}_images'] = rng.integers(
            0, 256, (len(lab), size, size, 3), dtype=np.uint8)
        arrays[f'{split}_labels'] = lab
    os.makedirs(osp.dirname(str(path)) or '.', exist_ok=True)
    np.savez(str(path), **arrays)
    return str(path)
