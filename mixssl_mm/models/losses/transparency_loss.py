# Copyright (c) mixssl_mm contributors. All rights reserved.
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS


@MODELS.register_module()
class TransparencyLoss(nn.Module):
    """L1 loss between predicted and true mixing coefficient (objective T).

    ``L_trans = mean |λ̂ − λ|``. Its ``loss_weight`` is the paper's γ.

    Args:
        loss_weight (float): γ, the weight of the loss. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        if not isinstance(loss_weight, (int, float)) or loss_weight < 0:
            raise ValueError('TransparencyLoss: loss_weight (γ) must be a '
                             f'number >= 0, got {loss_weight!r}.')
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        """Forward function.

        Args:
            pred (torch.Tensor): Predicted λ̂, shape (N, ) or (N, 1).
            target (torch.Tensor): True λ, a scalar (one λ per batch) or a
                tensor broadcastable to ``pred``.

        Returns:
            torch.Tensor: The weighted scalar loss.
        """
        pred = pred.float().reshape(-1)
        target = torch.as_tensor(
            target, dtype=torch.float32, device=pred.device).reshape(-1)
        target = target.expand_as(pred)
        return self.loss_weight * F.l1_loss(pred, target)
