# Copyright (c) mixssl_mm contributors. All rights reserved.
import math
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from ..utils import nt_xent


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

    Table 3's objectives are switches of this one class: R (``use_rec``),
    T (``use_trans``), C (``use_contrast``) and A (``use_aux``), in any
    combination; a switched-off objective's modules are not built (their
    config keys are accepted and ignored, so shared ``--cfg-options``
    still parse)::

        C: x'_mix,i = (1 - λ'_i)·x_t,i + λ'_i·x_a,i+1    (a second view)
           L_contrast = NT-Xent(proj(encoder(x_mix)), proj(encoder(x'_mix)))
        A: L_aux = CE(cls(pool(encoder(x_mix))), class of x_a)

    The second view of C keeps the target and takes the next sample's
    auxiliary image (the batch rolled by one) and a second λ' from the same
    Beta(α, α): a fresh per-batch draw in ``lam_mode='batch'``, else the next
    sample's pipeline λ, rolled with its image. It costs one more encoder
    pass, done only when C is on. See docs/baselines.md, "Ablations".

    λ is one value per batch (the paper's) unless the pipeline's
    :class:`CrossDomainMixup` uses ``lam_mode='sample'``. The per-batch λ is
    drawn from torch's global CPU generator, which mmengine seeds identically
    on every rank, so all ranks of a distributed run share it and
    ``2 x bs32`` sees the same λ as ``1 x bs64``.

    Args:
        backbone (dict): The encoder, e.g. mmpretrain's ``ResNet``.
        neck (dict): The decoder, :class:`ResnetGenerator` (built only with
            ``use_rec``).
        head (dict): The λ regressor, :class:`TransparencyHead`; its loss
            weight is γ (built only with ``use_trans``).
        loss_rec (dict): The reconstruction loss. Defaults to
            ``dict(type='ReconstructionLoss', criterion='mse')``.
        use_rec (bool): Train objective R. Defaults to True.
        use_trans (bool): Train objective T. Defaults to True.
        contrast_neck (dict, optional): The projector of objective C, e.g.
            mmpretrain's ``NonLinearNeck`` (with ``with_avg_pool=True``).
            Built only with ``use_contrast``. Defaults to None.
        contrast_head (dict, optional): mmpretrain's ``ContrastiveHead``:
            τ and the loss (its ``loss_weight`` weighs ``loss_contrast``).
            Built only with ``use_contrast``. Defaults to None.
        use_contrast (bool): Train objective C, NT-Xent between two
            differently mixed views of each target. Defaults to False.
        aux_head (dict, optional): The classifier of objective A, e.g.
            ``dict(type='LinearClsHead', num_classes=16, in_channels=2048,
            loss=dict(type='CrossEntropyLoss'))``; it reads the pooled
            encoder features and ``num_classes`` must be the auxiliary
            pool's class count. Built only with ``use_aux``.
            Defaults to None.
        use_aux (bool): Train objective A, predicting the class of the
            auxiliary image (``aux_label`` from :class:`CrossDomainMixup`).
            Defaults to False.
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
        rec_space (str): The pixel space of objective R, which sets what
            γ = 1 weighs (the paper leaves it open). ``'normalized'``: the
            decoder reconstructs ``x_t`` as the encoder's inputs are made
            of it, normalised by the data preprocessor. ``'unit'``: it
            reconstructs ``x_t`` in [0, 1], the normalised view
            de-normalised with the data preprocessor's ``mean``/``std``
            (8-bit units) and divided by 255; an equally good
            reconstruction then scores ``std² / 255²`` (≈ 0.05) times the
            normalised ``loss_rec``. The encoder sees the normalised mix
            either way, and the decoder output stays linear. See
            configs/mixssl/README.md, "Design choices". Defaults to
            ``'normalized'``.
    """

    REC_SPACES = ('normalized', 'unit')
    # the parts that read the encoder's features directly (their
    # in_channels must be its output channels; the training pre-flight,
    # mixssl_mm.preflight.channels, reads this too)
    ENCODER_READERS = ('neck', 'head', 'contrast_neck', 'aux_head')
    # the data preprocessor's mean/std are in 8-bit pixel units
    PIXEL_MAX = 255.0

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 loss_rec: dict = dict(type='ReconstructionLoss'),
                 use_rec: bool = True,
                 use_trans: bool = True,
                 contrast_neck: Optional[dict] = None,
                 contrast_head: Optional[dict] = None,
                 use_contrast: bool = False,
                 aux_head: Optional[dict] = None,
                 use_aux: bool = False,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None,
                 channels_last: bool = False,
                 rec_space: str = 'normalized'):
        if rec_space not in self.REC_SPACES:
            raise ValueError(f'MixSSL: rec_space must be one of '
                             f'{self.REC_SPACES}, got {rec_space!r}.')
        if not (use_rec or use_trans or use_contrast or use_aux):
            raise ValueError('MixSSL: at least one of use_rec / use_trans / '
                             'use_contrast / use_aux must be True.')
        if use_contrast and (contrast_neck is None or contrast_head is None):
            raise ValueError(
                'MixSSL: use_contrast=True needs model.contrast_neck (e.g. '
                "dict(type='NonLinearNeck', ...)) and model.contrast_head "
                "(dict(type='ContrastiveHead', ...)).")
        if use_aux and (aux_head is None or 'num_classes' not in aux_head):
            raise ValueError(
                'MixSSL: use_aux=True needs model.aux_head with num_classes '
                'set to the auxiliary pool\'s class count (e.g. '
                "dict(type='LinearClsHead', num_classes=16, in_channels=2048)"
                ' for the 16 photos of NaturalPhotoPool).')
        # switched-off objectives build nothing: no unused parameters in
        # the optimizer or the checkpoints
        super().__init__(
            backbone=backbone,
            neck=neck if use_rec else None,
            head=head if use_trans else None,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.loss_rec = MODELS.build(loss_rec)
        self.use_rec = use_rec
        self.use_trans = use_trans
        self.use_contrast = use_contrast
        self.use_aux = use_aux
        # built after the R/T modules, so that the default model's weight
        # init draws the same random numbers as before C and A existed
        if use_contrast:
            self.contrast_neck = MODELS.build(contrast_neck)
            self.contrast_head = MODELS.build(contrast_head)
        if use_aux:
            self.aux_head = MODELS.build(aux_head)
        self.stride = self._check_encoder_decoder()
        self.channels_last = bool(channels_last)
        self._channels_last_done = False
        self.rec_space = rec_space

    def _check_encoder_decoder(self) -> Optional[int]:
        """Probe the encoder once so misconfigured channels or strides fail
        at build time, not deep inside the first training step. Returns the
        decoder's stride (None without objective R)."""
        stride = getattr(self.neck, 'stride', 32) if self.use_rec else None
        size = 2 * max(32, stride or 32)
        was_training = self.backbone.training
        self.backbone.eval()
        with torch.no_grad():
            feat = self.backbone(torch.zeros(1, 3, size, size))
        self.backbone.train(was_training)
        feat = feat[-1] if isinstance(feat, (list, tuple)) else feat
        channels, enc_stride = feat.size(1), size // feat.size(-1)
        for name in self.ENCODER_READERS:
            module = getattr(self, name, None)
            if module is None:  # objective off: not built
                continue
            expected = _in_channels(module, channels)
            if expected != channels:
                raise ValueError(
                    f'MixSSL: the encoder outputs {channels} channels but '
                    f'{name}.in_channels={expected}; set '
                    f'model.{name}.in_channels={channels}.')
        if stride is not None and enc_stride != stride:
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
        if self.stride and (h % self.stride or w % self.stride):
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
                "['mix_alpha', 'mix_lam', 'aux_label', 'aux_num_classes']).")
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

    def _pixel_stats(self, x: torch.Tensor):
        """The data preprocessor's (mean, std), shaped (C, 1, 1) as
        ``x``; (0, 1) when it does not normalise."""
        pre = self.data_preprocessor
        if getattr(pre, '_enable_normalize', False):
            return pre.mean.to(x), pre.std.to(x)
        return x.new_zeros(()), x.new_ones(())

    def to_rec_space(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised model inputs -> the reconstruction space of
        ``rec_space`` (``x`` itself for ``'normalized'``)."""
        if self.rec_space == 'normalized':
            return x
        mean, std = self._pixel_stats(x)
        return (x * std + mean) / self.PIXEL_MAX

    def from_rec_space(self, x: torch.Tensor) -> torch.Tensor:
        """A reconstruction -> the normalised input space (to draw it as
        the inputs are drawn); the inverse of :meth:`to_rec_space`."""
        if self.rec_space == 'normalized':
            return x
        mean, std = self._pixel_stats(x)
        return (x * self.PIXEL_MAX - mean) / std

    @staticmethod
    def mix(x_t: torch.Tensor, x_a: torch.Tensor,
            lam: torch.Tensor) -> torch.Tensor:
        """``(1 - λ)·x_t + λ·x_a`` with λ of shape (N, )."""
        return torch.lerp(x_t, x_a, lam.view(-1, 1, 1, 1).to(x_t.dtype))

    def forward_mix(self, inputs: List[torch.Tensor],
                    data_samples: Optional[List[DataSample]]) -> dict:
        """Run the pretext task; returns every intermediate (also used by the
        visualisation hook): ``target``, ``aux``, ``mixed`` (normalised),
        ``lam``, ``feats`` and with R ``rec`` and ``rec_target`` (in the
        ``rec_space``)."""
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
            out['rec_target'] = self.to_rec_space(x_t)
        return out

    def sample_contrast_lam(self, data_samples: List[DataSample],
                            lam: torch.Tensor) -> torch.Tensor:
        """λ' of the contrastive view, whose auxiliary images are the batch's
        rolled by one: with pipeline λs (``lam_mode='sample'`` or
        ``fixed_lam``) the next sample's λ, rolled with its image (an
        independent draw of the same Beta, or the same fixed λ); else a
        second per-batch draw from Beta(α, α). Returns shape (N, )."""
        if 'mix_lam' in data_samples[0]:
            return lam.roll(-1, 0)
        return self.sample_lam(data_samples, lam.numel(), lam.device)

    def forward_contrast_view(self, out: dict,
                              data_samples: List[DataSample]) -> dict:
        """The second view of objective C from :meth:`forward_mix`'s output:
        the same targets, each mixed with the next sample's auxiliary image
        and λ' (see :meth:`sample_contrast_lam`); one more encoder pass."""
        lam2 = self.sample_contrast_lam(data_samples, out['lam'])
        x_mix2 = self.mix(out['target'], out['aux'].roll(-1, 0), lam2)
        return dict(mixed=x_mix2, lam=lam2, feats=self.backbone(x_mix2))

    def project(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """L2-normalised projections (N, d) of encoder features (C)."""
        return F.normalize(self.contrast_neck(feats)[0], dim=1)

    def contrastive_loss(self, z1: torch.Tensor,
                         z2: torch.Tensor) -> torch.Tensor:
        """SimCLR's NT-Xent with ``contrast_head`` (τ, loss weight) on the
        normalised projections of the two views, gathered across ranks."""
        return nt_xent(z1, z2, self.contrast_head)

    def aux_labels(self, data_samples: List[DataSample],
                   device: torch.device) -> torch.Tensor:
        """The class of each sample's auxiliary image, shape (N, ), checked
        against ``aux_head.num_classes``."""
        num_classes = self.aux_head.num_classes
        if not data_samples or 'aux_label' not in data_samples[0]:
            raise ValueError(
                'MixSSL(use_aux=True): the data samples carry no aux_label, '
                'so the auxiliary pool has no labels. Give CrossDomainMixup '
                'a labelled pool: aux_dataset=dict(type=\'NaturalPhotoPool\''
                ', with_label=True, ...), a folder whose images lie in class '
                "sub-folders, or dict(type='CustomDataset', with_label=True,"
                ' ...); and pack the labels with PackInputs(algorithm_keys='
                "['mix_alpha', 'mix_lam', 'aux_label', 'aux_num_classes']).")
        pool = data_samples[0].get('aux_num_classes')
        if pool is not None and int(pool) != num_classes:
            raise ValueError(
                f'MixSSL: model.aux_head.num_classes={num_classes} but the '
                f'auxiliary pool (CrossDomainMixup.aux_dataset) has '
                f'{int(pool)} classes; set model.aux_head.num_classes='
                f'{int(pool)}.')
        labels = torch.tensor([int(s.aux_label) for s in data_samples])
        bad = labels[(labels < 0) | (labels >= num_classes)]
        if bad.numel():
            raise ValueError(
                f'MixSSL: auxiliary labels {bad.tolist()} do not fit '
                f'model.aux_head.num_classes={num_classes}; set it to the '
                "auxiliary pool's class count.")
        return labels.to(device)

    def loss(self, inputs: List[torch.Tensor],
             data_samples: List[DataSample], **kwargs
             ) -> Dict[str, torch.Tensor]:
        """Compute the losses of the objectives that are on.

        Args:
            inputs (List[torch.Tensor]): ``[x_t, x_a]``, each (N, 3, H, W).
            data_samples (List[DataSample]): Carry ``mix_alpha`` (and
                ``mix_lam`` in per-sample mode; ``aux_label`` for A).

        Returns:
            Dict[str, torch.Tensor]: ``loss_rec`` (R), ``loss_trans``
            (T, γ-weighted), ``loss_contrast`` (C) and ``loss_aux`` (A),
            each weighted by its loss's ``loss_weight``; with A also
            ``acc_aux``, the auxiliary-class accuracy in % (logged, not
            optimised).
        """
        out = self.forward_mix(inputs, data_samples)
        losses = dict()
        if self.use_rec:
            losses['loss_rec'] = self.loss_rec(out['rec'],
                                              out['rec_target'])
        if self.use_trans:
            losses.update(self.head.loss(out['feats'], out['lam']))
        if self.use_contrast:
            view2 = self.forward_contrast_view(out, data_samples)
            losses['loss_contrast'] = self.contrastive_loss(
                self.project(out['feats']), self.project(view2['feats']))
        if self.use_aux:
            labels = self.aux_labels(data_samples, out['lam'].device)
            # the head reads pooled features, as after GlobalAveragePooling
            pooled = (out['feats'][-1].mean(dim=(2, 3)), )
            cls_score = self.aux_head(pooled)
            losses['loss_aux'] = self.aux_head.loss_module(
                cls_score, labels, avg_factor=cls_score.size(0))
            with torch.no_grad():
                acc = (cls_score.argmax(dim=1) == labels).float().mean()
            losses['acc_aux'] = acc * 100
        return losses


def _in_channels(module: nn.Module, default: int) -> int:
    """The input channels a neck/head expects: its ``in_channels``, else
    those of its first linear or conv layer (e.g. ``NonLinearNeck``'s fc0).
    """
    channels = getattr(module, 'in_channels', None)
    if channels is not None:
        return channels
    for m in module.modules():
        if isinstance(m, nn.Linear):
            return m.in_features
        if isinstance(m, nn.modules.conv._ConvNd):
            return m.in_channels
    return default
