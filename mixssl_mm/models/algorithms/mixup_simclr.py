# Copyright (c) mixssl_mm contributors. All rights reserved.
from typing import Dict, List

import torch
from mmpretrain.models.selfsup.simclr import SimCLR
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..utils import (check_mix_args, check_two_views, mix_batch,
                     sample_batch_mix)


@MODELS.register_module()
class MixupSimCLR(SimCLR):
    """SimCLR trained on mix-up inputs (the "Mixup + SimCLR" baseline).

    mmpretrain's :class:`SimCLR` (same neck, head and NT-Xent loss) whose two
    views are mixed within the batch first, here on the device::

        m_i = (1 − λ_i)·x_i + λ_i·x_perm(i),   λ ~ Beta(α, α)
        v1(m_i) = (1 − λ_i)·v1(x_i) + λ_i·v1(x_perm(i))     (same for v2)
        L = NT-Xent(v1(m), v2(m))

    The partner ``perm(i)`` and ``λ_i`` are shared by the two views, so the
    two views of sample ``i`` are two augmentations of the *same* mixed image
    and stay each other's only positive; every other mixed image in the batch
    is a negative. Mixing happens after augmentation (each view mixes the
    corresponding views of ``x_i`` and ``x_perm(i)``), which is how a mixed
    image's views are formed without augmenting on the device. Nothing is
    soft here: the semi-positive targets of :class:`MixCo` are not used.

    Args:
        backbone (dict): The encoder, e.g. mmpretrain's ``ResNet``.
        neck (dict): The projector, e.g. ``NonLinearNeck``.
        head (dict): ``ContrastiveHead`` (holds the temperature).
        alpha (float): λ ~ Beta(α, α). Defaults to 1.0.
        lam_mode (str): ``'batch'``: one λ per batch, as classic mix-up;
            ``'sample'``: one λ per image. Defaults to ``'batch'``.
        **kwargs: ``pretrained``, ``data_preprocessor`` and ``init_cfg`` of
            mmpretrain's ``BaseSelfSupervisor``.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 alpha: float = 1.0,
                 lam_mode: str = 'batch',
                 **kwargs) -> None:
        check_mix_args(alpha, lam_mode, 'MixupSimCLR')
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        self.alpha = float(alpha)
        self.lam_mode = lam_mode

    def mix_views(self, inputs: List[torch.Tensor]) -> List[torch.Tensor]:
        """Mix every view with the same λ and partners."""
        check_two_views(inputs, 'MixupSimCLR')
        lam, perm = sample_batch_mix(inputs[0].size(0), self.alpha,
                                     self.lam_mode, inputs[0].device)
        return [mix_batch(x, lam, perm) for x in inputs]

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """SimCLR's NT-Xent (``loss``) on the views of :meth:`mix_views`;
        ``inputs`` are ``[view1, view2]``, each (N, 3, H, W)."""
        return super().loss(self.mix_views(inputs), data_samples, **kwargs)
