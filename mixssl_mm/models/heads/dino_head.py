# Copyright (c) mixssl_mm contributors. All rights reserved.
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.dist import all_reduce, get_world_size
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


@MODELS.register_module()
class DINOHead(BaseModule):
    """DINO's self-distillation loss with centering and sharpening.

    From `Emerging Properties in Self-Supervised Vision Transformers
    <https://arxiv.org/abs/2104.14294>`_ (Caron et al., ICCV 2021). For the
    teacher's logits ``t`` of each global crop and the student's logits
    ``s`` of every *other* crop::

        P_t = softmax((t − c) / τ_t)        (centred, sharpened; no gradient)
        L   = mean over (teacher crop q, student crop v ≠ q) of
              mean_i  −Σ_k P_t[i, k]·log softmax(s_v / τ_s)[i, k]

    then the centre is updated with the teacher's batch mean (over all
    global crops, all ranks)::

        c ← m·c + (1 − m)·mean(t)

    The loss uses the centre from *before* the update. The soft cross-entropy
    is mmpretrain's ``CrossEntropyLoss(use_soft=True)``.

    ``teacher_temp`` is a plain attribute: a warm-up of τ_t (DINO's
    ``warmup_teacher_temp``) is :class:`DINOTeacherTempWarmupHook`, which sets
    it before every training iteration, as mmpretrain's ``projects/dino``
    does; the head itself reads no training state.

    Args:
        out_channels (int): K, the neck's number of prototypes.
        student_temp (float): τ_s. Defaults to 0.1.
        teacher_temp (float): τ_t (after any warm-up). Defaults to 0.04.
        center_momentum (float): m. Defaults to 0.9.
        loss (dict): The soft cross-entropy. Defaults to
            ``dict(type='CrossEntropyLoss', use_soft=True)``.
        init_cfg (dict | list[dict], optional): Defaults to None.
    """

    def __init__(self,
                 out_channels: int,
                 student_temp: float = 0.1,
                 teacher_temp: float = 0.04,
                 center_momentum: float = 0.9,
                 loss: dict = dict(type='CrossEntropyLoss', use_soft=True),
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value in (('student_temp', student_temp), ('teacher_temp',
                                                             teacher_temp)):
            if not float(value) > 0:
                raise ValueError(f'DINOHead: {name} must be > 0, got {value}.')
        if not 0 <= center_momentum <= 1:
            raise ValueError('DINOHead: center_momentum must lie in [0, 1], '
                             f'got {center_momentum}.')
        self.out_channels = out_channels
        self.student_temp = float(student_temp)
        self.teacher_temp = float(teacher_temp)
        self.center_momentum = float(center_momentum)
        self.loss_module = MODELS.build(loss)
        self.register_buffer('center', torch.zeros(1, out_channels))

    @torch.no_grad()
    def teacher_probs(self,
                      teacher_logits: torch.Tensor,
                      teacher_temp: Optional[float] = None) -> torch.Tensor:
        """``softmax((t − c) / τ_t)``, without gradient; τ_t defaults to
        :attr:`teacher_temp`. ``teacher_logits``: (N, K)."""
        temp = self.teacher_temp if teacher_temp is None else teacher_temp
        return F.softmax((teacher_logits - self.center) / temp, dim=-1)

    @torch.no_grad()
    def update_center(self, teacher_logits: torch.Tensor) -> None:
        """``c ← m·c + (1 − m)·mean(t)``, the mean taken over all ranks."""
        batch_sum = teacher_logits.float().sum(dim=0, keepdim=True)
        all_reduce(batch_sum)  # sum over ranks; a no-op on one process
        batch_center = batch_sum / (teacher_logits.size(0) * get_world_size())
        self.center.mul_(self.center_momentum).add_(
            batch_center.to(self.center.dtype), alpha=1 - self.center_momentum)

    def loss(self, student_logits: Sequence[torch.Tensor],
             teacher_logits: Sequence[torch.Tensor]) -> torch.Tensor:
        """The DINO loss; updates the centre afterwards.

        Args:
            student_logits (Sequence[torch.Tensor]): One (N, K) tensor per
                crop, the global crops first, in the teacher's order.
            teacher_logits (Sequence[torch.Tensor]): One (N, K) tensor per
                global crop.

        Returns:
            torch.Tensor: The loss, averaged over the crop pairs.
        """
        if len(student_logits) <= 1 or not teacher_logits:
            raise ValueError('DINOHead: needs at least 2 student crops and '
                             '1 teacher crop.')
        targets = [self.teacher_probs(t) for t in teacher_logits]
        total, terms = 0., 0
        for q, target in enumerate(targets):
            for v, s in enumerate(student_logits):
                if v == q:  # the same view: skipped
                    continue
                total = total + self.loss_module(s / self.student_temp,
                                                 target.to(s.dtype))
                terms += 1
        self.update_center(torch.cat(list(teacher_logits)))
        return total / terms
