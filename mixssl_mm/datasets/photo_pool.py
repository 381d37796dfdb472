import importlib.util
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS


def _skimage(name: str) -> Callable[[], np.ndarray]:

    def load():
        from skimage import data
        img = getattr(data, name)()
        # stereo_motorcycle() returns (left, right, disparity)
        return img[0] if isinstance(img, tuple) else img

    return load


def _package_file(package: str, *parts: str) -> str:
    """The path of a data file shipped inside the installed ``package``,
    found without importing the package: importing scikit-learn or
    matplotlib costs about 0.5 s of CPU per process, and every training
    process (each rank, each benchmark stage) loads the pool.

    Raises:
        ImportError: ``package`` is not installed.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f'No module named {package!r}')
    return osp.join(spec.submodule_search_locations[0], *parts)


def _pil(package: str, *parts: str) -> Callable[[], np.ndarray]:
    """A JPEG inside ``package`` decoded by Pillow, as its own loader does
    (``sklearn.datasets.load_sample_image`` and ``matplotlib.image.imread``
    both return ``np.asarray(PIL.Image.open(path))`` for a JPEG)."""

    def load():
        from PIL import Image
        with Image.open(_package_file(package, *parts)) as img:
            return np.asarray(img)

    return load


# name -> (pip package that ships it, loader returning RGB or gray uint8).
# All of these are files inside the installed packages: nothing is
# downloaded (scikit-image 0.26, scikit-learn 1.9, matplotlib 3.11 checked).
PHOTO_SOURCES: Dict[str, tuple] = {
    'astronaut': ('scikit-image', _skimage('astronaut')),
    'chelsea': ('scikit-image', _skimage('chelsea')),
    'coffee': ('scikit-image', _skimage('coffee')),
    'rocket': ('scikit-image', _skimage('rocket')),
    'hubble_deep_field': ('scikit-image', _skimage('hubble_deep_field')),
    'stereo_motorcycle': ('scikit-image', _skimage('stereo_motorcycle')),
    'camera': ('scikit-image', _skimage('camera')),
    'grass': ('scikit-image', _skimage('grass')),
    'gravel': ('scikit-image', _skimage('gravel')),
    'brick': ('scikit-image', _skimage('brick')),
    'clock': ('scikit-image', _skimage('clock')),
    'moon': ('scikit-image', _skimage('moon')),
    'coins': ('scikit-image', _skimage('coins')),
    'china': ('scikit-learn', _pil('sklearn', 'datasets', 'images',
                                   'china.jpg')),
    'flower':
    ('scikit-learn', _pil('sklearn', 'datasets', 'images', 'flower.jpg')),
    'grace_hopper': ('matplotlib',
                     _pil('matplotlib', 'mpl-data', 'sample_data',
                          'grace_hopper.jpg')),
}
PHOTO_NAMES = tuple(PHOTO_SOURCES)

# Decoded photos, shared by every NaturalPhotoPool in the process (and by
# forked dataloader workers): each photo is loaded once, not per dataset.
_PHOTO_CACHE: Dict[str, np.ndarray] = {}


def load_photo(name: str) -> np.ndarray:
    """Load one pool photo as a read-only ``(H, W, 3)`` uint8 BGR array.

    Grayscale photos are repeated into 3 identical channels and an alpha
    channel, if any, is dropped.
    """
    if name in _PHOTO_CACHE:
        return _PHOTO_CACHE[name]
    if name not in PHOTO_SOURCES:
        raise KeyError(f'Unknown photo {name!r}; valid names are '
                       f'{list(PHOTO_NAMES)}.')
    package, loader = PHOTO_SOURCES[name]
    try:
        img = np.asarray(loader())
    except (ImportError, OSError) as e:
        # OSError: the package is installed but its sample file is missing
        # or unreadable (a trimmed or moved installation)
        raise ImportError(
            f'Photo {name!r} ships with {package}, which cannot be imported '
            f'or lacks the photo ({type(e).__name__}: {e}). Install it with '
            f'`pip install --force-reinstall {package}`, or leave {name!r} '
            'out of `photos`.') from e
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    else:
        # RGB(A) -> BGR, the cv2/LoadImageFromFile convention
        img = np.ascontiguousarray(img[..., 2::-1])
    # the cache is shared, so nobody may modify it in place
    img.setflags(write=False)
    _PHOTO_CACHE[name] = img
    return img


@DATASETS.register_module()
class NaturalPhotoPool(BaseDataset):
    """An offline pool of natural photos, the auxiliary images of MixSSL.

    A stand-in for Imagenette that needs no download: 16 real photos shipped
    inside installed packages.

    - scikit-image ``skimage.data``: astronaut, chelsea, coffee, rocket,
      hubble_deep_field, stereo_motorcycle (left image), and the grayscale
      camera, grass, gravel, brick, clock, moon, coins.
    - scikit-learn ``load_sample_images()``: china, flower.
    - matplotlib ``mpl-data/sample_data``: grace_hopper.

    The last three are read from their files with Pillow, as those packages
    read them, without importing the packages (:func:`_pil`).

    The dataset has a virtual ``length``: sample ``i`` is photo
    ``i % num_photos``, so with random sampling and a ``RandomResizedCrop``
    in ``pipeline`` every draw is a fresh random crop of a random photo.
    ``data_list`` holds only the photo index; the photos themselves are
    decoded once per process and shared.

    Like :class:`MedMNIST`, ``img`` is ``(H, W, 3)`` uint8 in **BGR** order
    (the ``LoadImageFromFile`` convention that mmpretrain's data
    preprocessors undo with ``to_rgb=True``), grayscale photos become 3
    identical channels, and ``img_shape``/``ori_shape`` are set, so the
    pipeline must not contain ``LoadImageFromFile``.

    Args:
        photos (Sequence[str], optional): Names of the photos to use, in
            label order. Defaults to None, which uses all of
            ``PHOTO_NAMES``.
        length (int): Virtual number of samples. Defaults to 10000.
        with_label (bool): Whether to add ``gt_label``, the index of the
            source photo in ``photos`` (for auxiliary-label prediction).
            Defaults to False.
        pipeline (Sequence): Processing pipeline. Defaults to ().
        metainfo (dict, optional): Meta information. ``classes`` defaults to
            the photo names. Defaults to None.
        **kwargs: Other keyword arguments in :class:`BaseDataset`.
    """

    def __init__(self,
                 photos: Optional[Sequence[str]] = None,
                 length: int = 10000,
                 with_label: bool = False,
                 pipeline: Sequence = (),
                 metainfo: Optional[dict] = None,
                 **kwargs):
        if photos is None:
            photos = PHOTO_NAMES
        elif isinstance(photos, str):
            photos = [photos]
        photos = tuple(photos)
        if not photos:
            raise ValueError('photos is empty; pass None to use all photos '
                             f'or some of {list(PHOTO_NAMES)}.')
        unknown = [p for p in photos if p not in PHOTO_SOURCES]
        if unknown:
            raise KeyError(f'Unknown photos {unknown}; valid names are '
                           f'{list(PHOTO_NAMES)}.')
        if len(set(photos)) != len(photos):
            raise ValueError(f'photos {list(photos)} has duplicates; list '
                             'each photo once (labels are positions).')
        if not isinstance(length, int) or length < 1:
            raise ValueError(f'length must be a positive int, got {length!r}.')
        self.photos = photos
        self.length = length
        self.with_label = with_label
        self._imgs: List[np.ndarray] = []

        metainfo = dict(metainfo or {})
        metainfo.setdefault('classes', photos)
        if len(metainfo['classes']) != len(photos):
            raise ValueError(
                f"metainfo['classes'] has {len(metainfo['classes'])} names "
                f'for {len(photos)} photos; give one name per photo or drop '
                'it to use the photo names.')
        super().__init__(
            ann_file='', metainfo=metainfo, pipeline=pipeline, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Decode the photos (once per process) and return ``length`` light
        entries that only name a photo index."""
        self._imgs = [load_photo(name) for name in self.photos]
        num = len(self.photos)
        data_list = []
        for i in range(self.length):
            info = {'photo_idx': i % num}
            if self.with_label:
                info['gt_label'] = i % num
            data_list.append(info)
        return data_list

    def get_data_info(self, idx: int) -> dict:
        """Get the sample's info with a writable copy of its photo."""
        info = super().get_data_info(idx)
        img = self._imgs[info['photo_idx']].copy()
        info['img'] = img
        info['img_shape'] = img.shape[:2]
        info['ori_shape'] = img.shape[:2]
        return info

    def get_cat_ids(self, idx: int) -> List[int]:
        """Get the source photo index of a sample."""
        return [int(super().get_data_info(idx)['photo_idx'])]

    def get_gt_labels(self) -> np.ndarray:
        """Get the source photo index of every sample, without images."""
        return np.array([
            super(NaturalPhotoPool, self).get_data_info(i)['photo_idx']
            for i in range(len(self))
        ])

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        return [
            f'Photos: \t{list(self.photos)}',
            f'Virtual length: \t{self.length}',
            f'With label: \t{self.with_label}',
        ]
