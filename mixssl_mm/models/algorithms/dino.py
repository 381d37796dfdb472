# Copyright (c) mixssl_mm contributors. All rights reserved.
from typing import Dict, List

import torch
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.models.utils import CosineEMA
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn


@MODELS.register_module()
class DINO(BaseSelfSupervisor):
    """DINO (self-distillation with no labels), for any encoder, e.g. ResNet.

    Implementation of `Emerging Properties in Self-Supervised Vision
    Transformers <https://arxiv.org/abs/2104.14294>`_ (Caron et al., ICCV
    2021). mmpretrain 1.2 ships no DINO (only ``projects/dino`` in its
    source tree, which is not installed and is ViT-only); this one reuses
    mmpretrain's ``CosineEMA`` for the teacher.

    * student = backbone + :class:`DINONeck`; teacher = an EMA copy of both
      (mmpretrain's ``CosineEMA``: ``θ_t ← (1 − m)·θ_t + m·θ_s`` with ``m``
      annealed from ``base_momentum`` to ``end_momentum`` by a cosine over
      the run, i.e. DINO's teacher momentum 1 − m from 0.996 to 1). The
      teacher is updated at the start of each :meth:`loss` (as mmpretrain's
      BYOL does), is never optimised, and its buffers (BN statistics) follow
      the student's.
    * multi-crop: ``inputs`` are the views of mmpretrain's ``MultiView``,
      the ``num_global_crops`` global crops first, then the local crops.
      The teacher sees the global crops, the student all crops; crops of the
      same size go through the encoder together.
    * :class:`DINOHead` gives the loss (centering, temperatures).

    Args:
        backbone (dict): The encoder, e.g. mmpretrain's ``ResNet``.
        neck (dict): :class:`DINONeck`.
        head (dict): :class:`DINOHead`.
        base_momentum (float): EMA momentum ``m`` at the start (1 − DINO's
            ``momentum_teacher``). Defaults to 0.004.
        end_momentum (float): ``m`` at the end. Defaults to 0.
        num_global_crops (int): How many leading views are global crops.
            Defaults to 2.
        **kwargs: ``pretrained``, ``data_preprocessor`` and ``init_cfg`` of
            mmpretrain's ``BaseSelfSupervisor``.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 base_momentum: float = 0.004,
                 end_momentum: float = 0.,
                 num_global_crops: int = 2,
                 **kwargs) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        if num_global_crops < 1:
            raise ValueError('DINO: num_global_crops must be >= 1, got '
                             f'{num_global_crops}.')
        out = getattr(self.neck, 'out_channels', None)
        if out is not None and out != self.head.out_channels:
            raise ValueError(
                f'DINO: the neck has {out} prototypes but head.out_channels='
                f'{self.head.out_channels}; set them equal.')
        self.num_global_crops = int(num_global_crops)
        self.teacher = CosineEMA(
            nn.Sequential(self.backbone, self.neck),
            momentum=base_momentum,
            end_momentum=end_momentum)

    @staticmethod
    def _forward_by_size(net: nn.Module,
                         crops: List[torch.Tensor]) -> List[torch.Tensor]:
        """Run ``net`` once per run of consecutive same-size crops; returns
        one (N, K) tensor per crop."""
        outs, start = [], 0
        while start < len(crops):
            end = start + 1
            while end < len(crops) and \
                    crops[end].shape[-2:] == crops[start].shape[-2:]:
                end += 1
            logits = net(torch.cat(crops[start:end]))[0]
            outs.extend(logits.chunk(end - start))
            start = end
        return outs

    def _check_inputs(self, inputs) -> None:
        ok = (
            isinstance(inputs,
                       (list, tuple)) and len(inputs) > self.num_global_crops
            and len({x.size(0)
                     for x in inputs}) == 1)
        if not ok:
            got = (f'{len(inputs)} views' if isinstance(inputs, (list, tuple))
                   else type(inputs).__name__)
            raise TypeError(
                f'DINO expects the {self.num_global_crops} global crops '
                'followed by at least one more crop (MultiView(num_views=[1, '
                f'1, n_local], ...)), all of the same batch size; got {got}.')

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """The DINO loss over all (teacher global crop, other student crop)
        pairs.

        Args:
            inputs (List[torch.Tensor]): The global crops, then the local
                crops, each (N, 3, H_v, W_v).
            data_samples (List[DataSample]): Unused.

        Returns:
            Dict[str, torch.Tensor]: ``loss``.
        """
        self._check_inputs(inputs)
        student = nn.Sequential(self.backbone, self.neck)
        with torch.no_grad():
            self.teacher.update_parameters(student)
            teacher_out = self._forward_by_size(
                self.teacher, list(inputs[:self.num_global_crops]))
        student_out = self._forward_by_size(student, list(inputs))
        return dict(loss=self.head.loss(student_out, teacher_out))
