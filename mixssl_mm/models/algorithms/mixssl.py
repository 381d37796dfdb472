# Copyright (c) mixssl_mm contributors. All rights reserved.
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

from ..utils.lambda_sampler import LambdaSampler

# config keys of earlier versions -> where they live now
MOVED_KEYS = {
    'loss_rec':
    "model.rec_head.loss (e.g. rec_head=dict(type="
    "'MixSSLReconstructionHead', loss=dict(type='ReconstructionLoss', "
    "criterion='mse')))",
    'rec_space':
    'model.rec_head.rec_space',
    'use_contrast':
    "model.type='MixSSLContrast' (objective C; "
    'configs/mixssl/ablations/mixssl-rc_*.py)',
    'contrast_neck':
    "model.type='MixSSLContrast'",
    'contrast_head':
    "model.type='MixSSLContrast'",
    'use_aux':
    "model.type='MixSSLAux' (objective A; "
    'configs/mixssl/ablations/mixssl-ra_*.py)',
    'aux_head':
    "model.type='MixSSLAux'",
}


@MODELS.register_module()
class MixSSL(BaseSelfSupervisor):
    """MixSSL: mix-up self-supervised learning for contrast-agnostic images.

    Implementation of `Mix-up Self-Supervised Learning for Contrast-Agnostic
    Applications <https://arxiv.org/abs/2204.00901>`_ (ICME 2022).

    Each target image ``x_t`` is mixed with an auxiliary natural image
    ``x_a`` (paired by :class:`CrossDomainMixup`)::

        x_mix = (1 - λ)·x_t + λ·x_a,     λ ~ Beta(α, α)
        f = backbone(x_mix)
        L = L_rec(neck(f), x_t) + γ·L_trans(head(f), λ)

    λ is the auxiliary image's weight. It is drawn here, on the device, by a
    :class:`~mixssl_mm.models.utils.lambda_sampler.LambdaSampler` with a
    generator of the model's own (seeded from the run's seed, identical on
    every rank, checkpointed in the model's ``state_dict``). The mix is
    formed on the normalised views: the normalisation is affine, so mixing
    normalised images equals normalising the mix.

    The parts, as mmpretrain's MAE: ``backbone`` the encoder, ``neck`` the
    decoder (:class:`ResnetGenerator`), ``rec_head``
    (:class:`MixSSLReconstructionHead`) the target and ``loss_rec`` (R),
    ``head`` (:class:`TransparencyHead`) the λ regressor and ``loss_trans``
    (T, its ``loss_weight`` is γ). Table 3's other objectives are
    subclasses: :class:`MixSSLContrast` (C) and :class:`MixSSLAux` (A).

    The channel and stride agreement of encoder, decoder and heads is
    checked once before training by the pre-flight
    (:func:`mixssl_mm.preflight.channels.check_feature_channels`), which
    reads ``ENCODER_READERS``; nothing runs in ``__init__``.

    Args:
        backbone (dict): The encoder, e.g. mmpretrain's ``ResNet``; it must
            return (N, C, h, w) feature maps.
        neck (dict): The decoder, :class:`ResnetGenerator` (built only with
            ``use_rec``).
        head (dict): The λ regressor, :class:`TransparencyHead` (built only
            with ``use_trans``).
        rec_head (dict): The reconstruction head (built only with
            ``use_rec``). Defaults to
            ``dict(type='MixSSLReconstructionHead')`` (MSE on normalised
            pixels).
        alpha (float): λ ~ Beta(α, α). Defaults to 1.0 (the paper's).
        lam_mode (str): ``'sample'``: one λ per sample (default; BatchNorm
            cannot read it from batch statistics); ``'batch'``: one λ per
            global batch (the paper's reading). See configs/mixssl/README.md.
        fixed_lam (float, optional): A constant λ in [0, 1] for every
            sample (an ablation). Defaults to None.
        use_rec (bool): Train objective R. Defaults to True.
        use_trans (bool): Train objective T. Defaults to True.
        channels_last (bool): Convert the model's parameters to
            ``torch.channels_last`` once, here, where it is built (the
            format survives weight init, checkpoint loading and
            ``.to(device)``); a speed lever for convolutions on GPUs and
            oneDNN CPUs, the loss is the same up to float rounding.
            Defaults to False.
        pretrained (str, optional): Checkpoint to initialise the whole model
            from. Defaults to None.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    # the parts that read the encoder's features directly (their
    # in_channels must be its output channels; read by the pre-flight)
    ENCODER_READERS = ('neck', 'head')

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 rec_head: dict = dict(type='MixSSLReconstructionHead'),
                 alpha: float = 1.0,
                 lam_mode: str = 'sample',
                 fixed_lam: Optional[float] = None,
                 use_rec: bool = True,
                 use_trans: bool = True,
                 channels_last: bool = False,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None,
                 **kwargs):
        _refuse_moved_keys(type(self).__name__, kwargs)
        if not (use_rec or use_trans or self._has_extra_objective()):
            raise ValueError(f'{type(self).__name__}: at least one of '
                             'use_rec / use_trans must be True.')
        # switched-off objectives build nothing: no unused parameters in
        # the optimizer or the checkpoints
        super().__init__(
            backbone=backbone,
            neck=neck if use_rec else None,
            head=head if use_trans else None,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.use_rec = use_rec
        self.use_trans = use_trans
        if use_rec:
            self.rec_head = MODELS.build(rec_head)
        self.lam_sampler = LambdaSampler(
            alpha, lam_mode, fixed_lam, owner=type(self).__name__)
        self.stride = getattr(self.neck, 'stride', None) if use_rec else None
        self.channels_last = bool(channels_last)
        if self.channels_last:
            # in place (param.data), before any optimizer exists
            self.to(memory_format=torch.channels_last)

    def _has_extra_objective(self) -> bool:
        """Whether a subclass adds an objective (then R and T may both be
        off)."""
        return False

    def extract_feat(
        self, inputs: Union[torch.Tensor,
                            List[torch.Tensor]]) -> Tuple[torch.Tensor]:
        """Encoder features of the (first view of the) inputs."""
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        return self.backbone(inputs)

    def _check_inputs(self, inputs) -> None:
        ok = (
            isinstance(inputs, (list, tuple)) and len(inputs) == 2 and all(
                isinstance(x, torch.Tensor) and x.dim() == 4 for x in inputs)
            and inputs[0].shape == inputs[1].shape)
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
        if self.stride and (h % self.stride or w % self.stride):
            raise ValueError(
                f'MixSSL: input size {h}x{w} is not divisible by the encoder '
                f'stride {self.stride}, so the decoder cannot restore it. '
                f'Crop to a multiple of {self.stride} (e.g. '
                'RandomResizedCrop(scale='
                f'{max(1, round(h / self.stride)) * self.stride})).')

    def pixel_stats(self, x: torch.Tensor):
        """The data preprocessor's (mean, std) in 8-bit units, shaped
        (C, 1, 1) as ``x``; (0, 1) when it does not normalise."""
        pre = self.data_preprocessor
        if getattr(pre, '_enable_normalize', False):
            return pre.mean.to(x), pre.std.to(x)
        return x.new_zeros(()), x.new_ones(())

    @staticmethod
    def mix(x_t: torch.Tensor, x_a: torch.Tensor,
            lam: torch.Tensor) -> torch.Tensor:
        """``(1 - λ)·x_t + λ·x_a`` with λ of shape (N, )."""
        return torch.lerp(x_t, x_a, lam.view(-1, 1, 1, 1).to(x_t.dtype))

    def forward_mix(self,
                    inputs: List[torch.Tensor],
                    lam: Optional[torch.Tensor] = None) -> dict:
        """Mix, encode and (with R) decode. ``lam`` (N, ) defaults to a
        draw of :attr:`lam_sampler`. Returns ``target``, ``aux``, ``mixed``
        (normalised), ``lam``, ``feats`` and, with R, ``rec`` (in the
        reconstruction head's space); also used by the visualisation hook.
        """
        self._check_inputs(inputs)
        x_t, x_a = inputs
        if lam is None:
            lam = self.lam_sampler(x_t.size(0), x_t.device)
        x_mix = self.mix(x_t, x_a, lam)
        feats = self.backbone(x_mix)
        last = feats[-1] if isinstance(feats, (list, tuple)) else feats
        if isinstance(last, torch.Tensor) and last.dim() != 4:
            # built without the pre-flight (e.g. mmpretrain's own tools)
            from mixssl_mm.preflight.channels import not_a_feature_map
            raise ValueError(
                not_a_feature_map(type(self.backbone), tuple(last.shape)))
        out = dict(target=x_t, aux=x_a, mixed=x_mix, lam=lam, feats=feats)
        if self.use_rec:
            out['rec'] = self.neck(feats)[0]
        return out

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """The losses of the objectives that are on.

        Args:
            inputs (List[torch.Tensor]): ``[x_t, x_a]``, each (N, 3, H, W).
            data_samples (List[DataSample]): Read only by the subclasses
                (``aux_label`` for A).

        Returns:
            Dict[str, torch.Tensor]: ``loss_rec`` (R), ``loss_trans`` (T,
            γ-weighted) and a subclass's own, each weighted by its loss's
            ``loss_weight``.
        """
        out = self.forward_mix(inputs)
        losses = dict()
        if self.use_rec:
            losses.update(
                self.rec_head.loss(out['rec'], out['target'],
                                   self.pixel_stats(out['target'])))
        if self.use_trans:
            losses.update(self.head.loss(out['feats'], out['lam']))
        losses.update(self.extra_losses(out, data_samples))
        return losses

    def extra_losses(
            self, out: dict,
            data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """The losses a subclass adds (Table 3's C and A); none here."""
        return dict()


def _refuse_moved_keys(owner: str, kwargs: dict) -> None:
    """Name the new home of a config key of an earlier version; refuse any
    other unknown key as Python would."""
    moved = [k for k in kwargs if k in MOVED_KEYS]
    if moved:
        raise TypeError(f'{owner}: ' +
                        '; '.join(f'{k} moved to {MOVED_KEYS[k]}'
                                  for k in moved) + '.')
    if kwargs:
        raise TypeError(f'{owner}.__init__() got unexpected keyword '
                        f'argument(s) {sorted(kwargs)}.')
