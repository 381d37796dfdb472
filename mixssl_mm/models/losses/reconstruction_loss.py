# Copyright (c) mixssl_mm contributors. All rights reserved.
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmpretrain.registry import MODELS


@MODELS.register_module()
class ReconstructionLoss(nn.Module):
    """Pixel reconstruction loss of MixSSL's objective (R).

    ``L_rec = MSE(decoder(encoder(x_mix)), x_t)`` — the mean over every pixel
    and channel of the batch.

    Args:
        criterion (str): ``'mse'`` (the paper's) or ``'l1'``. Defaults to
            ``'mse'``.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    _CRITERIA = {'mse': F.mse_loss, 'l1': F.l1_loss}

    def __init__(self, criterion: str = 'mse', loss_weight: float = 1.0):
        super().__init__()
        if criterion not in self._CRITERIA:
            raise ValueError(
                f'ReconstructionLoss: unknown criterion {criterion!r}; use '
                f'one of {sorted(self._CRITERIA)}.')
        if loss_weight < 0:
            raise ValueError('ReconstructionLoss: loss_weight must be >= 0, '
                             f'got {loss_weight}.')
        self.criterion = criterion
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        """Forward function.

        Args:
            pred (torch.Tensor): Reconstructed images, (N, C, H, W).
            target (torch.Tensor): The clean target images, same shape.

        Returns:
            torch.Tensor: The weighted scalar loss.
        """
        if pred.shape != target.shape:
            raise ValueError(
                f'ReconstructionLoss: prediction shape {tuple(pred.shape)} '
                f'differs from target shape {tuple(target.shape)}; the '
                'decoder must restore the input size (check its '
                'num_upsamples against the encoder stride).')
        # fp32 so bf16 autocast does not round the squared errors
        loss = self._CRITERIA[self.criterion](pred.float(), target.float())
        return self.loss_weight * loss
