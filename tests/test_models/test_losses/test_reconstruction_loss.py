"""ReconstructionLoss: MixSSL's names and checks on top of mmpretrain's
PixelReconstructionLoss, giving what ``F.mse_loss`` / ``F.l1_loss`` (its
former implementation) gave."""
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models.losses import PixelReconstructionLoss
from mmpretrain.registry import MODELS


def test_reconstruction_loss_mse_and_l1_by_hand():
    pred = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    target = torch.tensor([[[[0.0, 2.0], [5.0, 4.0]]]])
    # squared errors 1, 0, 4, 0 -> mean 5/4; absolute 1, 0, 2, 0 -> 3/4
    mse = MODELS.build(dict(type='ReconstructionLoss'))
    assert isinstance(mse, PixelReconstructionLoss)
    assert mse(pred, target).item() == pytest.approx(1.25)
    l1 = MODELS.build(
        dict(type='ReconstructionLoss', criterion='l1', loss_weight=2.0))
    assert l1(pred, target).item() == pytest.approx(1.5)


@pytest.mark.parametrize('criterion,reference', [('mse', F.mse_loss),
                                                 ('l1', F.l1_loss)])
@pytest.mark.parametrize('shape', [(4, 3, 64, 64), (3, 3, 37, 41)])
def test_same_bits_as_the_torch_functional_losses(criterion, reference, shape):
    """Loss and gradient equal, to the bit, the former implementation
    ``loss_weight * F.<criterion>_loss(pred.float(), target.float())`` at
    ``loss_weight=1`` (every shipped config). The loss value is bit-equal at
    any weight; an MSE gradient at another weight may differ in the last two
    bits (``MSELoss(reduction='none').mean()`` scales by 2·(w/N) where
    ``F.mse_loss`` scales by (2/N)·w)."""
    g = torch.Generator().manual_seed(0)
    target = torch.randn(shape, generator=g)
    for weight in (1.0, 0.37):
        loss = MODELS.build(
            dict(
                type='ReconstructionLoss',
                criterion=criterion,
                loss_weight=weight))
        pred = torch.randn(shape, generator=g, requires_grad=True)
        got = loss(pred, target)
        grad, = torch.autograd.grad(got, pred)
        ref = weight * reference(pred.float(), target.float())
        ref_grad, = torch.autograd.grad(ref, pred)
        assert torch.equal(got, ref)
        if weight == 1.0 or criterion == 'l1':
            assert torch.equal(grad, ref_grad)
        else:
            torch.testing.assert_close(grad, ref_grad, rtol=2**-22, atol=0)


def test_reconstruction_loss_is_fp32_for_bf16_inputs():
    g = torch.Generator().manual_seed(1)
    pred, target = (
        torch.randn(2, 3, 8, 8, generator=g).bfloat16() for _ in range(2))
    loss = MODELS.build(dict(type='ReconstructionLoss'))(pred, target)
    assert loss.dtype == torch.float32
    assert torch.equal(loss, F.mse_loss(pred.float(), target.float()))


def test_reconstruction_loss_rejects_bad_input():
    with pytest.raises(ValueError, match='criterion'):
        MODELS.build(dict(type='ReconstructionLoss', criterion='ssim'))
    with pytest.raises(ValueError, match='loss_weight'):
        MODELS.build(dict(type='ReconstructionLoss', loss_weight=-1))
    loss = MODELS.build(dict(type='ReconstructionLoss'))
    with pytest.raises(ValueError, match='num_upsamples'):
        loss(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 64, 64))
