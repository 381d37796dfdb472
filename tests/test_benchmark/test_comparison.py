"""mixssl_mm.benchmark.comparison: every method minus MixSSL with a paired
95 % interval: t over seeds, the bootstrap over test images from real
dumped predictions for one seed, the results.md section and deltas.csv."""
import numpy as np
import pytest

from mixssl_mm.benchmark import comparison
from mixssl_mm.benchmark.comparison import (compare, compared_keys, delta_rows,
                                            delta_section, fmt_interval)
from mixssl_mm.benchmark.intervals import Interval, paired_t_interval
from mixssl_mm.benchmark.report import method_name
from tests._helpers.predictions import evaluate, random_predictions

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
    assert same.pop('_seed') == 0
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
    assert res['finetune']['rand'] == {'_seed': 0}
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
    assert fmt_interval(None) == '–'
    rows = delta_rows(res, method_name)
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
