# Copyright (c) mixssl_mm contributors. All rights reserved.
import os
import warnings
from typing import List, Optional, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS, TRANSFORMS

from mixssl_mm.datasets.utils.image_check import (UnreadableMessages,
                                                  load_error, readable_indices)
from mixssl_mm.datasets.utils.image_contract import check_mixable

# the skip-corrupt wording for auxiliary images (the pre-flight has its own
# for target images; the handling itself is shared, see image_check)
_AUX_UNREADABLE = UnreadableMessages(
    refused='CrossDomainMixup: {n} auxiliary image file(s) cannot be read:\n'
    '{files}\nRemove or replace them, or set CrossDomainMixup(skip_corrupt='
    'True) to leave unreadable auxiliary images out with a warning.',
    none_readable='CrossDomainMixup: none of the auxiliary images can be '
    'read (e.g.\n{files}); point aux_dataset at a folder of readable '
    'images.',
    skipped='CrossDomainMixup: skipping {n} unreadable auxiliary image(s) '
    '(skip_corrupt=True):\n{files}')


@TRANSFORMS.register_module()
class CrossDomainMixup(BaseTransform):
    """Pair each target image with a random auxiliary image (MixSSL).

    MixSSL trains on ``x_mix = (1 - λ)·x_t + λ·x_a``, reconstructing the
    clean target ``x_t`` and predicting λ. This transform runs in the data
    workers and only pairs: it draws an auxiliary sample uniformly at random
    from ``aux_dataset`` (whose own pipeline loads and augments it,
    independent of the target's augmentation) and replaces ``img`` by the
    two views ``[x_t, x_a]``. λ and the mix belong to the model
    (``model.alpha``, ``model.lam_mode``, ``model.fixed_lam`` of
    :class:`MixSSL`), which draws λ on the device.

    Added keys (only for objective A, :class:`MixSSLAux`; pack them with
    ``PackInputs(algorithm_keys=['aux_label', 'aux_num_classes'])``, R+T
    needs a plain ``PackInputs``):

    - ``aux_label`` (int): the auxiliary image's class, when the pool has
      labels.
    - ``aux_num_classes`` (int): the pool's class count, with ``aux_label``,
      so that the model can check its ``aux_head.num_classes`` against it.

    Required keys: ``img`` (H x W x 3 or H x W gray, on the 8-bit scale).
    Modified keys: ``img`` becomes a list ``[x_t, x_a]`` of equal-size
    H x W x 3 arrays.

    Args:
        aux_dataset (dict | str | BaseDataset): The auxiliary pool: an
            mmpretrain dataset config (e.g. ``dict(type='CustomDataset',
            data_root='data/imagenette2/train', with_label=False)``), a folder
            of images (any depth), or a built dataset.
        aux_pipeline (list[dict], optional): Pipeline for auxiliary samples,
            used when ``aux_dataset`` is a folder or a config without its own
            ``pipeline``. It must produce images of the target's size.
        skip_corrupt (bool): What to do with auxiliary images that cannot be
            read. False (default): refuse, naming the files, when the
            transform is built (every file's header is checked then) or when
            one fails to load during training. True: leave them out with a
            warning and draw another auxiliary image.

    Raises:
        TypeError: ``alpha``, ``lam_mode`` or ``fixed_lam`` given here (they
            moved to the model), naming their new keys.

    Auxiliary labels: the pool labels its images when its samples carry a
    ``gt_label`` — ``NaturalPhotoPool(with_label=True)`` (the source photo),
    ``CustomDataset(with_label=True)`` (the class sub-folder) — and a
    folder given as a string is labelled by sub-folder when all its images
    lie in sub-folders (the ImageNet / Imagenette layout; a folder with
    images at its top level stays unlabelled). The class count is
    ``len(metainfo['classes'])`` (else the largest label + 1) and every
    label must lie below it. The label is read from the auxiliary sample
    the image comes from, so nothing is loaded twice.

    Gray and colour: gray images (H x W or H x W x 1, e.g. from
    ``LoadImageFromFile(color_type='grayscale')``) are repeated into three
    identical channels, on either side, so a gray target can be mixed with a
    colour photo and the reverse; colour is never dropped.

    Value range and channels: both images must be on the 8-bit scale
    (``uint8``, or float values in 0–255) with 1 or 3 channels, checked on
    every pair at the moment of mixing
    (:func:`~mixssl_mm.datasets.utils.image_contract.check_mixable`). A
    16-bit, 0–1 float or 4-channel image raises ``ImageContractError``
    naming the transform to add, e.g. ``ScaleToUint8(bit_depth=16)`` after
    ``LoadImageFromFile(color_type='unchanged')``; two value ranges are never
    mixed.
    """

    PACK_KEYS = ('aux_label', 'aux_num_classes')
    # arguments of earlier versions, now the model's
    MOVED = dict(
        alpha='model.alpha',
        lam_mode='model.lam_mode',
        fixed_lam='model.fixed_lam')

    def __init__(self,
                 aux_dataset: Union[dict, str, BaseDataset],
                 aux_pipeline: Optional[List[dict]] = None,
                 skip_corrupt: bool = False,
                 **kwargs):
        moved = [k for k in kwargs if k in self.MOVED]
        if moved:
            raise TypeError(
                'CrossDomainMixup only pairs images now; λ is drawn by the '
                'model, on the device. Move ' +
                ', '.join(f'{k}={kwargs[k]!r} to {self.MOVED[k]}'
                          for k in moved) +
                " (e.g. model=dict(type='MixSSL', alpha=1.0, lam_mode="
                "'sample')) and drop it from the pipeline.")
        if kwargs:
            raise TypeError('CrossDomainMixup.__init__() got unexpected '
                            f'keyword argument(s) {sorted(kwargs)}.')
        self.skip_corrupt = bool(skip_corrupt)
        self.aux_dataset = self._build_aux(aux_dataset, aux_pipeline)
        self._aux_indices = self._check_aux_files()
        self.aux_num_classes = self._aux_class_count()

    @staticmethod
    def _build_aux(aux, pipeline) -> BaseDataset:
        if aux is None:
            raise ValueError(
                'CrossDomainMixup: aux_dataset is missing. Give a folder of '
                "natural images, a dataset config (e.g. dict(type="
                "'NaturalPhotoPool')) or a built dataset.")
        if isinstance(aux, str):
            aux = dict(
                type='CustomDataset',
                data_root=aux,
                with_label=_has_class_folders(aux))
        if isinstance(aux, dict):
            aux = dict(aux)
            if 'pipeline' not in aux:
                aux['pipeline'] = pipeline or []
            desc = aux.get('data_root') or aux.get('type')
            try:
                aux = DATASETS.build(aux)
            except Exception as e:  # noqa: B902  explained when known
                raise _aux_build_error(aux, desc, e) from e
        if len(aux) == 0:
            raise ValueError(
                'CrossDomainMixup: the auxiliary dataset '
                f'{type(aux).__name__} is empty; it needs at least one image. '
                'Check its data_root / ann_file.')
        return aux

    def _check_aux_files(self) -> np.ndarray:
        """Indices of the usable auxiliary samples: every file-backed
        sample's header is checked once, here, before training starts."""
        keep = readable_indices(
            self.aux_dataset,
            self.skip_corrupt,
            _AUX_UNREADABLE,
            report=warnings.warn)
        if keep is None:
            return np.arange(len(self.aux_dataset))
        return np.asarray(keep)

    def _aux_class_count(self) -> Optional[int]:
        """The pool's class count, or None when it has no labels (decided
        on its first usable sample: a dataset labels all samples or none)."""
        info = self.aux_dataset.get_data_info(int(self._aux_indices[0]))
        if 'gt_label' not in info:
            return None
        classes = self.aux_dataset.metainfo.get('classes')
        if classes:
            return len(classes)
        labels = np.asarray(self.aux_dataset.get_gt_labels()).reshape(-1)
        return int(labels.max()) + 1

    def _aux_label(self, aux: dict) -> int:
        label = np.asarray(aux['gt_label']).reshape(-1)
        if label.size != 1:
            raise ValueError(
                'CrossDomainMixup: an auxiliary sample has the multi-label '
                f'gt_label {label.tolist()}; auxiliary-label prediction needs '
                'one class per auxiliary image.')
        label = int(label[0])
        if self.aux_num_classes is not None and not (0 <= label <
                                                     self.aux_num_classes):
            raise ValueError(
                f'CrossDomainMixup: auxiliary label {label} lies outside the '
                f'pool\'s {self.aux_num_classes} classes '
                f"({type(self.aux_dataset).__name__}.metainfo['classes']).")
        return label

    def _load_aux(self) -> dict:
        """One random auxiliary sample; a file that fails to load is named,
        or with ``skip_corrupt`` dropped from the pool with a warning."""
        while True:
            pos = np.random.randint(len(self._aux_indices))
            idx = int(self._aux_indices[pos])
            try:
                return self.aux_dataset[idx]
            except Exception as e:
                info = self.aux_dataset.get_data_info(idx)
                path = info.get('img_path') if isinstance(info, dict) else None
                reason = load_error(path) if path else None
                if reason is None:
                    raise  # not a broken file: a pipeline or config error
                if not self.skip_corrupt:
                    raise ValueError(
                        f'CrossDomainMixup: auxiliary image {path} cannot be '
                        f'read ({reason}; {type(e).__name__}: {e}). Remove or '
                        'replace it, or set CrossDomainMixup(skip_corrupt='
                        'True) to skip unreadable auxiliary images with a '
                        'warning.') from e
                if len(self._aux_indices) == 1:
                    raise ValueError(
                        'CrossDomainMixup: no readable auxiliary image left '
                        f'(the last one, {path}, {reason}).') from e
                warnings.warn(
                    f'CrossDomainMixup: skipping unreadable auxiliary image '
                    f'{path} ({reason}; skip_corrupt=True)')
                self._aux_indices = np.delete(self._aux_indices, pos)

    def transform(self, results: dict) -> dict:
        x_t = results['img']
        if isinstance(x_t, list):
            raise TypeError(
                'CrossDomainMixup: img is already a list of views; put '
                'CrossDomainMixup once, after the target augmentations and '
                'before PackInputs, not inside MultiView.')
        aux = self._load_aux()
        x_a = aux['img']
        check_mixable(x_t, x_a)
        x_t, x_a = _to_rgb3(x_t), _to_rgb3(x_a)
        if x_t.shape[:2] != x_a.shape[:2]:
            raise ValueError(
                f'CrossDomainMixup: target image is {x_t.shape[:2]} but the '
                f'auxiliary image is {x_a.shape[:2]}; give the auxiliary '
                'pipeline the same final size as the target pipeline (e.g. '
                'the same RandomResizedCrop scale).')
        results['img'] = [x_t, x_a]
        if 'gt_label' in aux:
            results['aux_label'] = self._aux_label(aux)
            if self.aux_num_classes is not None:
                results['aux_num_classes'] = self.aux_num_classes
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(aux_dataset='
                f'{type(self.aux_dataset).__name__}'
                f'(len={len(self.aux_dataset)}), '
                f'skip_corrupt={self.skip_corrupt}, '
                f'aux_num_classes={self.aux_num_classes})')


def _aux_build_error(aux: dict, desc, error: Exception) -> Exception:
    """The error to raise for ``aux_dataset`` failing to build: a cause the
    entry points know (misspelt key, annotation format, missing folder, ...)
    explained by the pre-flight's one catalogue, the folder errors also with
    what an auxiliary pool can be; any other error as it is."""
    # imported here: the pre-flight imports the datasets, and so this module
    from mixssl_mm.preflight.dataset_errors import explain_dataset_error
    from mixssl_mm.preflight.error import ConfigError
    explained = explain_dataset_error(
        aux, error, 'CrossDomainMixup.aux_dataset', cfg_options=False)
    folder = isinstance(error,
                        (FileNotFoundError, RuntimeError, AssertionError))
    if explained is None and not folder:
        return error
    hint = str(error if explained is None else explained)
    if folder:
        hint += (
            '\nPoint aux_dataset at an existing folder of natural images '
            "(e.g. Imagenette train/) or use dict(type='NaturalPhotoPool')"
            '.')
    return ConfigError('CrossDomainMixup: could not build the auxiliary '
                       f'dataset {desc!r}: {hint}')


# CustomDataset's default image extensions
_IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif')


def _has_class_folders(root: str) -> bool:
    """Whether a folder is laid out as ``root/<class>/<images>``: it has
    sub-folders and no image at its top level. Then CustomDataset with
    labels finds exactly the images it finds without, so labelling such a
    folder changes no sample, only adds its class."""
    try:
        entries = list(os.scandir(root))
    except OSError:  # missing: CustomDataset's own error names the folder
        return False
    has_dirs = any(e.is_dir() for e in entries)
    loose = any(e.is_file() and e.name.lower().endswith(_IMG_EXTENSIONS)
                for e in entries)
    return has_dirs and not loose


def _to_rgb3(img: np.ndarray) -> np.ndarray:
    # Gray images are repeated to three channels so that gray targets can be
    # mixed with colour photos (and the reverse); colour is never dropped.
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return img
