# Copyright (c) mixssl_mm contributors. All rights reserved.
from typing import Dict, List, Tuple, Union

import torch
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@MODELS.register_module()
class Rotation(BaseSelfSupervisor):
    """Rotation prediction.

    Implementation of `Unsupervised Representation Learning by Predicting
    Image Rotations <https://arxiv.org/abs/1803.07728>`_ (Gidaris et al.,
    ICLR 2018). mmselfsup 0.x had it as ``RotationPred``; mmpretrain 1.x no
    longer ships it.

    Each image of the (single-view) batch is rotated by 0°, 90°, 180° and
    270° here, on the device, with :func:`torch.rot90` (exact, no
    interpolation); the 4N images go through the encoder in one batch and a
    4-way classifier on the pooled features predicts the rotation::

        x_k = rot90(x, k)  (k = 0..3, counter-clockwise in the image plane)
        L = CE(head(neck(backbone(x_k))), k)

    Use mmpretrain's ``GlobalAveragePooling`` as neck and ``LinearClsHead``
    (``num_classes=4``) as head; the head's ``loss_module`` (e.g.
    ``CrossEntropyLoss``) gives the loss. The views must be square (a
    90° rotation of a non-square image has another shape).

    Args:
        backbone (dict): The encoder, e.g. mmpretrain's ``ResNet``.
        neck (dict): Pools the encoder features, e.g.
            ``dict(type='GlobalAveragePooling')``.
        head (dict): The rotation classifier, e.g.
            ``dict(type='LinearClsHead', num_classes=4, in_channels=2048,
            loss=dict(type='CrossEntropyLoss'))``.
        **kwargs: ``pretrained``, ``data_preprocessor`` and ``init_cfg`` of
            mmpretrain's ``BaseSelfSupervisor``.
    """

    num_rotations = 4

    def __init__(self, backbone: dict, neck: dict, head: dict,
                 **kwargs) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        num_classes = getattr(self.head, 'num_classes', self.num_rotations)
        if num_classes != self.num_rotations:
            raise ValueError('Rotation: the head must have num_classes=4 '
                             f'(0/90/180/270 degrees), got {num_classes}.')

    @classmethod
    def rotate(cls, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The four rotations of a batch.

        Args:
            x (torch.Tensor): (N, C, H, W) with H == W.

        Returns:
            Tuple[Tensor, Tensor]: the (4N, C, H, W) batch
            ``[rot90(x, 0), rot90(x, 1), rot90(x, 2), rot90(x, 3)]`` and its
            (4N, ) labels ``[0]*N + [1]*N + [2]*N + [3]*N``.
        """
        if x.dim() != 4 or x.size(-1) != x.size(-2):
            raise ValueError(
                'Rotation expects square (N, C, H, W) views, got shape '
                f'{tuple(x.shape)}; crop to a square, e.g. '
                "RandomResizedCrop(scale=224).")
        rotated = torch.cat(
            [torch.rot90(x, k, dims=(2, 3)) for k in range(cls.num_rotations)])
        labels = torch.arange(
            cls.num_rotations, device=x.device).repeat_interleave(x.size(0))
        return rotated, labels

    def loss(self, inputs: Union[torch.Tensor, List[torch.Tensor]],
             data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Compute the rotation classification loss.

        Args:
            inputs (torch.Tensor | List[torch.Tensor]): One view (N, 3, H, W)
                (or a list whose first item is used).
            data_samples (List[DataSample]): Unused.

        Returns:
            Dict[str, torch.Tensor]: ``loss`` and the rotation accuracy
            ``acc_rot`` (in %, logged, not optimised).
        """
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        rotated, labels = self.rotate(inputs)
        feats = self.neck(self.backbone(rotated))
        cls_score = self.head(feats)
        loss = self.head.loss_module(
            cls_score, labels, avg_factor=cls_score.size(0))
        with torch.no_grad():
            acc = (cls_score.argmax(dim=1) == labels).float().mean() * 100
        return dict(loss=loss, acc_rot=acc)
