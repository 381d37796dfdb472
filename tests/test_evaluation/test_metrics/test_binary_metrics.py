"""PositiveClassMetric against scikit-learn, directly and through
mmpretrain's Evaluator."""
import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmpretrain.structures import DataSample
from sklearn import metrics as skm

from mixssl_mm.evaluation.metrics.binary_metrics import PositiveClassMetric


def random_task(seed, n=40):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 2, n)
    logits = rng.normal(size=(n, 2)) + np.eye(2)[target]  # better than luck
    scores = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return scores, target


def sklearn_reference(scores, target, pos):
    pred = scores.argmax(1)
    return {
        'precision': 100 * skm.precision_score(target, pred, pos_label=pos),
        'recall': 100 * skm.recall_score(target, pred, pos_label=pos),
        'f1-score': 100 * skm.f1_score(target, pred, pos_label=pos),
        'roc_auc': 100 * skm.roc_auc_score(target == pos, scores[:, pos]),
        'accuracy': 100 * skm.accuracy_score(target, pred),
    }


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('pos', [0, 1])
def test_matches_sklearn(seed, pos):
    scores, target = random_task(seed)
    got = PositiveClassMetric.calculate(scores, target, pos_label=pos)
    expect = sklearn_reference(scores, target, pos)
    assert got.keys() == expect.keys()
    for key in expect:
        assert got[key] == pytest.approx(expect[key]), key
    # Table 2's F1 is the harmonic mean of its P and R
    p, r = got['precision'], got['recall']
    assert got['f1-score'] == pytest.approx(2 * p * r / (p + r))


def evaluate(scores, target, classes=('negative', 'CIN2+'), **kwargs):
    evaluator = Evaluator(dict(type='PositiveClassMetric', **kwargs))
    evaluator.dataset_meta = dict(classes=classes)
    samples = [
        DataSample().set_pred_score(torch.from_numpy(s)).set_gt_label(int(t))
        for s, t in zip(scores, target)
    ]
    # two batches, as a test loop would feed them
    evaluator.process(samples[:15])
    evaluator.process(samples[15:])
    return evaluator.evaluate(len(samples))


def test_through_evaluator_with_class_name():
    scores, target = random_task(7)
    out = evaluate(scores, target, pos_label='CIN2+')
    expect = sklearn_reference(scores, target, 1)
    assert out == pytest.approx({f'binary/{k}': v for k, v in expect.items()})
    # the positive class by name: the other column
    out = evaluate(scores, target, pos_label='negative', prefix='neg')
    expect = sklearn_reference(scores, target, 0)
    assert out == pytest.approx({f'neg/{k}': v for k, v in expect.items()})


def test_not_the_macro_average():
    # few positives, found half the time: positive-class P/R/F1 differ from
    # mmpretrain's macro SingleLabelMetric, which averages in the negatives
    target = np.array([0] * 8 + [1] * 2)
    scores = np.eye(2)[[0] * 7 + [1] + [1, 0]].astype(float)
    ours = PositiveClassMetric.calculate(scores, target)
    assert ours['precision'] == pytest.approx(50.0)
    assert ours['recall'] == pytest.approx(50.0)
    macro = skm.precision_recall_fscore_support(
        target, scores.argmax(1), average='macro')
    assert 100 * macro[0] == pytest.approx((87.5 + 50) / 2)


def test_refusals():
    scores, target = random_task(0, n=6)
    with pytest.raises(ValueError, match='2 columns'):
        evaluate(np.ones((6, 3)) / 3, target % 3, classes=('a', 'b', 'c'))
    with pytest.raises(ValueError, match="'CIN3' is not a class name"):
        evaluate(scores, target, pos_label='CIN3')
    with pytest.raises(ValueError, match='pos_label must be 0, 1'):
        evaluate(scores, target, pos_label=2)
    with pytest.raises(ValueError, match='labels must be 0 or 1'):
        PositiveClassMetric.calculate(scores, np.arange(6) % 3)
    metric = PositiveClassMetric()
    with pytest.raises(ValueError, match='needs `pred_score`'):
        metric.process(None, [DataSample().set_pred_label(1).set_gt_label(1)])
    with pytest.raises(ValueError, match="'raise' or 'nan'"):
        PositiveClassMetric(undefined='zero')


def test_single_class_auc():
    scores, _ = random_task(1, n=6)
    only_neg = np.zeros(6, dtype=int)
    with pytest.raises(ValueError, match="class '1' has no positive samples"):
        PositiveClassMetric.calculate(scores, only_neg, undefined='raise')
    with pytest.warns(UserWarning, match='ROC-AUC is undefined'):
        out = PositiveClassMetric.calculate(
            scores, only_neg, zero_division=0.0)
    assert np.isnan(out['roc_auc'])
    assert out['accuracy'] == pytest.approx(100 *
                                            np.mean(scores.argmax(1) == 0))
    # through the Evaluator: NaN by default, the class named
    with pytest.warns(UserWarning, match="class 'CIN2\\+' has no positive"):
        out = evaluate(scores, only_neg, pos_label='CIN2+', zero_division=0.0)
    assert np.isnan(out['binary/roc_auc'])
