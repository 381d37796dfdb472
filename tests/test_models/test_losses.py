import pytest
import torch

from mmpretrain.registry import MODELS


def test_reconstruction_loss_mse_and_l1_by_hand():
    pred = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    target = torch.tensor([[[[0.0, 2.0], [5.0, 4.0]]]])
    # squared errors 1, 0, 4, 0 -> mean 5/4; absolute 1, 0, 2, 0 -> 3/4
    mse = MODELS.build(dict(type='ReconstructionLoss'))
    assert mse(pred, target).item() == pytest.approx(1.25)
    l1 = MODELS.build(
        dict(type='ReconstructionLoss', criterion='l1', loss_weight=2.0))
    assert l1(pred, target).item() == pytest.approx(1.5)


def test_reconstruction_loss_rejects_bad_input():
    with pytest.raises(ValueError, match='criterion'):
        MODELS.build(dict(type='ReconstructionLoss', criterion='ssim'))
    loss = MODELS.build(dict(type='ReconstructionLoss'))
    with pytest.raises(ValueError, match='num_upsamples'):
        loss(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 64, 64))


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
