# Copyright (c) mixssl_mm contributors. All rights reserved.
from typing import Dict, List, Optional, Union

import torch

from mmpretrain.models.selfsup.simclr import SimCLR
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from .batch_mix import check_mix_args, mix_batch, sample_batch_mix


@MODELS.register_module()
class MixupSimCLR(SimCLR):
    """SimCLR trained on mix-up inputs (the "Mixup + SimCLR" baseline).

    mmpretrain's :class:`SimCLR` (same neck, head and NT-Xent loss) whose two
    views are mixed within the batch first, here on the device::

        m_i = λ_i·x_i + (1 − λ_i)·x_perm(i),   λ ~ Beta(α, α)
        v1(m_i) = λ_i·v1(x_i) + (1 − λ_i)·v1(x_perm(i))     (same for v2)
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
        pretrained (str, optional): Checkpoint to initialise the whole model
            from. Defaults to None.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 alpha: float = 1.0,
                 lam_mode: str = 'batch',
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        check_mix_args(alpha, lam_mode, 'MixupSimCLR')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.alpha = float(alpha)
        self.lam_mode = lam_mode

    def mix_views(self, inputs: List[torch.Tensor]) -> List[torch.Tensor]:
        """Mix every view with the same λ and partners."""
        if not (isinstance(inputs, (list, tuple)) and len(inputs) == 2):
            raise TypeError('MixupSimCLR expects inputs=[view1, view2] '
                            "(MultiView(num_views=2)), got "
                            f'{type(inputs).__name__}.')
        lam, perm = sample_batch_mix(inputs[0].size(0), self.alpha,
                                     self.lam_mode, inputs[0].device)
        return [mix_batch(x, lam, perm) for x in inputs]

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """NT-Xent on the mixed views.

        Args:
            inputs (List[torch.Tensor]): ``[view1, view2]``, each
                (N, 3, H, W).
            data_samples (List[DataSample]): Unused.

        Returns:
            Dict[str, torch.Tensor]: ``loss``.
        """
        return super().loss(self.mix_views(inputs), data_samples, **kwargs)
