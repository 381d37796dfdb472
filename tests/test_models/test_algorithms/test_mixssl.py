"""MixSSL: the mix and its λ (the model's own draws), the R/T objectives and
Table 3's C (MixSSLContrast: NT-Xent between two differently mixed views)
and A (MixSSLAux: the auxiliary image's class), checked on small
hand-computed examples; switched-off objectives build nothing; checkpoints
of the earlier layout load; channels_last is set where the model is
built."""
import copy
import json
import math
import os.path as osp
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mixssl_mm.models.utils import LambdaSampler, nt_xent
from tests._helpers.models import MIXSSL_R18, build_model
from tests._helpers.models import mixssl_samples as samples
from tests._helpers.models import record_inputs

CL = torch.channels_last
PREPROCESSOR = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
CONTRAST_NECK = dict(
    type='NonLinearNeck',
    in_channels=512,
    hid_channels=32,
    out_channels=8,
    num_layers=2,
    with_avg_pool=True,
    norm_cfg=dict(type='BN1d'))


def build(**kwargs):
    """MixSSL with a ResNet-18 encoder (tests/_helpers/models.py)."""
    return build_model(MIXSSL_R18, **kwargs)


def contrast_head(tau=0.1, weight=1.0):
    return dict(
        type='ContrastiveHead',
        temperature=tau,
        loss=dict(type='CrossEntropyLoss', loss_weight=weight))


def aux_head(num_classes=3, weight=1.0):
    return dict(
        type='LinearClsHead',
        num_classes=num_classes,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=weight))


def build_rc(**kwargs):
    kwargs.setdefault('contrast_neck', CONTRAST_NECK)
    kwargs.setdefault('contrast_head', contrast_head())
    kwargs.setdefault('use_trans', False)
    return build(type='MixSSLContrast', **kwargs)


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
    lam = torch.tensor([0.1, 0.5, 0.9])
    seen = record_inputs(model.backbone)
    out = model.forward_mix([x_t, x_a], lam=lam)
    lam4 = lam.view(-1, 1, 1, 1)
    torch.testing.assert_close(seen[0], (1 - lam4) * x_t + lam4 * x_a)
    torch.testing.assert_close(
        model.rec_head.loss(out['rec'], x_t,
                            model.pixel_stats(x_t))['loss_rec'],
        F.mse_loss(out['rec'], x_t))


def test_loss_mixes_with_the_models_own_lambda_draws():
    """``loss`` draws λ from ``lam_sampler`` (per sample by default), not
    from torch's global generator: the same seed gives the same λs whatever
    the global state, and they are what the encoder sees."""
    model = build()
    twin = LambdaSampler(seed=model.lam_sampler.seed)
    seen = record_inputs(model.backbone)
    # x_t = 0 and x_a = 1 make every pixel of a mix equal its λ
    x_t, x_a = torch.zeros(4, 3, 32, 32), torch.ones(4, 3, 32, 32)
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        model.loss([x_t, x_a], samples(4))
        lam = twin(4, torch.device('cpu'))
        assert len(set(lam.tolist())) == 4  # per sample
        torch.testing.assert_close(seen[-1][:, 0, 0, 0], lam)
    batch = build(lam_mode='batch')
    seen = record_inputs(batch.backbone)
    batch.loss([x_t, x_a], samples(4))
    assert len(set(seen[0][:, 0, 0, 0].tolist())) == 1
    fixed = build(fixed_lam=0.3)
    seen = record_inputs(fixed.backbone)
    fixed.loss([x_t, x_a], samples(4))
    torch.testing.assert_close(seen[0], torch.full_like(x_t, 0.3))


def test_lambda_state_is_in_the_model_state_dict():
    model = build()
    model.loss([torch.randn(2, 3, 32, 32)] * 2, samples(2))
    state = copy.deepcopy(model.state_dict())
    assert {'lam_sampler.seed', 'lam_sampler.rng_state'} <= set(state)
    expected = model.lam_sampler(4, torch.device('cpu'))
    resumed = build()
    resumed.load_state_dict(state)
    torch.testing.assert_close(
        resumed.lam_sampler(4, torch.device('cpu')), expected)


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
    m1 = build(fixed_lam=0.3)
    m2 = build(
        fixed_lam=0.3,
        head=dict(loss=dict(type='TransparencyLoss', loss_weight=3.0)))
    m2.load_state_dict(m1.state_dict())
    inputs = [torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)]
    l1 = m1.loss(inputs, samples(2))
    l2 = m2.loss(inputs, samples(2))
    torch.testing.assert_close(l2['loss_trans'], 3 * l1['loss_trans'])
    assert set(build(use_trans=False).loss(inputs, samples(2))) == {'loss_rec'}
    assert set(build(use_rec=False).loss(inputs, samples(2))) == {'loss_trans'}
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
    # the data samples carry nothing MixSSL (R+T) needs
    assert set(model.loss(
        [x, x], [DataSample(), DataSample()])) == {'loss_rec', 'loss_trans'}


def test_keys_of_earlier_versions_name_their_new_place():
    for key, value, place in [
        ('loss_rec', dict(type='ReconstructionLoss'), 'model.rec_head.loss'),
        ('rec_space', 'unit', 'model.rec_head.rec_space'),
        ('use_contrast', True, "model.type='MixSSLContrast'"),
        ('use_aux', True, "model.type='MixSSLAux'"),
    ]:
        with pytest.raises(
                TypeError, match=f'{key} moved to ' + re.escape(place)):
            build(**{key: value})
    with pytest.raises(
            TypeError, match=r"unexpected keyword argument\(s\) "
            r"\['gamma'\]"):
        build(gamma=1.0)


def test_nothing_runs_in_init():
    """The channel/stride check is the pre-flight's (tests/test_preflight/
    test_channels.py): building a misfit runs no forward pass, and the
    first step names the fix."""
    seen = []
    from mmpretrain.models.backbones import ResNet
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda m, a, o: seen.append(type(m))
        if isinstance(m, ResNet) else None)
    try:
        model = build(neck=dict(num_upsamples=4))
    finally:
        handle.remove()
    assert seen == []
    with pytest.raises(ValueError, match='num_upsamples'):
        model.loss([torch.randn(2, 3, 32, 32)] * 2, samples(2))


def test_resnet50_default_shapes():
    model = build(
        backbone=dict(depth=50),
        neck=dict(in_channels=2048),
        head=dict(in_channels=2048))
    model.eval()
    out = model.forward_mix([torch.randn(2, 3, 64, 64)] * 2)
    assert out['rec'].shape == (2, 3, 64, 64)
    assert out['feats'][-1].shape[1] == 2048
    assert np.isfinite(out['rec'].detach().numpy()).all()


# -- R+C ----------------------------------------------------------------------
def test_contrast_views_share_the_target_and_take_a_second_lambda():
    model = build_rc(fixed_lam=None)
    twin = LambdaSampler(seed=model.lam_sampler.seed)
    seen = record_inputs(model.backbone)
    x_t, x_a = torch.randn(3, 3, 32, 32), torch.randn(3, 3, 32, 32)
    model.loss([x_t, x_a], samples(3))
    assert len(seen) == 2  # one more encoder pass for the second view
    lam = twin(3, torch.device('cpu')).view(-1, 1, 1, 1)
    torch.testing.assert_close(seen[0], (1 - lam) * x_t + lam * x_a)
    # view 2 of target i: the same x_t, the aux image of sample i+1 and the
    # sampler's next draw
    lam2 = twin(3, torch.device('cpu')).view(-1, 1, 1, 1)
    torch.testing.assert_close(seen[1],
                               (1 - lam2) * x_t + lam2 * x_a.roll(-1, 0))


def test_rc_loss_is_nt_xent_of_the_two_views_and_keeps_loss_rec():
    torch.manual_seed(0)
    rc = build_rc(fixed_lam=0.4)
    r_only = build(use_trans=False, fixed_lam=0.4)
    r_only.load_state_dict(rc.state_dict(), strict=False)
    x_t, x_a = torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)
    losses = rc.loss([x_t, x_a], samples(4))
    assert set(losses) == {'loss_rec', 'loss_contrast'}
    # R is untouched by C: the same loss_rec as R alone (own encoder pass)
    torch.testing.assert_close(losses['loss_rec'],
                               r_only.loss([x_t, x_a], samples(4))['loss_rec'])
    lam = torch.full((4, ), 0.4)
    v1 = rc.mix(x_t, x_a, lam)
    v2 = rc.mix(x_t, x_a.roll(-1, 0), lam)
    z1 = F.normalize(rc.contrast_neck(rc.backbone(v1))[0], dim=1)
    z2 = F.normalize(rc.contrast_neck(rc.backbone(v2))[0], dim=1)
    torch.testing.assert_close(losses['loss_contrast'],
                               nt_xent(z1, z2, rc.contrast_head))
    # its loss_weight weighs loss_contrast
    heavy = build_rc(fixed_lam=0.4, contrast_head=contrast_head(weight=2.0))
    heavy.load_state_dict(rc.state_dict())
    torch.testing.assert_close(
        heavy.loss([x_t, x_a], samples(4))['loss_contrast'],
        2 * losses['loss_contrast'])
    sum(losses.values()).backward()
    for part in (rc.backbone, rc.neck, rc.contrast_neck):
        assert any(p.grad is not None and p.grad.abs().sum() > 0
                   for p in part.parameters())


# -- R+A ----------------------------------------------------------------------
def build_ra(num_classes=3, weight=1.0, **kwargs):
    kwargs.setdefault('use_trans', False)
    return build(
        type='MixSSLAux', aux_head=aux_head(num_classes, weight), **kwargs)


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
    model = build_ra(num_classes=4, fixed_lam=0.3)
    x_t, x_a = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    labels = [3, 1]
    losses = model.loss([x_t, x_a], samples(2, aux_labels=labels))
    # the same op keeps the rounding identical through BatchNorm over two
    # samples
    feats = model.backbone(model.mix(x_t, x_a, torch.full((2, ), 0.3)))[-1]
    logits = model.aux_head.fc(feats.mean(dim=(2, 3)))
    torch.testing.assert_close(losses['loss_aux'],
                               F.cross_entropy(logits, torch.tensor(labels)))


def test_aux_errors_name_the_config_keys():
    model = build_ra(num_classes=3)
    x = [torch.randn(2, 3, 32, 32)] * 2
    with pytest.raises(
            ValueError,
            match=r"no aux_label(?s:.*)with_label="
            r"True(?s:.*)'aux_num_classes'"):
        model.loss(x, samples(2))
    with pytest.raises(
            ValueError,
            match=r'model.aux_head.num_classes=3 but '
            r'the auxiliary pool .* has 16 classes; set '
            r'model.aux_head.num_classes=16'):
        model.loss(x, samples(2, aux_labels=[0, 1], aux_num_classes=16))
    # without the pool's count, labels beyond num_classes are still caught
    with pytest.raises(
            ValueError, match=r'\[5\] do not fit model.aux_head.'
            r'num_classes=3'):
        model.loss(x, samples(2, aux_labels=[0, 5]))
    with pytest.raises(ValueError, match='model.aux_head with num_classes'):
        build(
            type='MixSSLAux',
            aux_head=dict(type='LinearClsHead', in_channels=512))
    with pytest.raises(TypeError, match='contrast_neck'):
        build(type='MixSSLContrast', contrast_head=contrast_head())


# -- switches -----------------------------------------------------------------
def test_switched_off_objectives_build_nothing():

    def children(model):
        return {n
                for n, _ in model.named_children()
                } - {'data_preprocessor', 'lam_sampler'}

    assert children(build()) == {'backbone', 'neck', 'head', 'rec_head'}
    assert children(build(use_trans=False)) == {'backbone', 'neck', 'rec_head'}
    t_only = build(use_rec=False)
    assert children(t_only) == {'backbone', 'head'}
    assert children(build_rc()) == {
        'backbone', 'neck', 'rec_head', 'contrast_neck', 'contrast_head'
    }
    assert children(build_ra()) == {'backbone', 'neck', 'rec_head', 'aux_head'}
    # configs of switched-off parts are ignored, even when incomplete
    assert children(
        build(use_trans=False,
              head=dict(in_channels=64))) == {'backbone', 'neck', 'rec_head'}
    # T only: no decoder, so no stride constraint on the input size
    losses = t_only.loss([torch.randn(2, 3, 48, 48)] * 2, samples(2))
    assert set(losses) == {'loss_trans'}
    # C or A alone (no R, no T) is allowed: the subclass adds an objective
    assert set(
        build_rc(use_rec=False).loss([torch.randn(2, 3, 48, 48)] * 2,
                                     samples(2))) == {'loss_contrast'}


def test_extra_objectives_leave_the_default_init_unchanged():
    torch.manual_seed(0)
    default = build().state_dict()
    for sub in (build_rc, build_ra):
        torch.manual_seed(0)
        everything = sub(use_trans=True).state_dict()
        for key, value in default.items():
            if not key.startswith('lam_sampler.'):
                assert torch.equal(everything[key], value), key


# -- checkpoints of the layout before issue 18 --------------------------------
# the state_dict keys of checkpoints saved by commit 291dfb6 (MixSSL with
# use_contrast/use_aux switches, loss_rec in the model, λ from the pipeline)
# for a ResNet-18 R+T, R+C and R+A model (tests/_helpers/models.py sizes
# differ, the names do not); MixSSL now adds only lam_sampler.seed and
# lam_sampler.rng_state
OLD_KEYS = osp.join(osp.dirname(__file__), 'data', 'mixssl_keys_291dfb6.json')


def tiny(kind):
    """The models the key lists were saved from (ResNet-18 of width 4)."""
    sizes = dict(
        backbone=dict(base_channels=4),
        neck=dict(in_channels=32, res_channels=8, ngf=4),
        head=dict(in_channels=32, hid_channels=8))
    if kind == 'rc':
        return build_rc(
            contrast_neck=dict(
                CONTRAST_NECK, in_channels=32, hid_channels=8, out_channels=4),
            **sizes)
    if kind == 'ra':
        return build(
            type='MixSSLAux',
            use_trans=False,
            aux_head=dict(aux_head(), in_channels=32),
            **sizes)
    return build(**sizes)


@pytest.mark.parametrize('kind', ['rt', 'rc', 'ra'])
def test_checkpoints_of_the_earlier_layout_load_strictly(kind):
    """The parameter and buffer names did not change (the decoder stays the
    neck, the λ regressor the head; C and A keep their module names in
    their subclasses; the new rec_head has no state), so the key mapping is
    the identity plus the new λ generator state, which a checkpoint
    without it does not need."""
    with open(OLD_KEYS) as f:
        old_keys = set(json.load(f)[kind])
    model = tiny(kind)
    state = model.state_dict()
    assert set(state) - old_keys == {
        'lam_sampler.seed', 'lam_sampler.rng_state'
    }
    assert old_keys <= set(state)
    # an old checkpoint: exactly the old keys, other values, no λ state
    old = {
        k: v + 1 if v.is_floating_point() else v.clone()
        for k, v in state.items() if k in old_keys
    }
    seed = model.lam_sampler.seed
    model.load_state_dict(old, strict=True)
    for key, value in old.items():
        assert torch.equal(model.state_dict()[key], value), key
    assert model.lam_sampler.seed == seed  # keeps the run's stream


# -- channels_last ------------------------------------------------------------
def conv_weights(model):
    return [p for p in model.parameters() if p.dim() == 4]


def test_channels_last_converts_once_where_the_model_is_built():
    model = build()
    assert model.channels_last is False
    assert all(p.is_contiguous() for p in conv_weights(model))
    model = build(channels_last=True, data_preprocessor=PREPROCESSOR)
    assert all(p.is_contiguous(memory_format=CL) for p in conv_weights(model))
    params = [id(p) for p in model.parameters()]
    # weight init, loading and moving keep the format (and the Parameters)
    model.init_weights()
    model.load_state_dict(build().state_dict())
    model.to('cpu')
    assert [id(p) for p in model.parameters()] == params
    assert all(p.is_contiguous(memory_format=CL) for p in conv_weights(model))
    x = torch.randn(2, 3, 64, 64)
    out = model.forward_mix([x, x])
    # forward changes no format: the inputs stay as given
    assert out['mixed'].is_contiguous()
    assert out['rec'].shape == (2, 3, 64, 64)


def test_channels_last_gives_the_same_loss():
    torch.manual_seed(0)
    ref = build(data_preprocessor=PREPROCESSOR, fixed_lam=0.3)
    fast = build(
        channels_last=True, data_preprocessor=PREPROCESSOR, fixed_lam=0.3)
    fast.load_state_dict(ref.state_dict())
    x = [torch.randn(4, 3, 64, 64) for _ in range(2)]
    losses = [m.loss(x, samples(4)) for m in (ref, fast)]
    for key in ('loss_rec', 'loss_trans'):
        torch.testing.assert_close(
            losses[1][key], losses[0][key], rtol=1e-4, atol=1e-5)
