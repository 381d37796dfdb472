# Copyright (c) mixssl_mm contributors. All rights reserved.
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@MODELS.register_module()
class MixSSL(BaseSelfSupervisor):
    """MixSSL: mix-up self-supervised learning for contrast-agnostic images.

    Implementation of `Mix-up Self-Supervised Learning for Contrast-Agnostic
    Applications <https://arxiv.org/abs/2204.00901>`_ (ICME 2022).

    Each target image ``x_t`` is mixed with an auxiliary natural image
    ``x_a`` (paired by :class:`CrossDomainMixup`)::

        x_mix = (1 - λ)·x_t + λ·x_a,     λ ~ Beta(α, α)
        L = L_rec(decoder(encoder(x_mix)), x_t) + γ·L_trans(head(encoder(x_mix)), λ)

    The mix is formed here, on the device, on the normalised views: the
    normalisation is affine, so mixing normalised images equals normalising
    the mix. The reconstruction target is the normalised ``x_t``.

    λ is one value per batch (the paper's) unless the pipeline's
    :class:`CrossDomainMixup` uses ``lam_mode='sample'``. The per-batch λ is
    drawn from torch's global CPU generator, which mmengine seeds identically
    on every rank, so all ranks of a distributed run share it and
    ``2 x bs32`` sees the same λ as ``1 x bs64``.

    Args:
        backbone (dict): The encoder, e.g. mmpretrain's ``ResNet``.
        neck (dict): The decoder, :class:`ResnetGenerator`.
        head (dict): The λ regressor, :class:`TransparencyHead`; its loss
            weight is γ.
        loss_rec (dict): The reconstruction loss. Defaults to
            ``dict(type='ReconstructionLoss', criterion='mse')``.
        use_rec (bool): Train objective R. Defaults to True.
        use_trans (bool): Train objective T. Defaults to True.
        pretrained (str, optional): Checkpoint to initialise the whole model
            from. Defaults to None.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): Initialization config. Defaults to None.
        channels_last (bool): Run encoder, decoder and head in
            ``torch.channels_last`` memory format: the module is converted at
            its first :meth:`forward_mix` (after weight init, checkpoint
            loading and ``.to(device)``; the parameters are converted in
            place, so an optimizer built before keeps them) and the views are
            converted on every call. A speed lever for convolutions on
            GPUs (tensor cores, bf16) and oneDNN CPUs; the loss is the same
            up to float rounding. Defaults to False.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 loss_rec: dict = dict(type='ReconstructionLoss'),
                 use_rec: bool = True,
                 use_trans: bool = True,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None,
                 channels_last: bool = False):
        if not (use_rec or use_trans):
            raise ValueError('MixSSL: at least one of use_rec / use_trans '
                             'must be True.')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.loss_rec = MODELS.build(loss_rec)
        self.use_rec = use_rec
        self.use_trans = use_trans
        self.stride = self._check_encoder_decoder()
        self.channels_last = bool(channels_last)
        self._channels_last_done = False

    def _check_encoder_decoder(self) -> int:
        """Probe the encoder once so misconfigured channels or strides fail
        at build time, not deep inside the first training step."""
        stride = getattr(self.neck, 'stride', 32)
        size = 2 * max(32, stride)
        was_training = self.backbone.training
        self.backbone.eval()
        with torch.no_grad():
            feat = self.backbone(torch.zeros(1, 3, size, size))
        self.backbone.train(was_training)
        feat = feat[-1] if isinstance(feat, (list, tuple)) else feat
        channels, enc_stride = feat.size(1), size // feat.size(-1)
        for name, module in (('neck', self.neck), ('head', self.head)):
            expected = getattr(module, 'in_channels', channels)
            if expected != channels:
                raise ValueError(
                    f'MixSSL: the encoder outputs {channels} channels but '
                    f'{name}.in_channels={expected}; set '
                    f'model.{name}.in_channels={channels}.')
        if enc_stride != stride:
            raise ValueError(
                f'MixSSL: the encoder downsamples by {enc_stride} but the '
                f'decoder upsamples by {stride}; set model.neck.'
                f'num_upsamples={int(math.log2(enc_stride))}.')
        return stride

    def extract_feat(self, inputs: Union[torch.Tensor, List[torch.Tensor]]
                     ) -> Tuple[torch.Tensor]:
        """Encoder features of the (first view of the) inputs."""
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        return self.backbone(inputs)

    def _check_inputs(self, inputs) -> None:
        ok = (isinstance(inputs, (list, tuple)) and len(inputs) == 2
              and all(isinstance(x, torch.Tensor) and x.dim() == 4
                      for x in inputs) and inputs[0].shape == inputs[1].shape)
        if not ok:
            got = (f'a list of {len(inputs)} items' if isinstance(
                inputs, (list, tuple)) else type(inputs).__name__ +
                   (f' of shape {tuple(inputs.shape)}' if isinstance(
                       inputs, torch.Tensor) else ''))
            raise TypeError(
                'MixSSL.loss expects inputs=[x_t, x_a], two (N, 3, H, W) '
                f'tensors of equal shape, but got {got}. Put '
                "dict(type='CrossDomainMixup', aux_dataset=...) in the train "
                'pipeline before PackInputs and use SelfSupDataPreprocessor '
                "with dataloader collate_fn=dict(type='default_collate').")
        h, w = inputs[0].shape[-2:]
        if h % self.stride or w % self.stride:
            raise ValueError(
                f'MixSSL: input size {h}x{w} is not divisible by the encoder '
                f'stride {self.stride}, so the decoder cannot restore it. '
                f'Crop to a multiple of {self.stride} (e.g. '
                f'RandomResizedCrop(scale={max(1, round(h / self.stride)) * self.stride})).')

    def sample_lam(self, data_samples: Optional[List[DataSample]],
                   batch_size: int, device: torch.device) -> torch.Tensor:
        """λ for this batch: per-sample λs from the pipeline when present,
        else one λ ~ Beta(α, α) for the whole batch. Returns shape (N, ).

        The per-batch λ is drawn from torch's global CPU generator: seeded
        identically on every rank by mmengine and advanced identically, it
        gives all ranks the same λ at each step; its state is checkpointed by
        ``ExactResumeHook`` (docs/reliability.md)."""
        if not data_samples or 'mix_alpha' not in data_samples[0]:
            raise KeyError(
                'MixSSL: the data samples carry no mix_alpha; pack the keys '
                'of CrossDomainMixup with PackInputs(algorithm_keys='
                "['mix_alpha', 'mix_lam', 'aux_label']).")
        if 'mix_lam' in data_samples[0]:
            lam = torch.tensor([float(s.mix_lam) for s in data_samples])
            if not bool(((lam >= 0) & (lam <= 1)).all()):
                raise ValueError(
                    f'MixSSL: mix_lam must lie in [0, 1], got {lam.tolist()}'
                    '; set CrossDomainMixup(fixed_lam=...) to a value in '
                    '[0, 1].')
        else:
            alpha = torch.tensor(float(data_samples[0].mix_alpha))
            lam = torch.distributions.Beta(alpha, alpha).sample()
            lam = lam.expand(batch_size)
        return lam.to(device=device, dtype=torch.float32)

    @staticmethod
    def mix(x_t: torch.Tensor, x_a: torch.Tensor,
            lam: torch.Tensor) -> torch.Tensor:
        """``(1 - λ)·x_t + λ·x_a`` with λ of shape (N, )."""
        return torch.lerp(x_t, x_a, lam.view(-1, 1, 1, 1).to(x_t.dtype))

    def forward_mix(self, inputs: List[torch.Tensor],
                    data_samples: Optional[List[DataSample]]) -> dict:
        """Run the pretext task; returns every intermediate (also used by the
        visualisation hook)."""
        self._check_inputs(inputs)
        x_t, x_a = inputs
        if self.channels_last:
            if not self._channels_last_done:
                # once, at first use: in place, so optimizers keep the params
                self.to(memory_format=torch.channels_last)
                self._channels_last_done = True
            x_t = x_t.contiguous(memory_format=torch.channels_last)
            x_a = x_a.contiguous(memory_format=torch.channels_last)
        lam = self.sample_lam(data_samples, x_t.size(0), x_t.device)
        x_mix = self.mix(x_t, x_a, lam)
        feats = self.backbone(x_mix)
        out = dict(target=x_t, aux=x_a, mixed=x_mix, lam=lam, feats=feats)
        if self.use_rec:
            out['rec'] = self.neck(feats)[0]
        return out

    def loss(self, inputs: List[torch.Tensor],
             data_samples: List[DataSample], **kwargs
             ) -> Dict[str, torch.Tensor]:
        """Compute ``loss_rec`` and ``loss_trans`` (γ-weighted).

        Args:
            inputs (List[torch.Tensor]): ``[x_t, x_a]``, each (N, 3, H, W).
            data_samples (List[DataSample]): Carry ``mix_alpha`` (and
                ``mix_lam`` in per-sample mode).

        Returns:
            Dict[str, torch.Tensor]: A dictionary of loss components.
        """
        out = self.forward_mix(inputs, data_samples)
        losses = dict()
        if self.use_rec:
            losses['loss_rec'] = self.loss_rec(out['rec'], out['target'])
        if self.use_trans:
            losses.update(self.head.loss(out['feats'], out['lam']))
        return losses
