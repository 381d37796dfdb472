# Copyright (c) mixssl_mm contributors. All rights reserved.
import torch
from mmpretrain.models.losses import PixelReconstructionLoss
from mmpretrain.registry import MODELS


@MODELS.register_module()
class ReconstructionLoss(PixelReconstructionLoss):
    """Pixel reconstruction loss of MixSSL's objective (R).

    ``L_rec = MSE(decoder(encoder(x_mix)), x_t)`` — the mean over every pixel
    and channel of the batch.

    The penalty and the mean are mmpretrain's
    :class:`PixelReconstructionLoss` (without a mask: the mean of the
    element-wise ``MSELoss``/``L1Loss``, which equals ``F.mse_loss`` /
    ``F.l1_loss`` bit for bit). This class adds MixSSL's config keys
    (``criterion='mse'|'l1'``, ``loss_weight``), computes in fp32 and refuses
    a prediction whose shape differs from the target's.

    Args:
        criterion (str): ``'mse'`` (the paper's) or ``'l1'``. Defaults to
            ``'mse'``.
        loss_weight (float): Weight of the loss. Defaults to 1.0.

    Raises:
        ValueError: An unknown ``criterion``, a negative ``loss_weight``, or
            (in :meth:`forward`) prediction and target of different shapes.
    """

    # MixSSL's names -> PixelReconstructionLoss's
    _CRITERIA = {'mse': 'L2', 'l1': 'L1'}

    def __init__(self, criterion: str = 'mse', loss_weight: float = 1.0):
        if criterion not in self._CRITERIA:
            raise ValueError(
                f'ReconstructionLoss: unknown criterion {criterion!r}; use '
                f'one of {sorted(self._CRITERIA)}.')
        if loss_weight < 0:
            raise ValueError('ReconstructionLoss: loss_weight must be >= 0, '
                             f'got {loss_weight}.')
        super().__init__(criterion=self._CRITERIA[criterion])
        self.criterion = criterion
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        """Forward function.

        Args:
            pred (torch.Tensor): Reconstructed images, (N, C, H, W).
            target (torch.Tensor): The clean target images, same shape.

        Returns:
            torch.Tensor: The weighted scalar loss (fp32).
        """
        if pred.shape != target.shape:
            raise ValueError(
                f'ReconstructionLoss: prediction shape {tuple(pred.shape)} '
                f'differs from target shape {tuple(target.shape)}; the '
                'decoder must restore the input size (check its '
                'num_upsamples against the encoder stride).')
        # fp32 so bf16 autocast does not round the squared errors
        loss = super().forward(pred.float(), target.float())
        return self.loss_weight * loss
