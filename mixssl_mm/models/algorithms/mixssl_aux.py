# Copyright (c) mixssl_mm contributors. All rights reserved.
from typing import Dict, List

import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from .mixssl import MixSSL


@MODELS.register_module()
class MixSSLAux(MixSSL):
    """MixSSL with Table 3's objective A: predict the class of the auxiliary
    image from the mix (configs/mixssl/ablations/mixssl-ra_*.py)::

        L_aux = CE(cls(pool(encoder(x_mix))), class of x_a)

    The class is ``aux_label`` from :class:`CrossDomainMixup` (packed with
    ``PackInputs(algorithm_keys=['aux_label', 'aux_num_classes'])``).

    Args:
        aux_head (dict): The classifier, e.g. ``dict(type='LinearClsHead',
            num_classes=16, in_channels=2048, loss=dict(type=
            'CrossEntropyLoss'))``; it reads the globally pooled encoder
            features and ``num_classes`` must be the auxiliary pool's class
            count.
        **kwargs: :class:`MixSSL`'s arguments (the ablation sets
            ``use_trans=False``: R+A).

    Returns (from :meth:`loss`): also ``loss_aux`` and ``acc_aux``, the
    auxiliary-class accuracy in % (logged, not optimised).
    """

    ENCODER_READERS = MixSSL.ENCODER_READERS + ('aux_head', )

    def __init__(self, aux_head: dict, **kwargs):
        if not isinstance(aux_head, dict) or 'num_classes' not in aux_head:
            raise ValueError(
                'MixSSLAux needs model.aux_head with num_classes set to the '
                "auxiliary pool's class count (e.g. dict(type="
                "'LinearClsHead', num_classes=16, in_channels=2048) for the "
                '16 photos of NaturalPhotoPool).')
        super().__init__(**kwargs)
        self.aux_head = MODELS.build(aux_head)

    def _has_extra_objective(self) -> bool:
        return True

    def aux_labels(self, data_samples: List[DataSample],
                   device: torch.device) -> torch.Tensor:
        """The class of each sample's auxiliary image, shape (N, ), checked
        against ``aux_head.num_classes``."""
        num_classes = self.aux_head.num_classes
        if not data_samples or 'aux_label' not in data_samples[0]:
            raise ValueError(
                'MixSSLAux: the data samples carry no aux_label, so the '
                'auxiliary pool has no labels or they are not packed. Give '
                'CrossDomainMixup a labelled pool: aux_dataset=dict(type='
                "'NaturalPhotoPool', with_label=True, ...), a folder whose "
                "images lie in class sub-folders, or dict(type='CustomDataset"
                "', with_label=True, ...); and pack the labels with "
                "PackInputs(algorithm_keys=['aux_label', 'aux_num_classes']).")
        pool = data_samples[0].get('aux_num_classes')
        if pool is not None and int(pool) != num_classes:
            raise ValueError(
                f'MixSSLAux: model.aux_head.num_classes={num_classes} but the '
                f'auxiliary pool (CrossDomainMixup.aux_dataset) has '
                f'{int(pool)} classes; set model.aux_head.num_classes='
                f'{int(pool)}.')
        labels = torch.tensor([int(s.aux_label) for s in data_samples])
        bad = labels[(labels < 0) | (labels >= num_classes)]
        if bad.numel():
            raise ValueError(
                f'MixSSLAux: auxiliary labels {bad.tolist()} do not fit '
                f'model.aux_head.num_classes={num_classes}; set it to the '
                "auxiliary pool's class count.")
        return labels.to(device)

    def extra_losses(
            self, out: dict,
            data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        losses = super().extra_losses(out, data_samples)
        labels = self.aux_labels(data_samples, out['lam'].device)
        # the head reads pooled features, as after GlobalAveragePooling
        cls_score = self.aux_head((out['feats'][-1].mean(dim=(2, 3)), ))
        losses['loss_aux'] = self.aux_head.loss_module(
            cls_score, labels, avg_factor=cls_score.size(0))
        with torch.no_grad():
            acc = (cls_score.argmax(dim=1) == labels).float().mean()
        losses['acc_aux'] = acc * 100
        return losses
