import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

# BloodMNIST class names, index = original label in the npz files
# (INFO["bloodmnist"]["label"] of the medmnist package, shortened).
BLOODMNIST_CATEGORIES = ('basophil', 'eosinophil', 'erythroblast',
                         'immature granulocyte', 'lymphocyte', 'monocyte',
                         'neutrophil', 'platelet')

# The paper's 4-class task: eosinophil, lymphocyte, monocyte, neutrophil.
# Use as ``classes_subset=BLOODMNIST_PAPER_4`` (labels become 0..3).
BLOODMNIST_PAPER_4 = (1, 4, 5, 6)
# The full 8-class task; same as ``classes_subset=None``.
BLOODMNIST_ALL_8 = tuple(range(8))

SPLITS = ('train', 'val', 'test')
FETCH_HINT = 'python tools/data/fetch_bloodmnist.py'


def medmnist_class_names(ann_file: str, num_classes: int) -> Tuple[str, ...]:
    """Class names of a MedMNIST ``.npz`` whose labels span ``num_classes``
    ids: BloodMNIST's 8 names for a ``bloodmnist*.npz`` with 8 classes,
    ``class_<id>`` otherwise (a file named like BloodMNIST but holding
    another task must not get BloodMNIST's names). The one rule for the
    dataset's ``metainfo`` and the benchmark's task."""
    if (osp.basename(ann_file).startswith('bloodmnist')
            and num_classes == len(BLOODMNIST_CATEGORIES)):
        return BLOODMNIST_CATEGORIES
    return tuple(f'class_{i}' for i in range(num_classes))


def open_npz(path: str):
    """``np.load(path)`` of a ``.npz`` archive (pickles refused, as numpy's
    default).

    Raises:
        ValueError: the file is no ``.npz`` archive (numpy's own message for
            a text file suggests ``allow_pickle``, which would run code from
            the file); a ``.npy`` single array included.
    """
    try:
        npz = np.load(path)
    except Exception as e:  # noqa: B902  any file that is no archive
        npz = e
    if not isinstance(npz, np.lib.npyio.NpzFile):
        if isinstance(npz, Exception) and 'allow_pickle' in str(npz):
            detail = 'neither a zip archive nor an .npy array'  # a pickle?
        elif isinstance(npz, Exception):
            detail = f'{type(npz).__name__}: {str(npz).splitlines()[0]}'
        else:
            detail = f'it holds a single {type(npz).__name__}'
        raise ValueError(
            f'{path} is no .npz archive numpy can read ({detail}). Give a '
            'MedMNIST-format .npz with train_images, train_labels, '
            'test_images, test_labels (np.savez), or an image folder.')
    return npz


@DATASETS.register_module()
class MedMNIST(BaseDataset):
    """A 2D `MedMNIST <https://medmnist.com/>`_ dataset read from its
    official ``.npz`` file.

    The file holds ``{split}_images`` (``(N, H, W, 3)`` RGB or ``(N, H, W)``
    grayscale, uint8) and ``{split}_labels`` (``(N, 1)``) for the splits
    ``train``, ``val`` and ``test``. Any size variant (28, 64, 128, 224) works.

    Every sample's ``img`` is a ``(H, W, 3)`` uint8 array in **BGR** order,
    the layout ``LoadImageFromFile`` (cv2) produces, because mmpretrain's
    transforms and data preprocessors (``to_rgb=True``) assume it. Grayscale
    images are repeated into 3 identical channels so that RGB backbones and
    3-channel mean/std apply unchanged. ``img_shape`` and ``ori_shape`` are
    set as ``LoadImageFromFile`` would, so a pipeline starts directly with a
    geometric transform such as ``RandomResizedCrop``; do not add
    ``LoadImageFromFile``.

    Only the requested split is loaded, once, into one array; ``data_list``
    keeps an index per sample instead of an image copy.

    Examples:
        >>> # the paper's 4-class BloodMNIST task
        >>> from mixssl_mm.datasets.medmnist import BLOODMNIST_PAPER_4
        >>> dataset = MedMNIST(
        ...     data_root='data/medmnist', ann_file='bloodmnist.npz',
        ...     split='train', classes_subset=BLOODMNIST_PAPER_4)
        >>> dataset.metainfo['classes']
        ('eosinophil', 'lymphocyte', 'monocyte', 'neutrophil')

    Args:
        data_root (str): The root directory that ``ann_file`` is relative to.
            Defaults to ''.
        ann_file (str): Path of the ``.npz`` file, relative to ``data_root``
            unless absolute, e.g. ``'bloodmnist.npz'``. Get BloodMNIST with
            ``python tools/data/fetch_bloodmnist.py``.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
            Defaults to ``'train'``.
        with_label (bool): Whether to add ``gt_label`` to each sample. Use
            False for self-supervised pretraining. Defaults to True.
        classes_subset (Sequence[int], optional): Original label ids to keep,
            e.g. ``BLOODMNIST_PAPER_4``. They are remapped to ``0..k-1`` in the
            given order and samples of other classes are dropped. Defaults to
            None, which keeps all classes with their original labels.
        metainfo (dict, optional): Meta information; ``classes`` here
            overrides the built-in names (BloodMNIST names when the file name
            starts with ``bloodmnist``, ``class_i`` otherwise). Its length must
            match the number of classes after ``classes_subset``.
            Defaults to None.
        **kwargs: Other keyword arguments in :class:`BaseDataset`, e.g.
            ``pipeline``, ``test_mode``, ``indices``.
    """

    def __init__(self,
                 data_root: str = '',
                 ann_file: str = '',
                 split: str = 'train',
                 with_label: bool = True,
                 classes_subset: Optional[Sequence[int]] = None,
                 metainfo: Optional[dict] = None,
                 **kwargs):
        if split not in SPLITS:
            raise ValueError(f'split must be one of {SPLITS}, got {split!r}.')
        if not ann_file:
            raise ValueError(
                'MedMNIST needs ann_file, the .npz path (relative to '
                "data_root), e.g. data_root='data/medmnist', "
                f"ann_file='bloodmnist.npz' (get it with `{FETCH_HINT}`).")
        if classes_subset is not None:
            classes_subset = [int(c) for c in classes_subset]
            if len(set(classes_subset)) != len(classes_subset):
                raise ValueError(
                    f'classes_subset {classes_subset} has duplicate ids; '
                    'list each original label once.')
            if not classes_subset:
                raise ValueError('classes_subset is empty; pass None to keep '
                                 'all classes or a list of label ids.')
        self.split = split
        self.with_label = with_label
        self.classes_subset = classes_subset
        self._images = None
        super().__init__(
            ann_file=ann_file,
            metainfo=metainfo,
            data_root=data_root,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """Load the split's images once and return one light entry (index and
        label) per sample."""
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'MedMNIST file {self.ann_file} not found. For BloodMNIST run '
                f'`{FETCH_HINT}` (it writes data/medmnist/bloodmnist.npz), '
                'or set data_root/ann_file to where your .npz is.')
        img_key, label_key = f'{self.split}_images', f'{self.split}_labels'
        need_labels = self.with_label or self.classes_subset is not None
        with open_npz(self.ann_file) as npz:
            found = sorted(npz.files)
            expected = [img_key] + ([label_key] if need_labels else [])
            missing = [k for k in expected if k not in found]
            if missing:
                raise KeyError(
                    f'{self.ann_file} lacks {missing} for split '
                    f"'{self.split}': found keys {found}, expected {expected} "
                    '(official MedMNIST files have {train,val,test}_images '
                    'and {train,val,test}_labels).')
            images = npz[img_key]
            labels = npz[label_key] if need_labels else None
            num_classes = self._infer_num_classes(npz, found) \
                if need_labels else None

        self._images = self._check_images(images)
        if labels is None:
            keep = np.arange(len(images))
            new_labels = None
        else:
            labels = self._check_labels(labels, len(images))
            keep, new_labels = self._select_classes(labels, num_classes)
        self._set_classes(num_classes)

        data_list = []
        for i, src_idx in enumerate(keep):
            info = {'img_idx': int(src_idx)}
            if self.with_label:
                info['gt_label'] = int(new_labels[i])
            data_list.append(info)
        return data_list

    def _check_images(self, images: np.ndarray) -> np.ndarray:
        if images.ndim == 4 and images.shape[-1] == 1:
            images = images[..., 0]
        if images.dtype != np.uint8 or images.ndim not in (3, 4) or (
                images.ndim == 4 and images.shape[-1] != 3):
            raise ValueError(
                f'{self.ann_file}: {self.split}_images is {images.shape} '
                f'{images.dtype}, expected (N, H, W, 3) or (N, H, W) uint8 '
                'as in the official MedMNIST 2D files.')
        return images

    def _check_labels(self, labels: np.ndarray, num: int) -> np.ndarray:
        if labels.ndim == 2 and labels.shape[1] != 1:
            raise ValueError(
                f'{self.ann_file}: {self.split}_labels is {labels.shape}, a '
                'multi-label task (e.g. ChestMNIST); MedMNIST here supports '
                'single-label files only. Use with_label=False (and no '
                'classes_subset) to use its images for pretraining.')
        labels = labels.reshape(-1).astype(np.int64)
        if len(labels) != num:
            raise ValueError(
                f'{self.ann_file}: {len(labels)} {self.split}_labels for '
                f'{num} {self.split}_images; the file is corrupt, fetch it '
                f'again (`{FETCH_HINT}` for BloodMNIST).')
        return labels

    def _infer_num_classes(self, npz, found) -> Optional[int]:
        """The largest label of all splits + 1, as a small split may miss a
        class."""
        label_keys = [f'{s}_labels' for s in SPLITS if f'{s}_labels' in found]
        if not label_keys:
            return None
        top = [npz[k].max() for k in label_keys if npz[k].size]
        return int(max(top)) + 1 if top else None

    def _select_classes(self, labels, num_classes):
        if self.classes_subset is None:
            return np.arange(len(labels)), labels
        present = sorted(np.unique(labels).tolist())
        absent = [c for c in self.classes_subset if c not in present]
        if absent:
            raise ValueError(
                f'classes_subset ids {absent} have no sample in the '
                f"'{self.split}' split of {self.ann_file}; label ids present: "
                f'{present}. Pick ids from those (BloodMNIST: 0..7, the '
                f'paper task is {BLOODMNIST_PAPER_4}).')
        remap = {c: i for i, c in enumerate(self.classes_subset)}
        keep = np.flatnonzero(np.isin(labels, self.classes_subset))
        new_labels = np.array([remap[c] for c in labels[keep].tolist()],
                              dtype=np.int64)
        return keep, new_labels

    def _set_classes(self, num_classes: Optional[int]):
        """Fill ``metainfo['classes']`` unless the user gave names."""
        names = None if num_classes is None else medmnist_class_names(
            self.ann_file, num_classes)
        if self.classes_subset is not None and names is not None:
            bad = [c for c in self.classes_subset if c >= len(names)]
            if bad:
                raise ValueError(
                    f'classes_subset ids {bad} exceed the {len(names)} '
                    f'classes of {self.ann_file} (ids 0..{len(names) - 1}).')
            names = tuple(names[c] for c in self.classes_subset)

        # Names given through ``metainfo`` or ``classes`` win.
        user_classes = self._metainfo.get('classes')
        if user_classes is not None:
            n = len(self.classes_subset) if self.classes_subset else \
                num_classes
            if n is not None and len(user_classes) != n:
                raise ValueError(
                    f"metainfo['classes'] has {len(user_classes)} "
                    f'names but the dataset has {n} classes; give one name '
                    'per class (after classes_subset), or drop it to use the '
                    'built-in names.')
            self._metainfo['classes'] = tuple(user_classes)
        elif names is not None:
            self._metainfo['classes'] = names

    def _light_info(self, idx: int) -> dict:
        return super().get_data_info(idx)

    def get_data_info(self, idx: int) -> dict:
        """Get the sample's info with its image (BGR, 3 channels)."""
        info = self._light_info(idx)
        img = self._images[info['img_idx']]
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=-1)
        else:
            # RGB -> BGR, as cv2 would have loaded it.
            img = np.ascontiguousarray(img[..., ::-1])
        info['img'] = img
        info['img_shape'] = img.shape[:2]
        info['ori_shape'] = img.shape[:2]
        return info

    def get_gt_labels(self) -> np.ndarray:
        """Get all ground-truth labels without touching the images."""
        self._require_labels()
        return np.array(
            [self._light_info(i)['gt_label'] for i in range(len(self))])

    def get_cat_ids(self, idx: int) -> List[int]:
        """Get the category id of a sample without touching its image."""
        self._require_labels()
        return [int(self._light_info(idx)['gt_label'])]

    def _require_labels(self):
        if not self.with_label:
            raise RuntimeError(
                'This MedMNIST dataset was built with with_label=False and '
                'has no gt_label; build it with with_label=True.')

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        body = [
            f'Annotation file: \t{self.ann_file}',
            f'Split: \t{self.split}',
            f'With label: \t{self.with_label}',
        ]
        if self.classes_subset is not None:
            body.append(f'Classes subset: \t{self.classes_subset}')
        return body
