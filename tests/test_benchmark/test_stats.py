"""mixssl_mm.benchmark.stats on hand values."""
import pytest

from mixssl_mm.benchmark.stats import fmt_mean_std, mean_std, median_min_max


def test_mean_std_is_sample_std():
    mean, std = mean_std([1.0, 2.0, 3.0])
    assert mean == pytest.approx(2.0) and std == pytest.approx(1.0)
    assert mean_std([5.0]) == (5.0, None)
    assert mean_std([]) == (None, None)
    # NaN (a class absent from the test set) and None are left out
    assert mean_std([float('nan'), 4.0, None, 6.0])[0] == 5.0
    assert all(type(v) is float for v in mean_std([1, 2]))  # not numpy's


def test_fmt_mean_std():
    assert fmt_mean_std([85.0, 87.0]) == '86.00 ± 1.41'
    assert fmt_mean_std([10.0, 10.0]) == '10.00 ± 0.00'
    assert fmt_mean_std([72.3149]) == '72.31'
    assert fmt_mean_std([]) == '–'
    assert fmt_mean_std([float('nan')]) == '–'
    assert fmt_mean_std([1, 2, 3, 4], digits=1) == '2.5 ± 1.3'


def test_median_min_max():
    assert median_min_max([10.0, 30.0, 20.0]) == (20.0, 10.0, 30.0)
    assert median_min_max([1, 2, 3, 10]) == (2.5, 1.0, 10.0)
    with pytest.raises(ValueError, match='no values'):
        median_min_max([])
