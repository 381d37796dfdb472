import pytest
import torch
from mmpretrain.registry import MODELS


def test_transparency_loss_by_hand():
    loss = MODELS.build(dict(type='TransparencyLoss', loss_weight=0.5))
    pred = torch.tensor([0.2, 0.9, 0.5])
    # per-batch λ = 0.4: |0.2-0.4| + |0.9-0.4| + |0.5-0.4| = 0.8 -> mean 0.8/3
    assert loss(pred, torch.tensor(0.4)).item() == pytest.approx(0.5 * 0.8 / 3)
    # per-sample λ
    lam = torch.tensor([0.2, 0.4, 1.0])
    assert loss(pred, lam).item() == pytest.approx(0.5 * (0 + 0.5 + 0.5) / 3)


@pytest.mark.parametrize('gamma', [-1.0, 'x'])
def test_transparency_loss_rejects_bad_gamma(gamma):
    with pytest.raises(ValueError, match='γ'):
        MODELS.build(dict(type='TransparencyLoss', loss_weight=gamma))
