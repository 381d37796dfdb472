"""MixSSL's open design choices on the model (configs/mixssl/README.md,
"Design choices"): the paper's reading is the default and bit-identical to
the loss before the options existed; ``rec_space='unit'`` reconstructs the
target in [0, 1]; per-sample λs reach the mix."""
import pytest
import torch
import torch.nn.functional as F

from tests._helpers.models import MIXSSL_R18, build_model, two_views
from tests._helpers.models import mixssl_samples as samples

PREPROCESSOR = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
LAMS = [0.1, 0.4, 0.6, 0.9]
# MixSSL's losses before the design-choice options existed (commit f2783ca),
# float32 as hex: seed 0, ResNet-18 MIXSSL_R18 after init_weights(),
# two_views(4, 32, seed=0); per-sample LAMS, then one λ per batch drawn
# after torch.manual_seed(1).
GOLDEN = {
    'sample': dict(loss_rec='0x1.2b6ee2p+0', loss_trans='0x1.185c86p-2'),
    'batch': dict(loss_rec='0x1.2b163ap+0', loss_trans='0x1.c3859ap-4'),
}


def build(**kwargs):
    torch.manual_seed(0)
    model = build_model(MIXSSL_R18, **kwargs)
    model.init_weights()
    return model


def losses_of(model):
    x = two_views(4, 32, seed=0)
    per_sample = model.loss(x, samples(4, lams=LAMS))
    torch.manual_seed(1)
    return dict(sample=per_sample, batch=model.loss(x, samples(4)))


def test_default_loss_equals_the_loss_before_the_options():
    """The paper's reading, default and spelled out, gives today's loss:
    bit for bit against each other, and against the recorded values (a
    relative 1e-6 leaves room only for another BLAS's summation order)."""
    default = losses_of(build())
    explicit = losses_of(build(rec_space='normalized', neck=dict(
        init_cfg=None)))
    for mode, golden in GOLDEN.items():
        for key, value in golden.items():
            got = default[mode][key]
            assert torch.equal(got, explicit[mode][key]), (mode, key)
            torch.testing.assert_close(
                got.item(), float.fromhex(value), rtol=1e-6, atol=0)


def test_rec_space_is_checked():
    with pytest.raises(ValueError, match='rec_space'):
        build(rec_space='01')


def uint8_batch(n=2, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        inputs=[torch.randint(0, 256, (n, 3, size, size), generator=g,
                              dtype=torch.uint8) for _ in range(2)],
        data_samples=samples(n, lams=[0.3, 0.7][:n]))


def test_unit_rec_space_targets_the_rgb_image_in_0_1():
    model = build(rec_space='unit', data_preprocessor=PREPROCESSOR)
    data = uint8_batch()
    batch = model.data_preprocessor(data, True)
    out = model.forward_mix(**batch)
    # the encoder still sees the normalised mix; the target is RGB / 255
    rgb = data['inputs'][0].flip(1).float() / 255  # BGR loader -> RGB
    torch.testing.assert_close(out['rec_target'], rgb, rtol=0, atol=1e-6)
    # [0, 1] up to float rounding of the de-normalisation
    assert -1e-6 < out['rec_target'].min() < 0.01
    assert 0.99 < out['rec_target'].max() < 1 + 1e-6
    assert out['target'].min() < -1  # normalised (mean 0, std 1)
    torch.testing.assert_close(
        model.loss(**batch)['loss_rec'],
        F.mse_loss(out['rec'], out['rec_target']))
    # a reconstruction is drawn as an input: back to the normalised space
    torch.testing.assert_close(
        model.from_rec_space(out['rec_target']), out['target'],
        rtol=0, atol=1e-4)


def test_unit_rec_space_without_normalisation_divides_by_255():
    model = build(rec_space='unit')  # the preprocessor does not normalise
    x = torch.full((1, 3, 32, 32), 51.0)
    torch.testing.assert_close(model.to_rec_space(x),
                               torch.full_like(x, 0.2))


def test_normalized_rec_space_targets_the_inputs_themselves():
    model = build(data_preprocessor=PREPROCESSOR)
    assert model.rec_space == 'normalized'
    out = model.forward_mix(**model.data_preprocessor(uint8_batch(), True))
    assert out['rec_target'] is out['target']
    assert model.from_rec_space(out['rec']) is out['rec']


def test_per_sample_lambdas_differ_within_a_batch_and_are_mixed_with():
    model = build()
    x_t, x_a = two_views(4, 32, seed=0)
    out = model.forward_mix([x_t, x_a], samples(4, lams=LAMS))
    assert out['lam'].tolist() == pytest.approx(LAMS)
    lam = torch.tensor(LAMS).view(-1, 1, 1, 1)
    torch.testing.assert_close(out['mixed'], (1 - lam) * x_t + lam * x_a)
    # without pipeline λs: one λ for the whole batch (the paper's)
    out = model.forward_mix([x_t, x_a], samples(4))
    assert (out['lam'] == out['lam'][0]).all()
