"""Table 3's objectives as MixSSL switches: R+C (NT-Xent between two
differently mixed views) and R+A (the auxiliary image's class), checked on
small hand-computed examples; switched-off objectives build nothing."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

CONTRAST_NECK = dict(
    type='NonLinearNeck', in_channels=512, hid_channels=32, out_channels=8,
    num_layers=2, with_avg_pool=True, norm_cfg=dict(type='BN1d'))


def contrast_head(tau=0.1, weight=1.0):
    return dict(type='ContrastiveHead', temperature=tau,
                loss=dict(type='CrossEntropyLoss', loss_weight=weight))


def aux_head(num_classes=3, weight=1.0):
    return dict(type='LinearClsHead', num_classes=num_classes,
                in_channels=512,
                loss=dict(type='CrossEntropyLoss', loss_weight=weight))


def build(**kwargs):
    cfg = dict(
        type='MixSSL',
        backbone=dict(type='ResNet', depth=18),
        neck=dict(type='ResnetGenerator', in_channels=512, n_blocks=1),
        head=dict(type='TransparencyHead', in_channels=512))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def build_rc(**kwargs):
    kwargs.setdefault('contrast_neck', CONTRAST_NECK)
    kwargs.setdefault('contrast_head', contrast_head())
    return build(use_trans=False, use_contrast=True, **kwargs)


def samples(n, lams=None, aux_labels=None, aux_num_classes=None):
    out = []
    for i in range(n):
        s = DataSample()
        s.set_field(1.0, 'mix_alpha')
        if lams is not None:
            s.set_field(float(lams[i]), 'mix_lam')
        if aux_labels is not None:
            s.set_field(int(aux_labels[i]), 'aux_label')
        if aux_num_classes is not None:
            s.set_field(aux_num_classes, 'aux_num_classes')
        out.append(s)
    return out


def record_backbone_inputs(model):
    seen = []
    model.backbone.register_forward_hook(
        lambda module, args, output: seen.append(args[0].detach().clone()))
    return seen


# -- R+C ----------------------------------------------------------------------
def test_nt_xent_by_hand():
    # two images, two views; unit vectors at angles 0°, 60° (image 0) and
    # 90°, 180° (image 1): cosines 1/2 within each image
    def unit(deg):
        r = math.radians(deg)
        return [math.cos(r), math.sin(r)]

    z1 = torch.tensor([unit(0), unit(90)])
    z2 = torch.tensor([unit(60), unit(180)])
    tau = 0.5
    views = [z1[0], z2[0], z1[1], z2[1]]  # anchors; pairs (0,1), (2,3)
    expected = 0.0
    for a in range(4):
        pos = a ^ 1
        logits = {k: float(views[a] @ views[k]) / tau
                  for k in range(4) if k != a}
        expected += -math.log(
            math.exp(logits[pos]) / sum(math.exp(v) for v in logits.values()))
    expected /= 4
    model = build_rc(contrast_head=contrast_head(tau=tau))
    torch.testing.assert_close(
        model.contrastive_loss(z1, z2), torch.tensor(expected))
    # its loss_weight weighs loss_contrast
    heavy = build_rc(contrast_head=contrast_head(tau=tau, weight=2.0))
    torch.testing.assert_close(
        heavy.contrastive_loss(z1, z2), torch.tensor(2 * expected))


def test_contrast_views_share_the_target_and_roll_aux_and_lam():
    torch.manual_seed(0)
    model = build_rc()
    seen = record_backbone_inputs(model)
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
    seen = record_backbone_inputs(model)
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
    losses = MODELS.build(dict(
        type='MixSSL', backbone=dict(type='ResNet', depth=18),
        neck=dict(type='ResnetGenerator', in_channels=512, n_blocks=1),
        head=dict(type='TransparencyHead', in_channels=512),
        use_contrast=True, contrast_neck=CONTRAST_NECK,
        contrast_head=contrast_head(), use_aux=True,
        aux_head=aux_head())).loss(
            [torch.randn(2, 3, 32, 32)] * 2, samples(2, aux_labels=[0, 2]))
    assert set(losses) == {'loss_rec', 'loss_trans', 'loss_contrast',
                           'loss_aux', 'acc_aux'}
