"""The in-batch mix-up helpers of MixupSimCLR and MixCo."""
import pytest
import torch

from mixssl_mm.models.utils import (check_mix_args, check_two_views, mix_batch,
                                    sample_batch_mix)


def test_mix_batch_by_hand():
    """λ is the partner's weight (the project's one λ convention)."""
    x = torch.tensor([[1., 1.], [3., 3.], [10., 10.]])
    lam = torch.tensor([0.5, 0.75, 0.0])
    perm = torch.tensor([1, 2, 0])
    # 0.5*1 + 0.5*3 = 2; 0.25*3 + 0.75*10 = 8.25; 1.0*10 + 0*1 = 10
    expected = torch.tensor([[2., 2.], [8.25, 8.25], [10., 10.]])
    torch.testing.assert_close(mix_batch(x, lam, perm), expected)


def test_the_convention_flip_keeps_the_mixes():
    """The same seed gives the same mixes as before λ meant the partner's
    weight (then: ``λ·x + (1 − λ)·x[perm]`` with λ the Beta draw), up to
    float rounding."""
    x = torch.randn(6, 3, 4, 4)
    for mode in ('batch', 'sample'):
        torch.manual_seed(5)
        a = torch.tensor(1.0)
        beta = torch.distributions.Beta(a, a)
        own = beta.sample() if mode == 'batch' else beta.sample((6, ))
        own = own.expand(6)
        perm = torch.randperm(6)
        before = torch.lerp(x[perm], x, own.view(-1, 1, 1, 1))
        torch.manual_seed(5)
        lam, perm2 = sample_batch_mix(6, 1.0, mode, torch.device('cpu'))
        assert torch.equal(perm2, perm)
        torch.testing.assert_close(lam, 1 - own)
        torch.testing.assert_close(mix_batch(x, lam, perm2), before)


def test_sample_batch_mix_modes_and_seeding():
    torch.manual_seed(3)
    lam, perm = sample_batch_mix(6, 1.0, 'batch', torch.device('cpu'))
    assert lam.shape == (6, ) and len(set(lam.tolist())) == 1
    assert sorted(perm.tolist()) == list(range(6))
    torch.manual_seed(3)
    again = sample_batch_mix(6, 1.0, 'batch', torch.device('cpu'))
    assert torch.equal(again[0], lam) and torch.equal(again[1], perm)
    lam, _ = sample_batch_mix(6, 1.0, 'sample', torch.device('cpu'))
    assert len(set(lam.tolist())) == 6 and bool(((lam > 0) & (lam < 1)).all())


def test_argument_checks_name_the_owner():
    with pytest.raises(
            ValueError, match=r'Owner: alpha must be a finite number > 0'):
        check_mix_args(0.0, 'batch', 'Owner')
    with pytest.raises(ValueError, match=r'Owner: lam_mode must be one of'):
        check_mix_args(1.0, 'pixel', 'Owner')
    x = torch.zeros(2, 3, 4, 4)
    check_two_views([x, x], 'Owner')
    for bad in (x, [x], [x, x, x]):
        with pytest.raises(
                TypeError,
                match=r'Owner expects inputs=\[view1, '
                r'view2\] \(MultiView\(num_views=2\)\)'):
            check_two_views(bad, 'Owner')
