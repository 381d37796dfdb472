# Copyright (c) mixssl_mm contributors. All rights reserved.
import numbers
from typing import List, Optional, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.dataset import BaseDataset

from mmpretrain.registry import DATASETS, TRANSFORMS


@TRANSFORMS.register_module()
class CrossDomainMixup(BaseTransform):
    """Pair each target image with a random auxiliary image (MixSSL).

    MixSSL trains on ``x_mix = (1 - λ)·x_t + λ·x_a`` with λ ~ Beta(α, α),
    reconstructing the clean target ``x_t`` and predicting λ. This transform
    runs in the data workers: it draws an auxiliary sample uniformly at random
    from ``aux_dataset`` (whose own pipeline loads and augments it, independent
    of the target's augmentation) and replaces ``img`` by the two views
    ``[x_t, x_a]``. The mix itself is formed on the device by
    :class:`MixSSL` — one cheap fused op per batch, and the only place where
    one λ can be shared by a whole batch (the paper's choice).

    Added keys (pack them with
    ``PackInputs(algorithm_keys=CrossDomainMixup.PACK_KEYS)``):

    - ``mix_alpha`` (float): α, so the model draws the per-batch λ from the
      same Beta(α, α).
    - ``mix_lam`` (float): only with ``lam_mode='sample'``: this sample's λ.
    - ``aux_label`` (int): the auxiliary sample's label when it has one.

    Required keys: ``img`` (H x W x C uint8, or H x W gray). Modified keys:
    ``img`` becomes a list ``[x_t, x_a]`` of equal-size H x W x 3 arrays.

    Args:
        aux_dataset (dict | str | BaseDataset): The auxiliary pool: an
            mmpretrain dataset config (e.g. ``dict(type='CustomDataset',
            data_root='data/imagenette2/train', with_label=False)``), a folder
            of images (any depth), or a built dataset.
        aux_pipeline (list[dict], optional): Pipeline for auxiliary samples,
            used when ``aux_dataset`` is a folder or a config without its own
            ``pipeline``. It must produce images of the target's size.
        alpha (float): α of Beta(α, α). Defaults to 1.0 (uniform λ).
        lam_mode (str): ``'batch'`` — one λ per batch, drawn on the device
            (the paper's); ``'sample'`` — one λ per sample, drawn here.
            Defaults to ``'batch'``.
    """

    PACK_KEYS = ('mix_alpha', 'mix_lam', 'aux_label')
    LAM_MODES = ('batch', 'sample')

    def __init__(self,
                 aux_dataset: Union[dict, str, BaseDataset],
                 aux_pipeline: Optional[List[dict]] = None,
                 alpha: float = 1.0,
                 lam_mode: str = 'batch'):
        if (isinstance(alpha, bool) or not isinstance(alpha, numbers.Real)
                or not np.isfinite(alpha) or alpha <= 0):
            raise ValueError(
                f'CrossDomainMixup: alpha must be a finite number > 0 (λ ~ '
                f'Beta(alpha, alpha)), got {alpha!r}. Use alpha=1.0 for a '
                'uniform λ (the paper sets α = 1).')
        if lam_mode not in self.LAM_MODES:
            raise ValueError(f'CrossDomainMixup: lam_mode must be one of '
                             f'{self.LAM_MODES}, got {lam_mode!r}.')
        self.alpha = float(alpha)
        self.lam_mode = lam_mode
        self.aux_dataset = self._build_aux(aux_dataset, aux_pipeline)

    @staticmethod
    def _build_aux(aux, pipeline) -> BaseDataset:
        if aux is None:
            raise ValueError(
                'CrossDomainMixup: aux_dataset is missing. Give a folder of '
                "natural images, a dataset config (e.g. dict(type="
                "'NaturalPhotoPool')) or a built dataset.")
        if isinstance(aux, str):
            aux = dict(
                type='CustomDataset', data_root=aux, with_label=False)
        if isinstance(aux, dict):
            aux = dict(aux)
            if 'pipeline' not in aux:
                aux['pipeline'] = pipeline or []
            desc = aux.get('data_root') or aux.get('type')
            try:
                aux = DATASETS.build(aux)
            except (FileNotFoundError, RuntimeError, AssertionError) as e:
                raise ValueError(
                    f'CrossDomainMixup: could not build the auxiliary '
                    f'dataset {desc!r}: {e}\nPoint aux_dataset at an existing '
                    'folder of natural images (e.g. Imagenette '
                    "train/) or use dict(type='NaturalPhotoPool').") from e
        if len(aux) == 0:
            raise ValueError(
                'CrossDomainMixup: the auxiliary dataset '
                f'{type(aux).__name__} is empty; it needs at least one image. '
                'Check its data_root / ann_file.')
        return aux

    def transform(self, results: dict) -> dict:
        x_t = results['img']
        if isinstance(x_t, list):
            raise TypeError(
                'CrossDomainMixup: img is already a list of views; put '
                'CrossDomainMixup once, after the target augmentations and '
                'before PackInputs, not inside MultiView.')
        idx = np.random.randint(len(self.aux_dataset))
        aux = self.aux_dataset[idx]
        x_a = aux['img']
        x_t, x_a = _to_rgb3(x_t), _to_rgb3(x_a)
        if x_t.shape[:2] != x_a.shape[:2]:
            raise ValueError(
                f'CrossDomainMixup: target image is {x_t.shape[:2]} but the '
                f'auxiliary image is {x_a.shape[:2]}; give the auxiliary '
                'pipeline the same final size as the target pipeline (e.g. '
                'the same RandomResizedCrop scale).')
        results['img'] = [x_t, x_a]
        results['mix_alpha'] = self.alpha
        if self.lam_mode == 'sample':
            results['mix_lam'] = float(np.random.beta(self.alpha, self.alpha))
        if 'gt_label' in aux:
            results['aux_label'] = aux['gt_label']
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(aux_dataset='
                f'{type(self.aux_dataset).__name__}'
                f'(len={len(self.aux_dataset)}), alpha={self.alpha}, '
                f'lam_mode={self.lam_mode!r})')


def _to_rgb3(img: np.ndarray) -> np.ndarray:
    # Gray images are repeated to three channels so that gray targets can be
    # mixed with colour photos (and the reverse); colour is never dropped.
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return img
