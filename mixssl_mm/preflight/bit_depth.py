# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Pre-flight comparison of what is on disk with what the pipeline's image
loader hands over, on a sample of each dataset's files.

mmcv's ``LoadImageFromFile`` with its default ``color_type='color'`` decodes
every file to 8-bit colour: a 16-bit PNG/TIFF is divided by 256 (12-bit data
end up in 0..15), a float TIFF is cut to 8 bits, a varying alpha channel is
dropped; mmcv says nothing. Here each sampled file is decoded twice: as it is
on disk (``cv2.IMREAD_UNCHANGED``: its dtype, bit depth and channels) and by
the dataset's own loader transform; a value the loader changed or a channel
it dropped is refused, naming the loader option and the transform that keep
the data (``color_type='unchanged'`` and ``ScaleToUint8`` with the bit
depth or value range found). Palette and 1-bit images, 8-bit gray read as
colour (repeated channels) and a constant alpha are kept exactly by the
loader and pass.
"""
from typing import List, Optional

import numpy as np

from .error import ConfigError

__all__ = [
    'SAMPLE_FILES', 'sample_paths', 'find_loader', 'loader_reduction',
    'check_loader_bit_depth'
]

SAMPLE_FILES = 8


def sample_paths(dataset, n: int = SAMPLE_FILES) -> List[str]:
    """Up to ``n`` image paths spread over ``dataset`` (first and last
    included); empty for a dataset of arrays (no ``img_path``)."""
    length = len(dataset)
    if length == 0 or not hasattr(dataset, 'get_data_info'):
        return []
    picks = sorted(
        {int(i)
         for i in np.linspace(0, length - 1, min(n, length))})
    paths = []
    for i in picks:
        path = dataset.get_data_info(i).get('img_path')
        if isinstance(path, str) and path not in paths:
            paths.append(path)
    return paths


def find_loader(dataset):
    """The first image-loading transform of ``dataset.pipeline`` (mmcv's
    ``LoadImageFromFile`` or a subclass), or None."""
    from mmcv.transforms import LoadImageFromFile
    for t in getattr(getattr(dataset, 'pipeline', None), 'transforms', []):
        if isinstance(t, LoadImageFromFile):
            return t
    return None


def _on_disk(path: str) -> Optional[np.ndarray]:
    """The file as it is (cv2; Pillow for what cv2 cannot decode, e.g.
    32-bit float TIFF); None when neither reads it (named elsewhere)."""
    import io

    import cv2
    from mmengine.fileio import get
    from PIL import Image
    try:
        data = get(path)
    except Exception:  # noqa: B902  unreadable files are named elsewhere
        return None
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is not None:
        return img
    try:
        with Image.open(io.BytesIO(data)) as pil:
            return np.asarray(pil)
    except Exception:  # noqa: B902
        return None


def _varying_alpha(img: np.ndarray) -> bool:
    return (img.ndim == 3 and img.shape[2] == 4 and img.size > 0
            and img[..., 3].min() != img[..., 3].max())


def _kept(disk: np.ndarray, loaded: np.ndarray) -> bool:
    """Whether ``loaded`` holds the values of ``disk`` (gray repeated into
    colour channels, and a constant alpha left out, count as kept)."""
    if disk.ndim == 3 and disk.shape[2] == 1:
        disk = disk[..., 0]
    if loaded.ndim == 3 and loaded.shape[2] == 1:
        loaded = loaded[..., 0]
    if disk.ndim == 3 and disk.shape[2] == 4 and not (loaded.ndim == 3 and
                                                      loaded.shape[2] == 4):
        if _varying_alpha(disk):
            return False
        disk = disk[..., :3]
    if disk.ndim == 2 and loaded.ndim == 3:
        if not all(
                np.array_equal(loaded[..., c], loaded[..., 0])
                for c in range(loaded.shape[2])):
            return False
        loaded = loaded[..., 0]
    if disk.shape != loaded.shape:
        return False
    return np.array_equal(disk.astype(np.float64), loaded.astype(np.float64))


def loader_reduction(path: str, loader) -> Optional[dict]:
    """What ``loader`` loses of the file ``path``: None when it keeps every
    value, else ``dict(disk=array, loaded=array, alpha=bool)``."""
    disk = _on_disk(path)
    if disk is None:
        return None
    try:
        loaded = loader(dict(img_path=path))['img']
    except Exception:  # noqa: B902  reported by the run, with the file
        return None
    if disk.shape == loaded.shape and np.array_equal(disk, loaded):
        return None  # as on disk (e.g. color_type='unchanged')
    if disk.dtype == np.uint8:
        # 8-bit data: colour conversions are the config's choice; only a
        # varying alpha channel is lost without one
        alpha = _varying_alpha(disk)
        if alpha and not (loaded.ndim == 3 and loaded.shape[2] == 4):
            return dict(disk=disk, loaded=loaded, alpha=True)
        return None
    if _kept(disk, loaded):
        return None  # e.g. 8-bit values in a 16-bit file, to_float32
    return dict(disk=disk, loaded=loaded, alpha=False)


def _describe(disk: np.ndarray) -> str:
    channels = 1 if disk.ndim == 2 else disk.shape[2]
    lo, hi = (disk.min(), disk.max()) if disk.size else (0, 0)
    if np.issubdtype(disk.dtype, np.floating):
        values = f'values {float(lo):g}..{float(hi):g}'
    else:
        values = f'values {int(lo)}..{int(hi)}'
    return f'{disk.dtype}, {channels} channel(s), {values}'


def _fix(found: List[dict]) -> str:
    disks = [f['disk'] for f in found]
    if all(f['alpha'] for f in found):
        return ("LoadImageFromFile(color_type='unchanged') keeps the alpha "
                "channel; add dict(type='ScaleToUint8', drop_alpha=True) "
                'right after it to leave alpha out on purpose (or remove the '
                'alpha channel from the files)')
    if any(np.issubdtype(d.dtype, np.floating) for d in disks):
        lo = min(float(d.min()) for d in disks if d.size)
        hi = max(float(d.max()) for d in disks if d.size)
        scale = f'value_range=({lo:g}, {hi:g})'
    else:
        hi = max(int(d.max()) for d in disks if d.size)
        scale = f'bit_depth={max(8, int(hi).bit_length())}'
    return ("set color_type='unchanged' in LoadImageFromFile (it keeps the "
            "file's dtype) and add dict(type='ScaleToUint8', " + scale +
            ') right after it, which maps the real range to 0–255 (the '
            'range seen in the sampled files; use the bit depth or range of '
            'your sensor/format if you know it)')


def check_loader_bit_depth(dataset, key: str, n: int = SAMPLE_FILES) -> None:
    """Refuse a loader that silently reduces the files of ``dataset``
    (``key``: where its config is, e.g. ``'train_dataloader.dataset'``),
    checked on up to ``n`` files spread over it.

    Raises:
        ConfigError: naming the files, what is on disk, what the loader
            hands over, and the loader option and transform that keep it.
    """
    loader = find_loader(dataset)
    if loader is None:
        return
    found = []
    for path in sample_paths(dataset, n):
        lost = loader_reduction(path, loader)
        if lost is not None:
            found.append(dict(lost, path=path))
    if not found:
        return
    lines = '\n'.join(f'  {f["path"]}: on disk {_describe(f["disk"])}; loaded '
                      f'{_describe(f["loaded"])}' for f in found[:3])
    what = ('drops their alpha channel' if all(
        f['alpha'] for f in found) else 'reduces their bit depth / values')
    raise ConfigError(
        f'{key}: the pipeline\'s {type(loader).__name__}(color_type='
        f'{loader.color_type!r}, imdecode_backend='
        f'{loader.imdecode_backend!r}) {what} without a word '
        f'({len(found)} of the sampled files):\n{lines}\nTo keep the data, '
        f'{_fix(found)}, in {key}.pipeline.')
