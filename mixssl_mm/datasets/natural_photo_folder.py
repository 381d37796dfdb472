# Copyright (c) mixssl_mm contributors. All rights reserved.
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

from .utils.fetch import FetchError
from .utils.natural_photos import DEFAULT_OUT_DIR, FETCH_COMMAND, read_manifest

# Decoded photos by absolute path, shared by every NaturalPhotoFolder in the
# process (and by forked dataloader workers): each photo is decoded once.
_PHOTO_CACHE: Dict[str, np.ndarray] = {}
# draws of a box that was already drawn before giving up on num_crops
MAX_REDRAWS = 100


def _load(path: str) -> np.ndarray:
    if path not in _PHOTO_CACHE:
        import mmcv
        img = mmcv.imread(path, flag='color', channel_order='bgr')
        if img is None:
            raise FetchError(f'{path} cannot be read; rerun '
                             f'`{FETCH_COMMAND}`.')
        # shared by all datasets: nobody may modify it in place
        img.setflags(write=False)
        _PHOTO_CACHE[path] = img
    return _PHOTO_CACHE[path]


@DATASETS.register_module()
class NaturalPhotoFolder(BaseDataset):
    """MixSSL's auxiliary pool for real runs: ``num_crops`` distinct crops of
    the photos fetched by ``tools/data/fetch_natural_photos.py``.

    The fetched pool (``data/natural_photos``, see ``docs/data.md``) holds 62
    photographs from pinned Debian packages, listed with their sources in its
    ``manifest.json``. Sample ``i`` is a fixed crop of photo
    ``i % num_photos``; the crop boxes are drawn once, when the dataset is
    built, from ``np.random.default_rng(seed)`` as torchvision's
    ``RandomResizedCrop`` draws them (area fraction uniform in
    ``crop_scale``, aspect ratio log-uniform in ``crop_ratio``, position
    uniform), and a box that was already drawn for the same photo is drawn
    again. So the dataset is exactly ``num_crops`` distinct crops (default
    4096, about 66 per photo), the same ones for the same seed, and the
    pipeline's own random crop, flip and colour jitter vary each of them
    again at every draw. :class:`NaturalPhotoPool` (16 photos shipped in pip
    packages, no download) stays the pool of the tests and quick starts.

    Like :class:`NaturalPhotoPool`, ``img`` is ``(h, w, 3)`` uint8 in **BGR**
    order with ``img_shape``/``ori_shape`` set, so the pipeline must not
    contain ``LoadImageFromFile``.

    Args:
        data_root (str): The fetched pool. Defaults to
            ``'data/natural_photos'`` (relative to the working directory).
        num_crops (int): Number of distinct crops, the dataset's length.
            Defaults to 4096.
        crop_scale (tuple[float, float]): Range of a crop's area as a
            fraction of its photo's, within (0, 1]. Defaults to (0.2, 1.0):
            on the 384 px photos a crop is at least about 150 px on a side,
            which the 224 px training crop does not blow up much.
        crop_ratio (tuple[float, float]): Range of a crop's width / height.
            Defaults to (3 / 4, 4 / 3), as ``RandomResizedCrop``.
        seed (int): Seed of the crop boxes. Defaults to 0.
        with_label (bool): Whether to add ``gt_label``, the index of the
            source photo (for auxiliary-label prediction, R+A). Defaults to
            False.
        pipeline (Sequence): Processing pipeline. Defaults to ().
        metainfo (dict, optional): Meta information. ``classes`` defaults to
            the photo names of the manifest.
        **kwargs: Other keyword arguments of :class:`BaseDataset`.

    Raises:
        FetchError: the pool is not fetched (the message gives the command).
        ValueError: bad ``num_crops``, ``crop_scale`` or ``crop_ratio``.
    """

    def __init__(self,
                 data_root: str = DEFAULT_OUT_DIR,
                 num_crops: int = 4096,
                 crop_scale: Tuple[float, float] = (0.2, 1.0),
                 crop_ratio: Tuple[float, float] = (3 / 4, 4 / 3),
                 seed: int = 0,
                 with_label: bool = False,
                 pipeline: Sequence = (),
                 metainfo: Optional[dict] = None,
                 **kwargs):
        if isinstance(num_crops, bool) or not isinstance(num_crops, int) \
                or num_crops < 1:
            raise ValueError(
                f'num_crops must be a positive int, got {num_crops!r}.')
        lo, hi = crop_scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f'crop_scale must satisfy 0 < min <= max <= 1 '
                             f'(area fractions), got {crop_scale!r}.')
        if not 0 < crop_ratio[0] <= crop_ratio[1]:
            raise ValueError('crop_ratio must satisfy 0 < min <= max, got '
                             f'{crop_ratio!r}.')
        self.num_crops = num_crops
        self.crop_scale = (float(lo), float(hi))
        self.crop_ratio = (float(crop_ratio[0]), float(crop_ratio[1]))
        self.seed = seed
        self.with_label = with_label
        self._paths: List[str] = []
        root = osp.abspath(data_root)
        self.photos = [p['name'] for p in read_manifest(root)]
        metainfo = dict(metainfo or {})
        metainfo.setdefault('classes', tuple(self.photos))
        super().__init__(
            ann_file='',
            data_root=root,
            metainfo=metainfo,
            pipeline=pipeline,
            **kwargs)

    def _draw_box(self, rng: np.random.Generator, h: int,
                  w: int) -> Tuple[int, int, int, int]:
        """One ``(x, y, width, height)`` box, ``RandomResizedCrop``'s way."""
        area = h * w * rng.uniform(*self.crop_scale)
        ratio = math.exp(rng.uniform(*np.log(self.crop_ratio)))
        cw = min(w, max(1, round(math.sqrt(area * ratio))))
        ch = min(h, max(1, round(math.sqrt(area / ratio))))
        x = int(rng.integers(0, w - cw + 1))
        y = int(rng.integers(0, h - ch + 1))
        return x, y, cw, ch

    def load_data_list(self) -> List[dict]:
        """Decode the photos (once per process) and draw the crop boxes."""
        manifest = read_manifest(self.data_root)
        self._paths = [osp.join(self.data_root, p['file']) for p in manifest]
        shapes = [_load(p).shape[:2] for p in self._paths]
        rng = np.random.default_rng(self.seed)
        seen = set()
        data_list = []
        for i in range(self.num_crops):
            idx = i % len(self._paths)
            box = self._draw_box(rng, *shapes[idx])
            # a repeated box would not be a new crop: draw again
            for _ in range(MAX_REDRAWS):
                if (idx, box) not in seen:
                    break
                box = self._draw_box(rng, *shapes[idx])
            else:
                raise ValueError(
                    f'{MAX_REDRAWS} draws found no new crop box of photo '
                    f'{self.photos[idx]!r} after {i} crops: crop_scale='
                    f'{self.crop_scale} and crop_ratio={self.crop_ratio} '
                    f'allow fewer than num_crops={self.num_crops} distinct '
                    'crops. Lower num_crops or widen the ranges.')
            seen.add((idx, box))
            info = {'photo_idx': idx, 'crop_box': box}
            if self.with_label:
                info['gt_label'] = idx
            data_list.append(info)
        return data_list

    def get_data_info(self, idx: int) -> dict:
        """The sample's info with a writable copy of its crop."""
        info = super().get_data_info(idx)
        x, y, w, h = info['crop_box']
        img = _load(self._paths[info['photo_idx']])[y:y + h, x:x + w].copy()
        info['img'] = img
        info['img_shape'] = img.shape[:2]
        info['ori_shape'] = img.shape[:2]
        return info

    def get_cat_ids(self, idx: int) -> List[int]:
        """The source photo index of a sample."""
        return [int(super().get_data_info(idx)['photo_idx'])]

    def get_gt_labels(self) -> np.ndarray:
        """The source photo index of every sample, without images."""
        return np.array([
            super(NaturalPhotoFolder, self).get_data_info(i)['photo_idx']
            for i in range(len(self))
        ])

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        return [
            f'Photos: \t{len(self.photos)} in {self.data_root}',
            f'Distinct crops: \t{self.num_crops} (seed {self.seed}, area '
            f'{self.crop_scale}, ratio {self.crop_ratio})',
            f'With label: \t{self.with_label}',
        ]
