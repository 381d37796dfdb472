import numpy as np
import pytest
import torch
from scipy import stats

from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


def build(depth=18, **kwargs):
    ch = 512 if depth in (18, 34) else 2048
    cfg = dict(
        type='MixSSL',
        backbone=dict(type='ResNet', depth=depth),
        neck=dict(type='ResnetGenerator', in_channels=ch, n_blocks=1),
        head=dict(type='TransparencyHead', in_channels=ch))
    for key, value in kwargs.items():
        if isinstance(value, dict) and key in cfg:
            cfg[key].update(value)
        else:
            cfg[key] = value
    return MODELS.build(cfg)


def samples(n, alpha=1.0, lams=None):
    out = []
    for i in range(n):
        s = DataSample()
        s.set_field(alpha, 'mix_alpha')
        if lams is not None:
            s.set_field(float(lams[i]), 'mix_lam')
        out.append(s)
    return out


def test_mix_formula_by_hand():
    x_t = torch.tensor([[[[0.0, 1.0]]], [[[2.0, 4.0]]]])
    x_a = torch.tensor([[[[1.0, 1.0]]], [[[0.0, 0.0]]]])
    lam = torch.tensor([0.25, 0.5])
    # (1-0.25)*[0,1] + 0.25*[1,1] = [0.25, 1]; 0.5*[2,4] + 0.5*[0,0] = [1, 2]
    expected = torch.tensor([[[[0.25, 1.0]]], [[[1.0, 2.0]]]])
    torch.testing.assert_close(build().mix(x_t, x_a, lam), expected)


def test_encoder_sees_the_mix_and_decoder_targets_x_t():
    model = build()
    x_t, x_a = torch.randn(3, 3, 32, 32), torch.randn(3, 3, 32, 32)
    lams = [0.1, 0.5, 0.9]
    seen = {}

    def record_input(module, args, output):
        seen.setdefault('x', args[0].detach())

    model.backbone.register_forward_hook(record_input)
    losses = model.loss([x_t, x_a], samples(3, lams=lams))
    lam = torch.tensor(lams).view(-1, 1, 1, 1)
    torch.testing.assert_close(seen['x'], (1 - lam) * x_t + lam * x_a)
    out = model.forward_mix([x_t, x_a], samples(3, lams=lams))
    torch.testing.assert_close(
        losses['loss_rec'], torch.nn.functional.mse_loss(out['rec'], x_t),
        rtol=1e-4, atol=1e-5)


def test_per_batch_lambda_is_shared_and_beta_distributed():
    model = build()
    torch.manual_seed(0)
    for alpha in (0.5, 2.0):
        draws = []
        for _ in range(1500):
            lam = model.sample_lam(samples(4, alpha), 4, torch.device('cpu'))
            assert (lam == lam[0]).all()  # one λ for the whole batch
            draws.append(lam[0].item())
        # a wrong α or distribution is rejected by the KS test at this size
        assert stats.kstest(draws, 'beta', args=(alpha, alpha)).pvalue > 1e-3
        assert stats.kstest(draws, 'beta', args=(1.0, 1.0)).pvalue < 1e-3


def test_gradients_reach_encoder_decoder_and_head():
    model = build()
    losses = model.loss([torch.randn(2, 3, 32, 32)] * 2, samples(2))
    assert set(losses) == {'loss_rec', 'loss_trans'}
    sum(losses.values()).backward()
    for part in (model.backbone, model.neck, model.head):
        grads = [p.grad for p in part.parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)


def test_gamma_weights_loss_trans_and_objective_switches():
    torch.manual_seed(0)
    m1 = build()
    m2 = build(head=dict(loss=dict(type='TransparencyLoss', loss_weight=3.0)))
    m2.load_state_dict(m1.state_dict())
    inputs = [torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)]
    l1 = m1.loss(inputs, samples(2, lams=[0.3, 0.6]))
    l2 = m2.loss(inputs, samples(2, lams=[0.3, 0.6]))
    torch.testing.assert_close(l2['loss_trans'], 3 * l1['loss_trans'])
    assert set(build(use_trans=False).loss(inputs, samples(2))) == {
        'loss_rec'
    }
    assert set(build(use_rec=False).loss(inputs, samples(2))) == {
        'loss_trans'
    }
    with pytest.raises(ValueError, match='use_rec'):
        build(use_rec=False, use_trans=False)


def test_tensor_mode_gives_encoder_features():
    model = build()
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    feats = model(x, mode='tensor')
    torch.testing.assert_close(feats[-1], model.backbone(x)[-1])
    assert feats[-1].shape == (2, 512, 2, 2)


def test_wrong_inputs_are_named():
    model = build()
    x = torch.randn(2, 3, 32, 32)
    for bad in (x, [x], [x, torch.randn(2, 3, 64, 64)], [x, x, x]):
        with pytest.raises(TypeError, match='CrossDomainMixup'):
            model.loss(bad, samples(2))
    with pytest.raises(ValueError, match='multiple of 32'):
        model.loss([torch.randn(2, 3, 48, 48)] * 2, samples(2))
    with pytest.raises(KeyError, match='algorithm_keys'):
        model.loss([x, x], [DataSample(), DataSample()])


def test_decoder_mismatch_fails_at_build_time():
    with pytest.raises(ValueError, match=r'neck.in_channels=512'):
        build(neck=dict(in_channels=2048))
    with pytest.raises(ValueError, match=r'head.in_channels=512'):
        build(head=dict(in_channels=2048))
    with pytest.raises(ValueError, match='num_upsamples=5'):
        build(neck=dict(num_upsamples=4))


def test_resnet50_default_shapes():
    model = build(depth=50)
    model.eval()
    out = model.forward_mix([torch.randn(2, 3, 64, 64)] * 2, samples(2))
    assert out['rec'].shape == (2, 3, 64, 64)
    assert out['feats'][-1].shape[1] == 2048
    assert np.isfinite(out['rec'].detach().numpy()).all()
