"""MixupSimCLR: mmpretrain's SimCLR on two views of the same mixed image."""
import pytest
import torch

from mixssl_mm.models.utils import mix_batch, sample_batch_mix
from tests._helpers.models import (RESNET18, SIMCLR_HEAD, SIMCLR_NECK,
                                   backbone_grad, build_model, record_inputs,
                                   two_views)

pytestmark = pytest.mark.usefixtures('one_thread')

SIMCLR = dict(
    type='SimCLR', backbone=RESNET18, neck=SIMCLR_NECK, head=SIMCLR_HEAD)


@pytest.mark.parametrize('lam_mode', ['batch', 'sample'])
def test_mixup_simclr_is_simclr_on_views_of_the_same_mixed_image(lam_mode):
    model = build_model(
        SIMCLR, type='MixupSimCLR', alpha=0.5, lam_mode=lam_mode)
    ref = build_model(SIMCLR)
    ref.load_state_dict(model.state_dict())
    v1, v2 = two_views()
    seen = record_inputs(model.backbone)
    torch.manual_seed(7)
    losses = model.loss([v1, v2], None)
    torch.manual_seed(7)
    lam, perm = sample_batch_mix(4, 0.5, lam_mode, torch.device('cpu'))
    # both views mixed with the same λ and the same partners
    m1, m2 = mix_batch(v1, lam, perm), mix_batch(v2, lam, perm)
    interleaved = torch.stack([m1, m2], 1).reshape(8, 3, 32, 32)
    torch.testing.assert_close(seen[0], interleaved)
    torch.testing.assert_close(losses['loss'],
                               ref.loss([m1, m2], None)['loss'])
    losses['loss'].backward()
    assert backbone_grad(model) > 0


def test_mixup_simclr_refuses_bad_alpha_and_inputs():
    with pytest.raises(ValueError, match='alpha'):
        build_model(SIMCLR, type='MixupSimCLR', alpha=0.0)
    with pytest.raises(TypeError, match='MixupSimCLR expects'):
        build_model(SIMCLR, type='MixupSimCLR').loss(two_views()[:1], None)
