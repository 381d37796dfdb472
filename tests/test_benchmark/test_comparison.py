"""mixssl_mm.benchmark.comparison on hand values: mean ± std, the paired
t and bootstrap intervals against scipy, the metrics recomputed from
per-image predictions against mmpretrain's, and every method against
MixSSL (the Δ tables, deltas.csv)."""
import math
import warnings

import numpy as np
import pytest
from scipy import stats

from mixssl_mm.benchmark import comparison
from mixssl_mm.benchmark.comparison import (Interval, compare, compared_keys,
                                            delta_section, fmt_mean_std,
                                            mean_std,
                                            paired_bootstrap_interval,
                                            paired_t_interval,
                                            weighted_metrics, within_noise)
from mixssl_mm.benchmark.report import method_name
from mixssl_mm.evaluation.metrics.utils import class_metric_keys
from tests._helpers.predictions import (STAGE_METRICS, evaluate,
                                        random_predictions)


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


def test_t_interval_matches_a_hand_computation():
    a, b = [90.0, 88.0, 93.0], [85.0, 87.0, 86.0]
    d = np.array([5.0, 1.0, 7.0])
    mean, sd = d.mean(), math.sqrt(((d - d.mean())**2).sum() / 2)
    half = stats.t.ppf(0.975, 2) * sd / math.sqrt(3)  # t_{0.975, 2} = 4.303
    iv = paired_t_interval(a, b)
    assert iv.kind == 't' and iv.n == 3
    assert iv.delta == pytest.approx(mean)
    assert (iv.low, iv.high) == pytest.approx((mean - half, mean + half))
    # by hand: sd = 3.055, sem = 1.764, 4.303 x 1.764 = 7.589
    assert (iv.low, iv.high) == pytest.approx((-3.2558, 11.9225), abs=1e-4)
    assert within_noise(iv)
    # the pairing matters: the same values unpaired would be wider
    clear = paired_t_interval([90.0, 80.0, 70.0], [89.0, 79.1, 68.9])
    assert clear.low > 0 and not within_noise(clear)


def test_t_interval_edge_cases():
    same = paired_t_interval([80.0, 82.0], [78.0, 80.0])
    assert same == Interval(2.0, 2.0, 2.0, 2, 't')  # zero spread
    with pytest.raises(ValueError, match='at least 2'):
        paired_t_interval([1.0], [2.0])
    with pytest.raises(ValueError, match='equal'):
        paired_t_interval([1.0, 2.0], [2.0])
    with pytest.raises(ValueError, match='finite'):
        paired_t_interval([1.0, float('nan')], [2.0, 3.0])


def _accuracy_delta(correct_a, correct_b):
    """delta_fn of the top-1 difference for per-image correctness."""

    def fn(w):
        acc = lambda c: (w * c).sum(1) / w.sum(1) * 100  # noqa: E731
        return (acc(correct_a) - acc(correct_b))[:, None]

    return fn


def test_bootstrap_of_identical_predictions_is_zero():
    rng = np.random.default_rng(1)
    correct = rng.random(300) < 0.8
    iv = paired_bootstrap_interval(
        _accuracy_delta(correct, correct), 300, keys=['acc'])['acc']
    assert (iv.delta, iv.low, iv.high) == (0.0, 0.0, 0.0)
    assert iv.kind == 'bootstrap' and iv.n == 300 and within_noise(iv)


def test_bootstrap_separates_a_clear_gap_and_not_noise():
    rng = np.random.default_rng(2)
    b = rng.random(500) < 0.70
    a = b | (rng.random(500) < 0.5)  # a fixes half of b's errors: +15 pts
    gap = paired_bootstrap_interval(_accuracy_delta(a, b), 500)[0]
    assert gap[0] == pytest.approx((a.mean() - b.mean()) * 100)
    assert 0 < gap[1] < gap[0] < gap[2]
    # two methods that disagree on a few images only, in both directions
    c = b.copy()
    c[:6] = ~c[:6]
    small = paired_bootstrap_interval(_accuracy_delta(c, b), 500)[0]
    assert small[1] < 0 < small[2]


def test_bootstrap_is_deterministic_with_its_seed():
    rng = np.random.default_rng(3)
    a, b = rng.random(200) < 0.8, rng.random(200) < 0.7
    fn = _accuracy_delta(a, b)
    first = paired_bootstrap_interval(fn, 200, resamples=500, seed=7)
    assert first == paired_bootstrap_interval(fn, 200, resamples=500, seed=7)
    assert first != paired_bootstrap_interval(fn, 200, resamples=500, seed=8)


def test_bootstrap_is_scipys_paired_percentile_bootstrap():
    """The adapter gives what scipy.stats.bootstrap gives on the per-image
    correctness itself (same generator, resamples and batches)."""
    rng = np.random.default_rng(4)
    a, b = rng.random(120) < 0.8, rng.random(120) < 0.6
    ours = paired_bootstrap_interval(
        _accuracy_delta(a, b), 120, resamples=400, seed=5)[0]
    ref = stats.bootstrap((a * 100.0, b * 100.0),
                          lambda x, y, axis=-1: x.mean(axis) - y.mean(axis),
                          paired=True,
                          vectorized=True,
                          n_resamples=400,
                          method='percentile',
                          rng=np.random.default_rng(5))
    assert ours[0] == pytest.approx((a.mean() - b.mean()) * 100)
    assert ours[1:3] == pytest.approx(tuple(ref.confidence_interval))


def test_undefined_metric_gives_no_interval():
    nan = paired_bootstrap_interval(
        lambda w: np.full((len(w), 1), np.nan), 10, resamples=20)[0]
    assert np.isnan(nan[1]) and np.isnan(nan[2])
    assert within_noise(
        Interval(float('nan'), float('nan'), float('nan'), 10, 'bootstrap'))


def _ours(scores, labels, classes, weights=None, pos_label=1):
    keys = class_metric_keys(classes)
    return {
        k: float(v[0])
        for k, v in weighted_metrics(scores, labels, weights, keys,
                                     pos_label).items()
    }


def test_equal_to_the_reported_metrics_from_the_dumped_file(tmp_path):
    classes = ('eosinophil', 'immature granulocyte', 'monocyte', 'other')
    scores, labels = random_predictions(300, 4, 0)
    dump = str(tmp_path / 'predictions.pkl')
    reported = evaluate(scores, labels, classes, STAGE_METRICS, dump)
    loaded_scores, loaded_labels = comparison.load_predictions(dump)
    assert np.array_equal(loaded_labels, labels)
    assert np.allclose(loaded_scores, scores)
    ours = _ours(loaded_scores, loaded_labels, classes)
    assert set(reported) <= set(ours)
    for key, value in reported.items():
        assert ours[key] == pytest.approx(value, abs=1e-4), key


def test_weights_count_images_that_many_times():
    classes = ('a', 'b', 'c')
    scores, labels = random_predictions(120, 3, 1)
    counts = np.random.default_rng(5).integers(0, 4, 120)
    counts[labels == 0] = np.maximum(counts[labels == 0], 1)
    repeated = np.repeat(np.arange(120), counts)
    reported = evaluate(scores[repeated], labels[repeated], classes)
    ours = _ours(scores, labels, classes, counts.astype(float))
    for key, value in reported.items():
        assert ours[key] == pytest.approx(value, abs=1e-4), key
    # many weightings at once: one row each
    two = weighted_metrics(scores, labels, np.stack([counts, counts]) * 1.0)
    assert two['roc_auc'].shape == (2, )


def test_a_resample_without_a_class_is_the_metrics_of_its_images():
    """A weighting without any image of a class gives what the stage's
    metrics report on those images: the class's recall 0 in the macro mean
    (``zero_division=0``), its accuracy and ROC-AUC undefined (NaN) and left
    out of their means."""
    classes = ('a', 'b', 'c', 'd')
    scores, labels = random_predictions(150, 4, 3)
    counts = np.random.default_rng(6).integers(1, 3, 150)
    counts[labels == 2] = 0
    repeated = np.repeat(np.arange(150), counts)
    with warnings.catch_warnings():  # the metrics warn of the empty class
        warnings.simplefilter('ignore')
        reported = evaluate(scores[repeated], labels[repeated], classes)
    ours = _ours(scores, labels, classes, counts[None] * 1.0)
    assert np.isnan(ours['per_class_accuracy/c'])
    for key, value in reported.items():
        assert ours[key] == pytest.approx(value, abs=1e-4, nan_ok=True), key


def test_binary_tasks_match_the_positive_class_metric():
    classes = ('negative', 'CIN2+')
    scores, labels = random_predictions(200, 2, 2)
    metrics = STAGE_METRICS + [dict(type='PositiveClassMetric', pos_label=0)]
    reported = evaluate(scores, labels, classes, metrics)
    ours = _ours(scores, labels, classes, pos_label=0)
    for key, value in reported.items():
        assert ours[key] == pytest.approx(value, abs=1e-4), key


def test_tied_scores_count_half_and_a_missing_class_is_undefined():
    scores = np.array([[0.1, 0.9], [0.5, 0.5], [0.5, 0.5], [0.9, 0.1]])
    labels = np.array([1, 1, 0, 0])
    ours = weighted_metrics(scores, labels, np.array([[1., 1, 1, 1]]))
    assert ours['roc_auc'][0] == 87.5  # (3 + .5) / 4
    # no negative left in this weighting: undefined
    nan = weighted_metrics(scores, labels, np.array([[1., 1, 0, 0]]))
    assert np.isnan(nan['roc_auc'][0])


CLASSES = ('eosinophil', 'lymphocyte', 'monocyte', 'neutrophil')


def _record(tmp_path, method, seed, scores, labels, protocol='finetune'):
    dump = str(tmp_path / f'{method}_{protocol}_{seed}.pkl')
    return dict(
        method=method,
        protocol=protocol,
        seed=seed,
        metrics=evaluate(scores, labels, CLASSES, dump=dump),
        predictions=dump)


def test_one_seed_uses_the_paired_bootstrap(tmp_path):
    good, labels = random_predictions(400, 4, 0, signal=3.0)
    rng = np.random.default_rng(1)
    bad = np.round(rng.random((400, 4)), 2)  # chance-level scores
    recs = [
        _record(tmp_path, 'mixssl', 0, good, labels),
        _record(tmp_path, 'rand', 0, bad, labels),
        _record(tmp_path, 'simclr', 0, good, labels)
    ]
    res = compare(recs, ['mixssl', 'rand', 'simclr'], resamples=300)
    rand, same = res['finetune']['rand'], res['finetune']['simclr']
    acc = rand['accuracy/top1']
    assert acc.kind == 'bootstrap' and acc.n == 400
    want = recs[1]['metrics']['accuracy/top1'] - \
        recs[0]['metrics']['accuracy/top1']
    assert acc.delta == pytest.approx(want, abs=1e-4)
    assert acc.high < 0  # a clear gap excludes 0
    # identical predictions: every difference is exactly 0, within noise
    assert {iv.seed for iv in same.values()} == {0}
    assert '| Rand | bootstrap, 400 images, seed 0 | ' in '\n'.join(
        delta_section(res, method_name))
    for key, iv in same.items():
        assert (iv.delta, iv.low, iv.high) == (0.0, 0.0, 0.0), key
    assert {
        'roc_auc', 'single-label/f1-score', 'per_class_accuracy/mean',
        'per_class_accuracy/monocyte'
    } <= set(rand)
    # deterministic: computed afresh, the same interval
    comparison._CACHE.clear()
    assert compare(
        recs, ['mixssl', 'rand'],
        resamples=300)['finetune']['rand']['accuracy/top1'] == acc


def test_seeds_pair_runs_with_a_t_interval(tmp_path):
    recs = []
    for seed, (a, b) in enumerate([(80.0, 70.0), (82.0, 75.0), (85.0, 71.0)]):
        for m, v in (('mixssl', a), ('byol', b)):
            recs.append(
                dict(
                    method=m,
                    protocol='linear',
                    seed=seed,
                    metrics={
                        'accuracy/top1': v,
                        'roc_auc': 90.0
                    }))
    recs.append(
        dict(
            method='byol',
            protocol='linear',
            seed=7,
            metrics={
                'accuracy/top1': 0.0,
                'roc_auc': 0.0
            }))
    row = compare(recs, ['mixssl', 'byol'])['linear']['byol']
    assert row['accuracy/top1'] == paired_t_interval([70, 75, 71],
                                                     [80, 82, 85])
    assert row['roc_auc'] == Interval(0.0, 0.0, 0.0, 3, 't')


def test_no_reference_or_no_predictions(tmp_path):
    recs = [
        dict(
            method='rand',
            protocol='finetune',
            seed=0,
            metrics={'accuracy/top1': 50.0})
    ]
    assert compare(recs, ['mixssl', 'rand']) == {}
    recs.append(
        dict(
            method='mixssl',
            protocol='finetune',
            seed=0,
            metrics={'accuracy/top1': 60.0}))
    res = compare(recs, ['mixssl', 'rand'])
    assert res['finetune']['rand'] == {}
    md = delta_section(res, method_name)
    assert not any(line.startswith('| Rand') for line in md)
    assert md[-2].startswith('No interval for Rand (Fine-tune): one common '
                             'seed and no')
    assert not any(line.startswith('###') for line in md)
    assert delta_section({}, method_name) == []


def test_section_and_csv_rows(tmp_path):
    iv = Interval(-2.2, -5.11, 0.71, 2, 't')
    clear = Interval(4.0, 1.5, 6.5, 2, 't')
    res = {
        'finetune_10pct': {
            'rand': {
                'accuracy/top1': iv,
                'per_class_accuracy/monocyte': clear
            }
        }
    }
    md = delta_section(res, method_name)
    assert md[0] == '## Δ vs MixSSL [95 % CI]'
    assert '### Fine-tune, 10 % of the labels' in md
    assert '| Method | Interval | Accuracy |' in md
    assert '| Rand | t, 2 seeds | -2.20 [-5.11, +0.71] ≈ |' in md
    assert '| Method | Interval | monocyte |' in md
    assert '| Rand | t, 2 seeds | +4.00 [+1.50, +6.50] |' in md
    assert comparison.fmt_interval(None) == '–'
    rows = comparison.delta_rows(res, method_name)
    assert [(r['method'], r['metric'], r['within_noise'])
            for r in rows] == [('Rand', 'accuracy/top1', True),
                               ('Rand', 'per_class_accuracy/monocyte', False)]


def test_binary_tasks_compare_the_positive_class():
    m = {
        'accuracy/top1': 90.0,
        'single-label/f1-score': 80.0,
        'roc_auc': 95.0,
        'binary/f1-score': 70.0,
        'binary/roc_auc': 95.0,
        'per_class_accuracy/a': 1.0,
        'per_class_accuracy/mean': 1.0
    }
    assert compared_keys(m) == [
        'accuracy/top1', 'per_class_accuracy/mean', 'binary/f1-score',
        'binary/roc_auc', 'per_class_accuracy/a'
    ]
    del m['binary/f1-score'], m['binary/roc_auc']
    assert compared_keys(m)[:4] == [
        'accuracy/top1', 'per_class_accuracy/mean', 'single-label/f1-score',
        'roc_auc'
    ]


def test_seed_level_interval_of_a_known_example_is_a_tie():
    """Three seeds, hand-computed: Rand - MixSSL = -5, -1, -7 points;
    mean -4.333, sd 3.055, sem 1.764, t(0.975, 2) = 4.303: -4.33 ± 7.59 =
    [-11.92, +3.26], which contains 0: a tie (≈), whatever the mean."""
    recs = []
    for seed, (a, b) in enumerate([(90.0, 85.0), (88.0, 87.0), (93.0, 86.0)]):
        for m, v in (('mixssl', a), ('rand', b)):
            recs.append(
                dict(
                    method=m,
                    protocol='knn',
                    seed=seed,
                    metrics={'knn/top1': v}))
    iv = compare(recs, ['mixssl', 'rand'])['knn']['rand']['knn/top1']
    assert (iv.kind, iv.n) == ('t', 3)
    assert (iv.delta, iv.low, iv.high) == pytest.approx(
        (-4.3333, -11.9225, 3.2558), abs=1e-4)
    md = delta_section(compare(recs, ['mixssl', 'rand']), method_name)
    assert '| Rand | t, 3 seeds | -4.33 [-11.92, +3.26] ≈ |' in md
