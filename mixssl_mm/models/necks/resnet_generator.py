# Copyright (c) mixssl_mm contributors. All rights reserved.
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

_PAD_MODES = ('reflect', 'replicate', 'zeros')


def _pad(x: torch.Tensor, pad: int, mode: str) -> torch.Tensor:
    if mode == 'zeros':
        return F.pad(x, (pad, ) * 4)
    # Reflect padding needs a map larger than the pad (a 32-px input through
    # ResNet leaves 1x1 features); replicate is the nearest valid choice.
    if mode == 'reflect' and min(x.shape[-2:]) <= pad:
        mode = 'replicate'
    return F.pad(x, (pad, ) * 4, mode=mode)


class _PaddedConv(nn.Module):
    """Explicit padding followed by an unpadded convolution (as CycleGAN)."""

    def __init__(self, in_channels, out_channels, kernel_size, padding_mode,
                 bias):
        super().__init__()
        self.pad = kernel_size // 2
        self.padding_mode = padding_mode
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, padding=0, bias=bias)

    def forward(self, x):
        return self.conv(_pad(x, self.pad, self.padding_mode))


class ResnetBlock(nn.Module):
    """CycleGAN's residual block: two padded 3x3 convs with a skip."""

    def __init__(self, channels, norm_cfg, padding_mode, use_dropout, bias):
        super().__init__()
        layers = [
            _PaddedConv(channels, channels, 3, padding_mode, bias),
            build_norm_layer(norm_cfg, channels)[1],
            nn.ReLU(inplace=True)
        ]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [
            _PaddedConv(channels, channels, 3, padding_mode, bias),
            build_norm_layer(norm_cfg, channels)[1]
        ]
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.block(x)


@MODELS.register_module()
class ResnetGenerator(BaseModule):
    """CycleGAN's ResnetGenerator, driven from encoder features (decoder R).

    CycleGAN maps an image to an image (c7s1-64, d128, d256, residual blocks,
    u128, u64, c7s1-3). MixSSL's decoder starts from the encoder's last
    feature map (e.g. 2048x7x7 for ResNet-50 at 224 px), so the down-sampling
    part is replaced by a 1x1 stem, the residual blocks run at the feature
    resolution and ``num_upsamples`` x2 stages restore the input size::

        1x1 conv (in_channels -> res_channels) - norm - ReLU
        n_blocks x ResnetBlock(res_channels)
        num_upsamples x [ConvTranspose 3x3 /2 - norm - ReLU], channels
            halving from res_channels, never below ngf
        7x7 conv (-> out_channels) [- out_act]

    The output is linear by default because MixSSL reconstructs the
    normalised target image (see :class:`MixSSL`).

    Args:
        in_channels (int): Channels of the encoder features. Defaults to 2048.
        num_upsamples (int): Number of x2 stages; ``2 ** num_upsamples`` must
            equal the encoder's output stride. Defaults to 5 (ResNet: 32).
        res_channels (int): Width of the stem and residual blocks. Defaults
            to 256 (CycleGAN's).
        ngf (int): Narrowest up-sampling width. Defaults to 64 (CycleGAN's).
        n_blocks (int): Number of residual blocks. Defaults to 6.
        out_channels (int): Channels of the reconstructed image. Defaults to 3.
        norm_cfg (dict): Normalisation layer. Defaults to ``dict(type='BN')``.
            Instance norm fails on 1x1 feature maps in training mode.
        padding_mode (str): ``'reflect'`` (CycleGAN's), ``'replicate'`` or
            ``'zeros'``. Reflect falls back to replicate on maps too small to
            reflect. Defaults to ``'reflect'``.
        use_dropout (bool): Dropout in the residual blocks. Defaults to False.
        out_act (str, optional): ``None`` or ``'tanh'``. Defaults to None.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int = 2048,
                 num_upsamples: int = 5,
                 res_channels: int = 256,
                 ngf: int = 64,
                 n_blocks: int = 6,
                 out_channels: int = 3,
                 norm_cfg: dict = dict(type='BN'),
                 padding_mode: str = 'reflect',
                 use_dropout: bool = False,
                 out_act: Optional[str] = None,
                 init_cfg: Optional[Union[dict, list]] = None):
        super().__init__(init_cfg=init_cfg)
        if padding_mode not in _PAD_MODES:
            raise ValueError(f'ResnetGenerator: padding_mode must be one of '
                             f'{_PAD_MODES}, got {padding_mode!r}.')
        if out_act not in (None, 'tanh'):
            raise ValueError("ResnetGenerator: out_act must be None or 'tanh'"
                             f', got {out_act!r}.')
        if num_upsamples < 0 or n_blocks < 0:
            raise ValueError('ResnetGenerator: num_upsamples and n_blocks '
                             'must be >= 0.')
        self.in_channels = in_channels
        self.num_upsamples = num_upsamples
        # a bias is redundant in front of a norm that has its own shift
        bias = norm_cfg.get('type') in ('IN', 'InstanceNorm2d')

        layers = [
            nn.Conv2d(in_channels, res_channels, 1, bias=bias),
            build_norm_layer(norm_cfg, res_channels)[1],
            nn.ReLU(inplace=True)
        ]
        layers += [
            ResnetBlock(res_channels, norm_cfg, padding_mode, use_dropout,
                        bias) for _ in range(n_blocks)
        ]
        channels = res_channels
        for i in range(num_upsamples):
            out = max(ngf, res_channels // 2**(i + 1))
            layers += [
                nn.ConvTranspose2d(
                    channels,
                    out,
                    3,
                    stride=2,
                    padding=1,
                    output_padding=1,
                    bias=bias),
                build_norm_layer(norm_cfg, out)[1],
                nn.ReLU(inplace=True)
            ]
            channels = out
        layers.append(
            _PaddedConv(channels, out_channels, 7, padding_mode, True))
        if out_act == 'tanh':
            layers.append(nn.Tanh())
        self.model = nn.Sequential(*layers)

    @property
    def stride(self) -> int:
        """The up-sampling factor from feature map to image."""
        return 2**self.num_upsamples

    def forward(
        self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]]
    ) -> Tuple[torch.Tensor]:
        """Decode the last feature map into an image; returns ``(img, )``."""
        x = inputs[-1] if isinstance(inputs, (list, tuple)) else inputs
        if x.size(1) != self.in_channels:
            raise ValueError(
                f'ResnetGenerator: got {x.size(1)}-channel features but '
                f'in_channels={self.in_channels}; set neck.in_channels to '
                'the encoder output channels (2048 for ResNet-50, 512 for '
                'ResNet-18/34).')
        return (self.model(x), )
