# Copyright (c) mixssl_mm contributors. All rights reserved.
from typing import Dict, List

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..utils import nt_xent
from .mixssl import MixSSL


@MODELS.register_module()
class MixSSLContrast(MixSSL):
    """MixSSL with Table 3's objective C: NT-Xent between two differently
    mixed views of each target (configs/mixssl/ablations/mixssl-rc_*.py)::

        x'_mix,i = (1 - λ'_i)·x_t,i + λ'_i·x_a,i+1
        L_contrast = NT-Xent(proj(encoder(x_mix)), proj(encoder(x'_mix)))

    The second view keeps the target, takes the next sample's auxiliary
    image (the batch rolled by one) and a second draw λ' of the model's
    λ sampler (per sample or per batch, as ``lam_mode``). It costs one more
    encoder pass. See docs/baselines.md, "Ablations".

    Args:
        contrast_neck (dict): The projector, e.g. mmpretrain's
            ``NonLinearNeck`` (with ``with_avg_pool=True``).
        contrast_head (dict): mmpretrain's ``ContrastiveHead``: τ and the
            loss (its ``loss_weight`` weighs ``loss_contrast``).
        **kwargs: :class:`MixSSL`'s arguments (the ablation sets
            ``use_trans=False``: R+C).
    """

    ENCODER_READERS = MixSSL.ENCODER_READERS + ('contrast_neck', )

    def __init__(self, contrast_neck: dict, contrast_head: dict, **kwargs):
        super().__init__(**kwargs)
        # built after the R/T modules, so that their weight init draws the
        # same random numbers as in MixSSL
        self.contrast_neck = MODELS.build(contrast_neck)
        self.contrast_head = MODELS.build(contrast_head)

    def _has_extra_objective(self) -> bool:
        return True

    def project(self, feats) -> torch.Tensor:
        """L2-normalised projections (N, d) of encoder features."""
        return F.normalize(self.contrast_neck(feats)[0], dim=1)

    def extra_losses(
            self, out: dict,
            data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """``loss_contrast``: SimCLR's NT-Xent with ``contrast_head`` on the
        two views, gathered across ranks."""
        losses = super().extra_losses(out, data_samples)
        lam2 = self.lam_sampler(out['lam'].numel(), out['lam'].device)
        x_mix2 = self.mix(out['target'], out['aux'].roll(-1, 0), lam2)
        z1 = self.project(out['feats'])
        z2 = self.project(self.backbone(x_mix2))
        losses['loss_contrast'] = nt_xent(z1, z2, self.contrast_head)
        return losses
