# Copyright (c) mixssl_mm contributors. All rights reserved.
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


@MODELS.register_module()
class TransparencyHead(BaseModule):
    """Predicts the mixing coefficient λ of a mixed image (objective T).

    Global-average-pooled encoder features → Linear(C, 128) → ReLU →
    Linear(128, 1) → sigmoid, so λ̂ lies in [0, 1] like λ itself.

    Args:
        in_channels (int): Channels of the encoder's last feature map.
            Defaults to 2048 (ResNet-50).
        hid_channels (int): Hidden units. Defaults to 128 (the paper's).
        loss (dict): Config of the loss; its ``loss_weight`` is γ.
            Defaults to ``dict(type='TransparencyLoss', loss_weight=1.0)``.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int = 2048,
                 hid_channels: int = 128,
                 loss: dict = dict(type='TransparencyLoss', loss_weight=1.0),
                 init_cfg: Optional[Union[dict, list]] = None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, hid_channels), nn.ReLU(inplace=True),
            nn.Linear(hid_channels, 1))
        self.loss_module = MODELS.build(loss)

    def forward(
            self, feats: Union[torch.Tensor,
                               Sequence[torch.Tensor]]) -> torch.Tensor:
        """Return λ̂ of shape (N, ) from the last encoder feature map."""
        if isinstance(feats, (list, tuple)):
            feats = feats[-1]
        if feats.dim() == 4:
            feats = feats.mean(dim=(2, 3))
        if feats.size(1) != self.in_channels:
            raise ValueError(
                f'TransparencyHead: got {feats.size(1)}-channel features but '
                f'in_channels={self.in_channels}; set head.in_channels to the '
                'encoder output channels (2048 for ResNet-50, 512 for '
                'ResNet-18/34).')
        return torch.sigmoid(self.mlp(feats)).squeeze(1)

    def loss(self, feats: Union[torch.Tensor, Sequence[torch.Tensor]],
             lam: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Compute ``loss_trans`` against the true λ (scalar or (N, ))."""
        return dict(loss_trans=self.loss_module(self(feats), lam))
