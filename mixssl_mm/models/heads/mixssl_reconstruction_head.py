# Copyright (c) mixssl_mm contributors. All rights reserved.
from typing import Dict, Optional, Tuple, Union

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

Stats = Tuple[Union[torch.Tensor, float], Union[torch.Tensor, float]]


@MODELS.register_module()
class MixSSLReconstructionHead(BaseModule):
    """Reconstruction target and loss of MixSSL's objective R.

    The decoder (the neck, :class:`ResnetGenerator`) turns the encoder's
    features of ``x_mix`` into an image; this head builds the target from
    the clean target view ``x_t`` and computes ``loss_rec``, as mmpretrain's
    ``MAEPretrainHead.construct_target`` / ``loss`` do for MAE.

    Args:
        loss (dict): The pixel loss. Defaults to
            ``dict(type='ReconstructionLoss', criterion='mse')`` (the
            paper's MSE).
        rec_space (str): The pixel space of the target, which sets what γ
            weighs (the paper leaves it open). ``'normalized'``: ``x_t`` as
            the encoder's inputs are made of it (normalised by the data
            preprocessor). ``'unit'``: ``x_t`` in [0, 1], i.e.
            ``(x_t·std + mean) / 255`` with the data preprocessor's
            ``mean``/``std`` (8-bit units); an equally good reconstruction
            then scores ``std² / 255²`` (≈ 0.05) times the normalised loss.
            See configs/mixssl/README.md, "Design choices". Defaults to
            ``'normalized'``.
        norm_pix (bool): Normalise each target image by its own mean and
            standard deviation over (C, H, W) after ``rec_space``, as MAE's
            ``norm_pix`` does per patch (``(x - mean) / sqrt(var + 1e-6)``,
            unbiased variance). Defaults to False (the paper's).
        init_cfg (dict, optional): Initialization config. Defaults to None.

    Raises:
        ValueError: an unknown ``rec_space``; in :meth:`loss`, a
            reconstruction whose shape differs from the target's.
    """

    REC_SPACES = ('normalized', 'unit')
    # the data preprocessor's mean/std are in 8-bit pixel units
    PIXEL_MAX = 255.0
    EPS = 1e-6

    def __init__(self,
                 loss: dict = dict(type='ReconstructionLoss', criterion='mse'),
                 rec_space: str = 'normalized',
                 norm_pix: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if rec_space not in self.REC_SPACES:
            raise ValueError(f'MixSSLReconstructionHead: rec_space must be '
                             f'one of {self.REC_SPACES}, got {rec_space!r}.')
        self.rec_space = rec_space
        self.norm_pix = bool(norm_pix)
        self.loss_module = MODELS.build(loss)

    def to_rec_space(self, x: torch.Tensor, stats: Stats) -> torch.Tensor:
        """Normalised images (N, 3, H, W) -> ``rec_space``; ``stats`` is the
        data preprocessor's ``(mean, std)`` (broadcastable to ``x``)."""
        if self.rec_space == 'normalized':
            return x
        mean, std = stats
        return (x * std + mean) / self.PIXEL_MAX

    def from_rec_space(self, x: torch.Tensor, stats: Stats) -> torch.Tensor:
        """The inverse of :meth:`to_rec_space`."""
        if self.rec_space == 'normalized':
            return x
        mean, std = stats
        return (x * self.PIXEL_MAX - mean) / std

    def _image_stats(self, x: torch.Tensor):
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        var = x.var(dim=(1, 2, 3), keepdim=True)
        return mean, (var + self.EPS)**.5

    def construct_target(self, target: torch.Tensor,
                         stats: Stats) -> torch.Tensor:
        """The target of the decoder from the normalised ``x_t``
        (N, 3, H, W): ``rec_space``, then ``norm_pix``."""
        target = self.to_rec_space(target, stats)
        if self.norm_pix:
            mean, scale = self._image_stats(target)
            target = (target - mean) / scale
        return target

    def to_input_space(self, pred: torch.Tensor, target: torch.Tensor,
                       stats: Stats) -> torch.Tensor:
        """A reconstruction -> the normalised input space, to draw it as the
        inputs are drawn. With ``norm_pix`` the per-image statistics are
        those of ``target`` (the clean ``x_t``), which the decoder is not
        asked to know."""
        if self.norm_pix:
            mean, scale = self._image_stats(self.to_rec_space(target, stats))
            pred = pred * scale + mean
        return self.from_rec_space(pred, stats)

    def loss(self, pred: torch.Tensor, target: torch.Tensor,
             stats: Stats) -> Dict[str, torch.Tensor]:
        """``loss_rec`` of the reconstruction ``pred`` (N, 3, H, W) against
        the normalised ``target`` ``x_t`` (same shape)."""
        if pred.shape != target.shape:
            raise ValueError(
                f'MixSSL: the decoder returns {tuple(pred.shape)} for inputs '
                f'of {tuple(target.shape)}; its upsampling must undo the '
                'encoder stride: set model.neck.num_upsamples to '
                'log2(encoder stride) (5 for ResNet).')
        return dict(
            loss_rec=self.loss_module(pred, self.construct_target(
                target, stats)))
