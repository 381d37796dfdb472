"""MixSSL's open design choices on the model (configs/mixssl/README.md,
"Design choices"): the paper's reading of the loss is bit-identical to the
loss before the options existed; ``rec_head.rec_space='unit'`` reconstructs
the target in [0, 1]; per-sample and per-batch λ reach the mix."""
import pytest
import torch
import torch.nn.functional as F

from tests._helpers.models import MIXSSL_R18, build_model, two_views

PREPROCESSOR = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
LAMS = [0.1, 0.4, 0.6, 0.9]
# MixSSL's losses before the design-choice options existed (commit f2783ca),
# float32 as hex: seed 0, ResNet-18 MIXSSL_R18 after init_weights(),
# two_views(4, 32, seed=0); per-sample LAMS, then one λ per batch drawn
# by Beta(1, 1) after torch.manual_seed(1) (where λ came from then).
GOLDEN = {
    'sample': dict(loss_rec='0x1.2b6ee2p+0', loss_trans='0x1.185c86p-2'),
    'batch': dict(loss_rec='0x1.2b163ap+0', loss_trans='0x1.c3859ap-4'),
}


def build(**kwargs):
    torch.manual_seed(0)
    model = build_model(MIXSSL_R18, **kwargs)
    model.init_weights()
    return model


def losses_with(model, lam):
    """``loss()`` of ``model`` with a given λ (N, ): its lines, with
    forward_mix given λ instead of drawing it."""
    out = model.forward_mix(two_views(4, 32, seed=0), lam=lam)
    losses = model.rec_head.loss(out['rec'], out['target'],
                                 model.pixel_stats(out['target']))
    losses.update(model.head.loss(out['feats'], out['lam']))
    return losses


def test_default_loss_equals_the_loss_before_the_options():
    """The paper's reading, default and spelled out, gives the recorded
    loss: bit for bit against each other, and against the recorded values
    (a relative 1e-6 leaves room only for another BLAS's summation
    order)."""
    torch.manual_seed(1)
    one = torch.distributions.Beta(torch.tensor(1.0),
                                   torch.tensor(1.0)).sample()
    lams = dict(sample=torch.tensor(LAMS), batch=one.expand(4))
    explicit = build(
        rec_head=dict(rec_space='normalized', norm_pix=False),
        neck=dict(init_cfg=None))
    default = build()
    for mode, golden in GOLDEN.items():
        got = losses_with(default, lams[mode])
        again = losses_with(explicit, lams[mode])
        for key, value in golden.items():
            assert torch.equal(got[key], again[key]), (mode, key)
            torch.testing.assert_close(
                got[key].item(), float.fromhex(value), rtol=1e-6, atol=0)


def test_rec_space_is_checked():
    with pytest.raises(ValueError, match='rec_space'):
        build(rec_head=dict(rec_space='01'))


def uint8_batch(n=2, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        inputs=[
            torch.randint(
                0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
            for _ in range(2)
        ],
        data_samples=None)


def test_unit_rec_space_targets_the_rgb_image_in_0_1():
    model = build(
        rec_head=dict(rec_space='unit'),
        data_preprocessor=PREPROCESSOR,
        fixed_lam=0.3)
    data = uint8_batch()
    batch = model.data_preprocessor(data, True)
    out = model.forward_mix(batch['inputs'])
    stats = model.pixel_stats(out['target'])
    target = model.rec_head.construct_target(out['target'], stats)
    # the encoder still sees the normalised mix; the target is RGB / 255
    rgb = data['inputs'][0].flip(1).float() / 255  # BGR loader -> RGB
    torch.testing.assert_close(target, rgb, rtol=0, atol=1e-6)
    assert out['target'].min() < -1  # normalised (mean 0, std 1)
    torch.testing.assert_close(
        model.loss(**batch)['loss_rec'],
        F.mse_loss(out['rec'], rgb),
        rtol=1e-5,
        atol=1e-6)
    # a reconstruction is drawn as an input: back to the normalised space
    torch.testing.assert_close(
        model.rec_head.to_input_space(target, out['target'], stats),
        out['target'],
        rtol=0,
        atol=1e-4)


def test_lambda_modes_reach_the_mix():
    x_t, x_a = two_views(4, 32, seed=0)
    out = build().forward_mix([x_t, x_a])
    assert len(set(out['lam'].tolist())) == 4  # the default: per sample
    lam = out['lam'].view(-1, 1, 1, 1)
    torch.testing.assert_close(out['mixed'], (1 - lam) * x_t + lam * x_a)
    out = build(lam_mode='batch').forward_mix([x_t, x_a])
    assert (out['lam'] == out['lam'][0]).all()  # the paper's reading
