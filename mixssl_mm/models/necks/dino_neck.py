# Copyright (c) mixssl_mm contributors. All rights reserved.
from typing import List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import nn


@MODELS.register_module()
class DINONeck(BaseModule):
    """DINO's projection head: MLP, L2-normalisation, weight-normalised
    last layer.

    From `Emerging Properties in Self-Supervised Vision Transformers
    <https://arxiv.org/abs/2104.14294>`_ (Caron et al., ICCV 2021)::

        x → [avg-pool] → Linear → [BN] → GELU → … → Linear(bottleneck)
          → x / ‖x‖ → x·(g ⊙ V / ‖V‖_row)ᵀ        (no bias)

    The last layer is ``weight_norm(Linear(bottleneck, out, bias=False))``
    written out: each output row of ``V`` is divided by its norm and scaled
    by ``g``. With ``norm_last_layer=True`` (DINO's default) ``g`` is fixed
    to 1, so only the direction of each prototype is learnt.

    DINO keeps the last layer fixed at the start of training (its
    ``freeze_last_layer``); here that is :class:`DINOLastLayerFreezeHook`,
    which drops the gradients of :meth:`last_layer_parameters` before each
    optimizer step. The neck itself always uses (and differentiates through)
    the layer, so every parameter gets a gradient in every iteration, as
    DistributedDataParallel requires.

    mmpretrain 1.2 ships no DINO neck (its ``projects/dino`` is not
    installed), hence this one; ``NonLinearNeck`` has ReLU and no weight-
    normalised output layer.

    Args:
        in_channels (int): Encoder output channels (2048 for ResNet-50).
        out_channels (int): K, the number of prototypes. Defaults to 65536.
        hid_channels (int): MLP hidden width. Defaults to 2048.
        bottleneck_channels (int): MLP output width. Defaults to 256.
        num_layers (int): Linear layers of the MLP (≥ 1). Defaults to 3.
        with_avg_pool (bool): Global-average-pool (N, C, H, W) features
            first. Defaults to True.
        use_bn (bool): BatchNorm1d after each hidden linear layer (DINO's
            ``use_bn_in_head``). Defaults to False.
        norm_last_layer (bool): Fix ``g`` to 1. Defaults to True.
        init_cfg (dict | list[dict], optional): Defaults to DINO's
            truncated-normal (std 0.02) init of the linear layers.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 65536,
        hid_channels: int = 2048,
        bottleneck_channels: int = 256,
        num_layers: int = 3,
        with_avg_pool: bool = True,
        use_bn: bool = False,
        norm_last_layer: bool = True,
        init_cfg: Optional[Union[dict, List[dict]]] = dict(
            type='TruncNormal', layer='Linear', std=0.02, bias=0.)
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_layers < 1:
            raise ValueError(f'DINONeck: num_layers must be >= 1, got '
                             f'{num_layers}.')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.with_avg_pool = with_avg_pool
        layers = []
        dims = [in_channels] + [hid_channels] * (num_layers - 1)
        for i, d_in in enumerate(dims):
            last = i == len(dims) - 1
            layers.append(
                nn.Linear(d_in, bottleneck_channels if last else hid_channels))
            if not last:
                if use_bn:
                    layers.append(nn.BatchNorm1d(hid_channels))
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        self.last_layer = nn.Linear(
            bottleneck_channels, out_channels, bias=False)
        if norm_last_layer:
            self.last_layer_g = None
        else:
            self.last_layer_g = nn.Parameter(torch.ones(out_channels, 1))

    def last_layer_parameters(self) -> List[nn.Parameter]:
        """The parameters of the weight-normalised last layer: ``V`` and,
        with ``norm_last_layer=False``, ``g`` (what DINO's
        ``cancel_gradients_last_layer`` holds still)."""
        params = [self.last_layer.weight]
        if self.last_layer_g is not None:
            params.append(self.last_layer_g)
        return params

    def last_layer_weight(self) -> torch.Tensor:
        """``g ⊙ V / ‖V‖_row``, shape (K, bottleneck_channels)."""
        w = F.normalize(self.last_layer.weight, dim=1)
        if self.last_layer_g is not None:
            w = w * self.last_layer_g
        return w

    def forward(
            self, x: Union[torch.Tensor,
                           Tuple[torch.Tensor]]) -> Tuple[torch.Tensor]:
        """Logits (N, K) over the prototypes, in a 1-tuple."""
        if isinstance(x, (list, tuple)):
            x = x[-1]
        if self.with_avg_pool and x.dim() == 4:
            x = F.adaptive_avg_pool2d(x, 1)
        x = self.mlp(x.flatten(1))
        x = F.normalize(x, dim=-1)
        return (F.linear(x, self.last_layer_weight()), )
