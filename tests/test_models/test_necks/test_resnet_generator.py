import pytest
import torch
from mmpretrain.registry import MODELS


@pytest.mark.parametrize('size', [32, 64, 224])
def test_decoder_restores_input_size_from_resnet_features(size):
    encoder = MODELS.build(dict(type='ResNet', depth=18))
    encoder.eval()  # mmpretrain's ResNet.train() does not return self
    decoder = MODELS.build(
        dict(type='ResnetGenerator', in_channels=512, n_blocks=1)).train()
    with torch.no_grad():
        feats = encoder(torch.randn(2, 3, size, size))
        # 32 px -> 1x1 features: reflect padding must not fail there
        assert feats[-1].shape[-1] == size // 32
        out = decoder(feats)
    assert isinstance(out, tuple) and out[0].shape == (2, 3, size, size)


def small_decoder(**kwargs):
    """A ResnetGenerator on 8-channel features."""
    return MODELS.build(dict(type='ResnetGenerator', in_channels=8, **kwargs))


@pytest.mark.parametrize('mode', ['reflect', 'replicate', 'zeros'])
def test_padding_modes_on_1x1(mode):
    decoder = small_decoder(
        num_upsamples=2, res_channels=16, ngf=4, n_blocks=2, padding_mode=mode)
    assert decoder(torch.randn(2, 8, 1, 1))[0].shape == (2, 3, 4, 4)


def test_decoder_width_and_tanh():
    decoder = small_decoder(
        num_upsamples=3, res_channels=64, ngf=16, n_blocks=0, out_act='tanh')
    convt = [
        m for m in decoder.modules() if isinstance(m, torch.nn.ConvTranspose2d)
    ]
    # channels halve from res_channels and stop at ngf
    assert [m.out_channels for m in convt] == [32, 16, 16]
    out = decoder(torch.randn(2, 8, 2, 2) * 50)[0]
    assert out.abs().max() <= 1


def test_decoder_bad_config_and_input():
    with pytest.raises(ValueError, match='padding_mode'):
        MODELS.build(dict(type='ResnetGenerator', padding_mode='circular'))
    decoder = MODELS.build(dict(type='ResnetGenerator', in_channels=2048))
    with pytest.raises(ValueError, match='neck.in_channels'):
        decoder(torch.randn(1, 512, 2, 2))
