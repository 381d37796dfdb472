"""MixSSL: the mix and its λ, the R/T objectives and Table 3's C (NT-Xent
between two differently mixed views) and A (the auxiliary image's class)
switches, checked on small hand-computed examples; switched-off objectives
build nothing; the channels_last speed lever keeps the maths."""
import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import build_optim_wrapper
from scipy import stats

from mmpretrain.structures import DataSample
from mixssl_mm.models.utils import nt_xent
from tests._helpers.models import MIXSSL_R18, build_model, record_inputs
from tests._helpers.models import mixssl_samples as samples

CL = torch.channels_last
PREPROCESSOR = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
CONTRAST_NECK = dict(
    type='NonLinearNeck', in_channels=512, hid_channels=32, out_channels=8,
    num_layers=2, with_avg_pool=True, norm_cfg=dict(type='BN1d'))


def build(**kwargs):
    """MixSSL with a ResNet-18 encoder (tests/_helpers/models.py)."""
    return build_model(MIXSSL_R18, **kwargs)


def contrast_head(tau=0.1, weight=1.0):
    return dict(type='ContrastiveHead', temperature=tau,
                loss=dict(type='CrossEntropyLoss', loss_weight=weight))


def aux_head(num_classes=3, weight=1.0):
    return dict(type='LinearClsHead', num_classes=num_classes,
                in_channels=512,
                loss=dict(type='CrossEntropyLoss', loss_weight=weight))


def build_rc(**kwargs):
    kwargs.setdefault('contrast_neck', CONTRAST_NECK)
    kwargs.setdefault('contrast_head', contrast_head())
    return build(use_trans=False, use_contrast=True, **kwargs)


# -- the mix, λ, R and T ------------------------------------------------------
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


def test_pipeline_lambda_is_used_and_checked():
    """A per-sample or fixed λ from CrossDomainMixup (``mix_lam``) is the λ
    mixed with; one outside [0, 1] is refused."""
    model = build()
    lam = model.sample_lam(samples(3, lams=[0.25] * 3), 3,
                           torch.device('cpu'))
    assert lam.tolist() == [0.25] * 3
    with pytest.raises(ValueError, match=r'mix_lam must lie in \[0, 1\]'):
        model.sample_lam(samples(3, lams=[0.25, 1.5, 0.25]), 3,
                         torch.device('cpu'))


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
    model = build(backbone=dict(depth=50), neck=dict(in_channels=2048),
                  head=dict(in_channels=2048))
    model.eval()
    out = model.forward_mix([torch.randn(2, 3, 64, 64)] * 2, samples(2))
    assert out['rec'].shape == (2, 3, 64, 64)
    assert out['feats'][-1].shape[1] == 2048
    assert np.isfinite(out['rec'].detach().numpy()).all()


# -- R+C ----------------------------------------------------------------------
def test_contrastive_loss_is_nt_xent_with_the_contrast_head():
    g = torch.Generator().manual_seed(0)
    z1, z2 = (F.normalize(torch.randn(4, 8, generator=g), dim=1)
              for _ in range(2))
    model = build_rc(contrast_head=contrast_head(tau=0.5))
    torch.testing.assert_close(model.contrastive_loss(z1, z2),
                               nt_xent(z1, z2, model.contrast_head))
    # its loss_weight weighs loss_contrast
    heavy = build_rc(contrast_head=contrast_head(tau=0.5, weight=2.0))
    torch.testing.assert_close(heavy.contrastive_loss(z1, z2),
                               2 * model.contrastive_loss(z1, z2))


def test_contrast_views_share_the_target_and_roll_aux_and_lam():
    torch.manual_seed(0)
    model = build_rc()
    seen = record_inputs(model.backbone)
    x_t, x_a = torch.randn(3, 3, 32, 32), torch.randn(3, 3, 32, 32)
    lams = [0.1, 0.5, 0.8]
    model.loss([x_t, x_a], samples(3, lams=lams))
    assert len(seen) == 2  # one more encoder pass for the second view
    lam = torch.tensor(lams).view(-1, 1, 1, 1)
    torch.testing.assert_close(seen[0], (1 - lam) * x_t + lam * x_a)
    # view 2 of target i: the same x_t, the aux image and λ of sample i+1
    lam2 = lam.roll(-1, 0)
    torch.testing.assert_close(seen[1],
                               (1 - lam2) * x_t + lam2 * x_a.roll(-1, 0))


def test_per_batch_contrast_lam_is_a_second_beta_draw():
    model = build_rc()
    seen = record_inputs(model.backbone)
    # x_t = 0 and x_a = 1 make every pixel of a mix equal its λ
    x_t, x_a = torch.zeros(2, 3, 32, 32), torch.ones(2, 3, 32, 32)
    torch.manual_seed(3)
    beta = torch.distributions.Beta(torch.tensor(1.0), torch.tensor(1.0))
    lam1, lam2 = beta.sample(), beta.sample()
    torch.manual_seed(3)
    model.loss([x_t, x_a], samples(2))
    torch.testing.assert_close(seen[0], torch.full_like(x_t, lam1.item()))
    torch.testing.assert_close(seen[1], torch.full_like(x_t, lam2.item()))
    assert lam1 != lam2


def test_rc_loss_is_nt_xent_of_the_two_views_and_keeps_loss_rec():
    torch.manual_seed(0)
    rc = build_rc()
    r_only = build(use_trans=False)
    r_only.load_state_dict(rc.state_dict(), strict=False)
    x_t, x_a = torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)
    lams = [0.2, 0.4, 0.6, 0.9]
    losses = rc.loss([x_t, x_a], samples(4, lams=lams))
    assert set(losses) == {'loss_rec', 'loss_contrast'}
    # R is untouched by C: the same loss_rec as R alone (own encoder pass)
    torch.testing.assert_close(
        losses['loss_rec'],
        r_only.loss([x_t, x_a], samples(4, lams=lams))['loss_rec'])
    lam = torch.tensor(lams)
    v1 = rc.mix(x_t, x_a, lam)
    v2 = rc.mix(x_t, x_a.roll(-1, 0), lam.roll(-1, 0))
    z1 = F.normalize(rc.contrast_neck(rc.backbone(v1))[0], dim=1)
    z2 = F.normalize(rc.contrast_neck(rc.backbone(v2))[0], dim=1)
    torch.testing.assert_close(losses['loss_contrast'],
                               rc.contrastive_loss(z1, z2))
    sum(losses.values()).backward()
    for part in (rc.backbone, rc.neck, rc.contrast_neck):
        assert any(p.grad is not None and p.grad.abs().sum() > 0
                   for p in part.parameters())
# -- R+A ----------------------------------------------------------------------
def build_ra(num_classes=3, weight=1.0):
    return build(use_trans=False, use_aux=True,
                 aux_head=aux_head(num_classes, weight))


def test_aux_loss_is_cross_entropy_by_hand():
    model = build_ra(num_classes=3)
    # zero weights: every sample gets the logits log([1, 2, 1]), i.e.
    # softmax [1/4, 1/2, 1/4], whatever its features
    with torch.no_grad():
        model.aux_head.fc.weight.zero_()
        model.aux_head.fc.bias.copy_(torch.tensor([1.0, 2.0, 1.0]).log())
    x = [torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)]
    losses = model.loss(x, samples(2, aux_labels=[1, 0], aux_num_classes=3))
    assert set(losses) == {'loss_rec', 'loss_aux', 'acc_aux'}
    # (−log 1/2 − log 1/4) / 2 = 1.5·log 2
    torch.testing.assert_close(losses['loss_aux'],
                               torch.tensor(1.5 * math.log(2)))
    torch.testing.assert_close(losses['acc_aux'], torch.tensor(50.0))
    heavy = build_ra(num_classes=3, weight=2.0)
    heavy.load_state_dict(model.state_dict())
    torch.testing.assert_close(
        heavy.loss(x, samples(2, aux_labels=[1, 0]))['loss_aux'],
        torch.tensor(3 * math.log(2)))


def test_aux_head_reads_the_pooled_features_of_the_mix():
    torch.manual_seed(0)
    model = build_ra(num_classes=4)
    x_t, x_a = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    lams, labels = [0.3, 0.7], [3, 1]
    losses = model.loss([x_t, x_a], samples(2, lams=lams, aux_labels=labels))
    # the formula is checked in test_mixssl.py; the same op keeps the
    # rounding identical through BatchNorm over two samples
    feats = model.backbone(model.mix(x_t, x_a, torch.tensor(lams)))[-1]
    logits = model.aux_head.fc(feats.mean(dim=(2, 3)))
    torch.testing.assert_close(
        losses['loss_aux'], F.cross_entropy(logits, torch.tensor(labels)))


def test_aux_errors_name_the_config_keys():
    model = build_ra(num_classes=3)
    x = [torch.randn(2, 3, 32, 32)] * 2
    with pytest.raises(ValueError, match=r"no aux_label(?s:.*)with_label="
                       r"True(?s:.*)'aux_num_classes'"):
        model.loss(x, samples(2))
    with pytest.raises(ValueError, match=r'model.aux_head.num_classes=3 but '
                       r'the auxiliary pool .* has 16 classes; set '
                       r'model.aux_head.num_classes=16'):
        model.loss(x, samples(2, aux_labels=[0, 1], aux_num_classes=16))
    # without the pool's count, labels beyond num_classes are still caught
    with pytest.raises(ValueError, match=r'\[5\] do not fit model.aux_head.'
                       r'num_classes=3'):
        model.loss(x, samples(2, aux_labels=[0, 5]))
    with pytest.raises(ValueError, match='model.aux_head with num_classes'):
        build(use_aux=True, aux_head=dict(type='LinearClsHead',
                                          in_channels=512))
    with pytest.raises(ValueError, match='model.contrast_neck'):
        build(use_contrast=True, contrast_head=contrast_head())
    with pytest.raises(ValueError,
                       match=r'set model.aux_head.in_channels=512'):
        build(use_aux=True, aux_head=dict(aux_head(), in_channels=2048))
    with pytest.raises(ValueError,
                       match=r'set model.contrast_neck.in_channels=512'):
        build_rc(contrast_neck=dict(CONTRAST_NECK, in_channels=2048))


# -- switches -----------------------------------------------------------------
def test_switched_off_objectives_build_nothing():
    def children(model):
        return {n for n, _ in model.named_children()} - {
            'data_preprocessor', 'loss_rec'}

    assert children(build()) == {'backbone', 'neck', 'head'}
    assert children(build(use_trans=False)) == {'backbone', 'neck'}
    t_only = build(use_rec=False)
    assert children(t_only) == {'backbone', 'head'}
    assert children(build_rc()) == {
        'backbone', 'neck', 'contrast_neck', 'contrast_head'}
    assert children(build_ra()) == {'backbone', 'neck', 'aux_head'}
    # configs of switched-off parts are ignored, even when incomplete
    assert children(build(use_trans=False, head=dict(in_channels=64),
                          contrast_neck=dict(in_channels=64))) == {
                              'backbone', 'neck'}
    # T only: no decoder, so no stride constraint on the input size
    losses = t_only.loss([torch.randn(2, 3, 48, 48)] * 2, samples(2))
    assert set(losses) == {'loss_trans'}


def test_extra_objectives_leave_the_default_init_unchanged():
    torch.manual_seed(0)
    default = build().state_dict()
    torch.manual_seed(0)
    everything = build(
        use_contrast=True, contrast_neck=CONTRAST_NECK,
        contrast_head=contrast_head(), use_aux=True,
        aux_head=aux_head()).state_dict()
    for key, value in default.items():
        assert torch.equal(everything[key], value), key
    losses = build(
        use_contrast=True, contrast_neck=CONTRAST_NECK,
        contrast_head=contrast_head(), use_aux=True,
        aux_head=aux_head()).loss(
            [torch.randn(2, 3, 32, 32)] * 2, samples(2, aux_labels=[0, 2]))
    assert set(losses) == {'loss_rec', 'loss_trans', 'loss_contrast',
                           'loss_aux', 'acc_aux'}


# -- channels_last ------------------------------------------------------------
def rel_err(a, b):
    """||a - b|| / ||b||: float32 rounding through the whole network
    (BN over a few values, reflect pads, transposed convs) moves single
    elements by more than an elementwise tolerance allows."""
    return ((a.double() - b.double()).norm() /
            b.double().norm().clamp_min(1e-12)).item()


def conv_weights(model):
    return [p for p in model.parameters() if p.dim() == 4]


def test_channels_last_is_off_by_default_and_converts_at_first_use():
    model = build()
    assert model.channels_last is False
    x = torch.randn(2, 3, 64, 64)
    model.forward_mix([x, x], samples(2, lams=[0.3, 0.7]))
    assert all(p.is_contiguous() for p in conv_weights(model))

    model = build(channels_last=True, data_preprocessor=PREPROCESSOR)
    params = list(model.parameters())
    assert all(p.is_contiguous() for p in conv_weights(model))
    out = model.forward_mix([x, x], samples(2, lams=[0.3, 0.7]))
    # converted in place: the same Parameter objects, now channels_last
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    assert all(
        p.is_contiguous(memory_format=CL) for p in conv_weights(model))
    assert out['mixed'].is_contiguous(memory_format=CL)
    assert out['rec'].shape == (2, 3, 64, 64)


def test_channels_last_gives_the_same_loss_gradients_and_update():
    torch.manual_seed(0)
    ref = build(data_preprocessor=PREPROCESSOR)
    fast = build(channels_last=True, data_preprocessor=PREPROCESSOR)
    fast.load_state_dict(ref.state_dict())
    # 64 px: 2x2 features, so the decoder's reflect padding is exercised
    g = torch.Generator().manual_seed(1)
    data = dict(
        inputs=[
            torch.randint(0, 256, (4, 3, 64, 64), generator=g,
                          dtype=torch.uint8) for _ in range(2)
        ],
        data_samples=samples(4, lams=[0.1, 0.4, 0.6, 0.9]))
    # optimizers built before the first use (as the Runner does) must keep
    # updating the converted parameters. SGD: its step is linear in the
    # gradient (Adam's first step is lr·sign(g), which rounding may flip).
    wrappers = [
        build_optim_wrapper(m, dict(optimizer=dict(type='SGD', lr=0.1)))
        for m in (ref, fast)
    ]
    # 1) loss and gradients
    losses, grads = [], []
    for m in (ref, fast):
        batch = m.data_preprocessor(copy.deepcopy(data), True)
        loss = m.loss(**batch)
        sum(loss.values()).backward()
        losses.append(loss)
        grads.append({n: p.grad.clone() for n, p in m.named_parameters()})
        m.zero_grad()
    for key in ('loss_rec', 'loss_trans'):
        torch.testing.assert_close(
            losses[1][key], losses[0][key], rtol=1e-4, atol=1e-5)
    assert grads[0].keys() == grads[1].keys()
    # the default layout itself is ~1e-3 off a float64 run of this model
    for name in grads[0]:
        assert rel_err(grads[1][name], grads[0][name]) < 2e-2, name
    # 2) one train_step from the same weights: p <- p - 0.1·grad
    before = {n: p.detach().clone() for n, p in ref.named_parameters()}
    logs = [
        m.train_step(copy.deepcopy(data), w)
        for m, w in zip((ref, fast), wrappers)
    ]
    torch.testing.assert_close(
        logs[1]['loss'], logs[0]['loss'], rtol=1e-4, atol=1e-5)
    for m, g in zip((ref, fast), grads):
        for name, p in m.named_parameters():
            assert rel_err(p.detach() - before[name], -0.1 * g[name]) < 1e-3
    assert all(p.is_contiguous(memory_format=CL) for p in conv_weights(fast))
