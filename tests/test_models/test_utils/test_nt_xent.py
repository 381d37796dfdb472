"""NT-Xent (SimCLR's loss from the projections on), by hand and against
mmpretrain's SimCLR.loss."""
import math

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from mixssl_mm.models.utils import nt_xent
from tests._helpers.models import RESNET18, SIMCLR_HEAD, SIMCLR_NECK


def contrastive_head(tau, weight=1.0):
    return MODELS.build(
        dict(
            type='ContrastiveHead',
            temperature=tau,
            loss=dict(type='CrossEntropyLoss', loss_weight=weight)))


def test_nt_xent_by_hand():
    # two images, two views; unit vectors at angles 0°, 60° (image 0) and
    # 90°, 180° (image 1): cosines 1/2 within each image
    def unit(deg):
        r = math.radians(deg)
        return [math.cos(r), math.sin(r)]

    z1 = torch.tensor([unit(0), unit(90)])
    z2 = torch.tensor([unit(60), unit(180)])
    tau = 0.5
    views = [z1[0], z2[0], z1[1], z2[1]]  # anchors; pairs (0,1), (2,3)
    expected = 0.0
    for a in range(4):
        pos = a ^ 1
        logits = {
            k: float(views[a] @ views[k]) / tau
            for k in range(4) if k != a
        }
        expected += -math.log(
            math.exp(logits[pos]) / sum(math.exp(v) for v in logits.values()))
    expected /= 4
    torch.testing.assert_close(
        nt_xent(z1, z2, contrastive_head(tau)), torch.tensor(expected))
    # the head's loss_weight weighs it
    torch.testing.assert_close(
        nt_xent(z1, z2, contrastive_head(tau, weight=2.0)),
        torch.tensor(2 * expected))


def test_nt_xent_is_simclr_loss_from_the_projections():
    simclr = MODELS.build(
        dict(
            type='SimCLR',
            backbone=RESNET18,
            neck=SIMCLR_NECK,
            head=SIMCLR_HEAD))
    g = torch.Generator().manual_seed(0)
    v1, v2 = (torch.randn(3, 3, 32, 32, generator=g) for _ in range(2))
    expected = simclr.loss([v1, v2], None)['loss']
    # SimCLR.loss encodes the two views interleaved in one batch
    x = torch.stack([v1, v2], 1).reshape(6, 3, 32, 32)
    z = F.normalize(simclr.neck(simclr.backbone(x))[0], dim=1)
    torch.testing.assert_close(
        nt_xent(z[0::2], z[1::2], simclr.head), expected)
