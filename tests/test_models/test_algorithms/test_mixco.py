"""MixCo: SimCLR's NT-Xent plus the mix-up contrast with soft targets,
checked on small hand-computed examples."""
import math

import pytest
import torch
from mmpretrain.registry import MODELS

from mixssl_mm.models.utils import mix_batch, sample_batch_mix
from tests._helpers.models import (RESNET18, SIMCLR_HEAD, SIMCLR_NECK,
                                   backbone_grad, build_model, record_inputs,
                                   two_views)

pytestmark = pytest.mark.usefixtures('one_thread')

SIMCLR = dict(
    type='SimCLR', backbone=RESNET18, neck=SIMCLR_NECK, head=SIMCLR_HEAD)


def test_mixco_soft_targets_by_hand():
    mixco = MODELS.get('MixCo')
    # λ is the partner's weight: 1 − λ on the image's own key
    lam = torch.tensor([0.3, 0.8, 0.6])
    perm = torch.tensor([1, 0, 2])  # image 2 is its own partner
    expected = torch.tensor([[0.7, 0.3, 0.0], [0.8, 0.2, 0.0], [0.0, 0.0,
                                                                1.0]])
    torch.testing.assert_close(mixco.soft_targets(lam, perm), expected)


def test_mixco_loss_by_hand():
    model = build_model(
        SIMCLR,
        type='MixCo',
        mix_temperature=0.5,
        mix_loss=dict(type='CrossEntropyLoss', use_soft=True, loss_weight=2.0))
    q = torch.tensor([[1., 0.], [0., 1.]])
    keys = torch.tensor([[1., 0.], [0., 1.]])
    lam = torch.tensor([0.25, 0.5])  # the partners' weights
    perm = torch.tensor([1, 0])
    # logits = q·kᵀ/0.5 = [[2, 0], [0, 2]]; L = log(1 + e²)
    # row 0: targets [0.75, 0.25] -> -(0.75(2 - L) + 0.25(-L)) = L - 1.5
    # row 1: targets [0.5, 0.5]   -> -(0.5(-L) + 0.5(2 - L))   = L - 1
    L = math.log(1 + math.e**2)
    expected = 2.0 * ((L - 1.5) + (L - 1.0)) / 2
    torch.testing.assert_close(
        model.mixco_loss(q, keys, lam, perm), torch.tensor(expected))


def test_mixco_full_loss_simclr_part_mix_part_and_gradients():
    model = build_model(
        SIMCLR,
        type='MixCo',
        alpha=1.0,
        lam_mode='sample',
        mix_temperature=0.2)
    ref = build_model(SIMCLR)
    ref.load_state_dict(model.state_dict(), strict=False)
    v1, v2 = two_views()
    seen = record_inputs(model.backbone)
    torch.manual_seed(11)
    losses = model.loss([v1, v2], None)
    assert set(losses) == {'loss_contrast', 'loss_mix'}
    # the contrastive part is SimCLR's NT-Xent on the plain views
    torch.testing.assert_close(losses['loss_contrast'],
                               ref.loss([v1, v2], None)['loss'])
    # the encoder's second batch holds the mixes of view 1, then view 2
    torch.manual_seed(11)
    draws = [
        sample_batch_mix(4, 1.0, 'sample', torch.device('cpu'))
        for _ in range(2)
    ]
    mixed = torch.cat([mix_batch(v1, *draws[0]), mix_batch(v2, *draws[1])])
    assert torch.equal(seen[0], torch.cat([v1, v2]))
    torch.testing.assert_close(seen[1], mixed)
    # view-1 mixes are scored against view-2 keys and vice versa
    with torch.no_grad():
        z1, z2 = model.project(torch.cat([v1, v2])).split(4)
        q1, q2 = model.project(mixed).split(4)
        expected = (model.mixco_loss(q1, z2, *draws[0]) +
                    model.mixco_loss(q2, z1, *draws[1])) / 2
    torch.testing.assert_close(losses['loss_mix'], expected)
    losses['loss_mix'].backward()  # the mix loss alone reaches the encoder
    assert backbone_grad(model) > 0


def test_mixco_refuses_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match='mix_temperature'):
        build_model(SIMCLR, type='MixCo', mix_temperature=0)
    with pytest.raises(TypeError, match='MixCo expects'):
        build_model(SIMCLR, type='MixCo').loss(two_views()[0], None)
