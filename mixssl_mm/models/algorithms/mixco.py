# Copyright (c) mixssl_mm contributors. All rights reserved.
from typing import Dict, List

import torch
import torch.nn.functional as F
from mmpretrain.models.selfsup.simclr import SimCLR
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..utils import (check_mix_args, check_two_views, mix_batch, nt_xent,
                     sample_batch_mix)


@MODELS.register_module()
class MixCo(SimCLR):
    """MixCo: mix-up contrast, on top of SimCLR.

    Implementation of `MixCo: Mix-up Contrastive Learning for Visual
    Representation <https://arxiv.org/abs/2010.06300>`_ (Kim et al., 2020)
    in its SimCLR form (the paper applies MixCo to MoCo v2 and to SimCLR;
    here the base is mmpretrain's :class:`SimCLR`, so there is no queue and
    the keys are the batch).

    With the two views ``v1``, ``v2`` of a batch of N images (done here, on
    the device)::

        L_contrast = NT-Xent(z(v1), z(v2))                      (SimCLR)
        m_i = (1 − λ_i)·v1_i + λ_i·v1_perm(i),   λ_i ~ Beta(α, α)
        p_i = softmax_k( q(m_i)·z(v2_k) / τ_mix )              (k = 1..N)
        y_i = (1 − λ_i)·e_i + λ_i·e_perm(i)                     (soft target)
        L_mix = mean_i CE(y_i, p_i), and symmetrically v2-mixes against v1
        L = L_contrast + β·L_mix

    The mixed query is a *semi-positive* of both of its sources: its target
    puts 1 − λ_i on the key of the other view of image ``i`` and λ_i (the
    partner's weight, the project's λ convention) on the key of its partner
    ``perm(i)``; all other keys are negatives. Keys are
    not detached (as in the authors' SimCLR code). ``z`` and ``q`` are the
    L2-normalised outputs of the same backbone + neck; the mixed images go
    through the encoder in a batch of their own. The partners come from a
    random permutation of the batch (the authors' SimCLR code pairs the two
    halves of the batch instead); a partner equal to the image itself gives
    the hard target ``e_i``, which is what that "mix" is. ``L_mix`` is local
    to each rank; ``L_contrast`` gathers across ranks as in SimCLR.

    Args:
        backbone (dict): The encoder, e.g. mmpretrain's ``ResNet``.
        neck (dict): The projector, e.g. ``NonLinearNeck``.
        head (dict): ``ContrastiveHead`` for ``L_contrast`` (its temperature
            is SimCLR's τ).
        alpha (float): λ ~ Beta(α, α); the paper uses α = 1 (uniform).
            Defaults to 1.0.
        lam_mode (str): ``'sample'``: one λ per image (the paper's);
            ``'batch'``: one λ per view batch. Defaults to ``'sample'``.
        mix_temperature (float): τ_mix of the mix logits. Defaults to 0.1.
        mix_loss (dict): The soft-target loss; its ``loss_weight`` is β.
            Defaults to ``dict(type='CrossEntropyLoss', use_soft=True,
            loss_weight=1.0)``.
        **kwargs: ``pretrained``, ``data_preprocessor`` and ``init_cfg`` of
            mmpretrain's ``BaseSelfSupervisor``.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 alpha: float = 1.0,
                 lam_mode: str = 'sample',
                 mix_temperature: float = 0.1,
                 mix_loss: dict = dict(
                     type='CrossEntropyLoss', use_soft=True, loss_weight=1.0),
                 **kwargs) -> None:
        check_mix_args(alpha, lam_mode, 'MixCo')
        if not float(mix_temperature) > 0:
            raise ValueError(
                f'MixCo: mix_temperature must be > 0, got {mix_temperature}.')
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        self.alpha = float(alpha)
        self.lam_mode = lam_mode
        self.mix_temperature = float(mix_temperature)
        self.mix_loss = MODELS.build(mix_loss)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalised projections (N, d) of a batch of images."""
        z = self.neck(self.backbone(x))[0]
        return F.normalize(z, dim=1)

    def contrastive_loss(self, z1: torch.Tensor,
                         z2: torch.Tensor) -> torch.Tensor:
        """SimCLR's NT-Xent (as :meth:`SimCLR.loss`, gathered across ranks)
        for normalised projections of the two views."""
        return nt_xent(z1, z2, self.head)

    @staticmethod
    def soft_targets(lam: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
        """``y_i = (1 − λ_i)·e_i + λ_i·e_perm(i)``, shape (N, N)."""
        n = lam.size(0)
        idx = torch.arange(n, device=lam.device)
        targets = torch.zeros(n, n, device=lam.device, dtype=lam.dtype)
        targets.index_put_((idx, idx), 1 - lam, accumulate=True)
        targets.index_put_((idx, perm), lam, accumulate=True)
        return targets

    def mixco_loss(self, q_mix: torch.Tensor, keys: torch.Tensor,
                   lam: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
        """β·CE(soft targets, softmax(q_mix·keysᵀ / τ_mix)), averaged over
        the mixed queries; ``q_mix`` and ``keys`` are normalised (N, d)."""
        logits = torch.matmul(q_mix, keys.t()) / self.mix_temperature
        return self.mix_loss(logits,
                             self.soft_targets(lam, perm).to(logits.dtype))

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """The SimCLR and the mix-up contrast losses.

        Args:
            inputs (List[torch.Tensor]): ``[view1, view2]``, each
                (N, 3, H, W).
            data_samples (List[DataSample]): Unused.

        Returns:
            Dict[str, torch.Tensor]: ``loss_contrast`` and ``loss_mix``
            (β-weighted).
        """
        check_two_views(inputs, 'MixCo')
        v1, v2 = inputs
        n = v1.size(0)
        z1, z2 = self.project(torch.cat([v1, v2])).split(n)
        loss_contrast = self.contrastive_loss(z1, z2)

        draws = [
            sample_batch_mix(n, self.alpha, self.lam_mode, v1.device)
            for _ in range(2)
        ]
        mixed = torch.cat(
            [mix_batch(x, lam, perm) for x, (lam, perm) in zip(inputs, draws)])
        q1, q2 = self.project(mixed).split(n)
        # view-1 mixes against view-2 keys and vice versa
        loss_mix = (self.mixco_loss(q1, z2, *draws[0]) +
                    self.mixco_loss(q2, z1, *draws[1])) / 2
        return dict(loss_contrast=loss_contrast, loss_mix=loss_mix)
