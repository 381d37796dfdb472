import pytest
import torch
from mmpretrain.registry import MODELS


def test_head_range_and_pooling():
    head = MODELS.build(dict(type='TransparencyHead', in_channels=16))
    # large activations would leave [0, 1] without the sigmoid
    feats = torch.randn(6, 16, 3, 3) * 100
    lam_hat = head((feats, ))
    assert lam_hat.shape == (6, )
    assert ((lam_hat >= 0) & (lam_hat <= 1)).all()
    # reads globally pooled features: 4D input == its spatial mean as 2D
    torch.testing.assert_close(head(feats), head(feats.mean(dim=(2, 3))))


def test_head_loss_is_l1_to_lambda():
    head = MODELS.build(dict(type='TransparencyHead', in_channels=8))
    feats = torch.randn(4, 8, 2, 2)
    lam = torch.tensor(0.3)
    expected = (head(feats) - 0.3).abs().mean()
    torch.testing.assert_close(head.loss(feats, lam)['loss_trans'], expected)


def test_head_channel_mismatch_names_fix():
    head = MODELS.build(dict(type='TransparencyHead', in_channels=2048))
    with pytest.raises(ValueError, match='head.in_channels'):
        head(torch.randn(2, 512, 1, 1))
