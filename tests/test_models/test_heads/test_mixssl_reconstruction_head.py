"""MixSSLReconstructionHead: the target of objective R (pixel space and
per-image normalisation, as MAEPretrainHead.construct_target) and loss_rec,
against hand computations."""
import pytest
import torch
from mmpretrain.registry import MODELS

MEAN = torch.tensor([100.0, 50.0, 0.0]).view(3, 1, 1)
STD = torch.tensor([50.0, 25.0, 10.0]).view(3, 1, 1)


def head(**kwargs):
    return MODELS.build(dict(type='MixSSLReconstructionHead', **kwargs))


def test_normalized_space_is_the_input_and_loss_is_mse_by_hand():
    h = head()
    target = torch.tensor([1.0, -1.0, 2.0, 0.0]).view(1, 1, 2,
                                                      2).expand(1, 3, 2, 2)
    pred = torch.zeros(1, 3, 2, 2)
    assert h.construct_target(target, (MEAN, STD)) is target
    # mean of squares: (1 + 1 + 4 + 0) / 4
    loss = h.loss(pred, target, (MEAN, STD))
    assert set(loss) == {'loss_rec'}
    torch.testing.assert_close(loss['loss_rec'], torch.tensor(1.5))
    l1 = head(
        loss=dict(type='ReconstructionLoss', criterion='l1', loss_weight=2.0))
    torch.testing.assert_close(
        l1.loss(pred, target, (MEAN, STD))['loss_rec'], torch.tensor(2.0))


def test_unit_space_is_pixels_over_255():
    h = head(rec_space='unit')
    # normalised 1.0 in every channel: pixel = mean + std
    x = torch.ones(1, 3, 1, 1)
    expected = torch.tensor([150.0, 75.0, 10.0]).view(1, 3, 1, 1) / 255
    torch.testing.assert_close(h.construct_target(x, (MEAN, STD)), expected)
    torch.testing.assert_close(h.from_rec_space(expected, (MEAN, STD)), x)
    torch.testing.assert_close(
        h.loss(torch.zeros(1, 3, 1, 1), x, (MEAN, STD))['loss_rec'],
        (expected**2).mean())


def test_norm_pix_normalises_each_image_by_its_own_statistics():
    h = head(norm_pix=True)
    img = torch.tensor([0.0, 2.0, 4.0, 6.0]).view(1, 1, 2, 2)
    target = torch.cat(
        [img.expand(1, 3, 2, 2), 10 * img.expand(1, 3, 2, 2) + 7])
    # per image: mean 3 (37), unbiased var over 12 values of {0,2,4,6}
    var = torch.tensor([0.0, 2.0, 4.0, 6.0]).repeat(3).var()
    expected = (img.expand(1, 3, 2, 2) - 3) / (var + 1e-6)**.5
    got = h.construct_target(target, (MEAN, STD))
    torch.testing.assert_close(got[0:1], expected)
    torch.testing.assert_close(got[1:2], expected, rtol=1e-5, atol=1e-6)
    # drawn back with the clean target's statistics
    torch.testing.assert_close(
        h.to_input_space(got, target, (MEAN, STD)),
        target,
        rtol=1e-5,
        atol=1e-5)


def test_bad_space_and_shapes_are_named():
    with pytest.raises(ValueError, match="rec_space must be one of"):
        head(rec_space='01')
    with pytest.raises(ValueError, match='model.neck.num_upsamples'):
        head().loss(
            torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 8, 8), (MEAN, STD))
