import math

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample

import mixssl_mm.evaluation  # noqa: F401  (registers the metrics)
from mixssl_mm.evaluation import PerClassAccuracy

CLASSES = ('basophil', 'immature granulocyte', 'platelet', 'monocyte')


def _one_hot_scores(labels, num_classes):
    return torch.eye(num_classes)[torch.as_tensor(labels)]


def _samples(pred_labels, gt_labels, num_classes):
    scores = _one_hot_scores(pred_labels, num_classes)
    return [
        DataSample().set_pred_score(s).set_gt_label(int(g))
        for s, g in zip(scores, gt_labels)
    ]


# Hand example: 4 classes, class 3 absent from the ground truth.
#   gt   = [0, 0, 0, 1, 1, 2]
#   pred = [0, 0, 1, 1, 2, 2]
#   class 0: 2 of 3 correct -> 66.667 ; class 1: 1 of 2 -> 50
#   class 2: 1 of 1 -> 100            ; class 3: 0 samples -> NaN
#   mean over defined classes = (200/3 + 50 + 100) / 3 = 72.222
GT = [0, 0, 0, 1, 1, 2]
PRED = [0, 0, 1, 1, 2, 2]


def test_calculate_hand_computed_labels_and_scores():
    acc = PerClassAccuracy.calculate(PRED, GT, num_classes=4)
    np.testing.assert_allclose(acc[:3].numpy(), [200 / 3, 50, 100])
    assert math.isnan(acc[3])

    # Same from scores (argmax) and from numpy input.
    acc2 = PerClassAccuracy.calculate(
        _one_hot_scores(PRED, 4).numpy(), np.array(GT))
    np.testing.assert_allclose(acc2.numpy(), acc.numpy(), equal_nan=True)


def test_calculate_all_present():
    # gt = [0, 1, 1, 2], pred = [0, 1, 0, 0]:
    # class0 1/1 -> 100, class1 1/2 -> 50, class2 0/1 -> 0
    acc = PerClassAccuracy.calculate([0, 1, 0, 0], [0, 1, 1, 2])
    np.testing.assert_allclose(acc.numpy(), [100, 50, 0])


def test_argmax_ties_go_to_lowest_index():
    # Both rows tie between class 0 and 1 -> predicted 0.
    acc = PerClassAccuracy.calculate([[0.5, 0.5], [0.5, 0.5]], [0, 1])
    np.testing.assert_allclose(acc.numpy(), [100, 0])


def test_label_out_of_range_raises():
    with pytest.raises(ValueError, match='gt labels'):
        PerClassAccuracy.calculate([[0.5, 0.5]], [2])


def test_evaluator_with_dataset_meta_and_missing_class():
    metric = METRICS.build(dict(type='PerClassAccuracy'))
    evaluator = Evaluator([metric])
    evaluator.dataset_meta = {'classes': CLASSES}
    evaluator.process(data_samples=_samples(PRED, GT, 4))
    with pytest.warns(UserWarning, match='monocyte'):
        res = evaluator.evaluate(len(GT))

    assert list(res) == [
        'per_class_accuracy/basophil',
        'per_class_accuracy/immature_granulocyte',
        'per_class_accuracy/platelet',
        'per_class_accuracy/monocyte',
        'per_class_accuracy/mean',
    ]
    assert all(isinstance(v, float) for v in res.values())
    assert res['per_class_accuracy/basophil'] == pytest.approx(200 / 3)
    assert res['per_class_accuracy/immature_granulocyte'] == pytest.approx(50)
    assert res['per_class_accuracy/platelet'] == pytest.approx(100)
    assert math.isnan(res['per_class_accuracy/monocyte'])
    assert res['per_class_accuracy/mean'] == pytest.approx(650 / 9)


def test_without_dataset_meta_and_direct_process_inputs():
    # Evaluator without dataset_meta -> class_<i> keys.
    evaluator = Evaluator([PerClassAccuracy()])
    evaluator.process(data_samples=_samples([0, 1, 0], [0, 1, 1], 2))
    res = evaluator.evaluate(3)
    assert res == {
        'per_class_accuracy/class_0': 100.0,
        'per_class_accuracy/class_1': 50.0,
        'per_class_accuracy/mean': 75.0,
    }

    # Calling process directly with DataSample objects or with their
    # to_dict() form gives the same result.
    samples = _samples([0, 1, 0], [0, 1, 1], 2)
    for batch in (samples, [s.to_dict() for s in samples]):
        metric = PerClassAccuracy(prefix='test')
        metric.process(None, batch)
        assert metric.evaluate(3) == {
            'test/class_0': 100.0,
            'test/class_1': 50.0,
            'test/mean': 75.0,
        }


def test_pred_label_only_needs_num_classes():
    samples = [
        DataSample().set_pred_label(p).set_gt_label(g)
        for p, g in zip([0, 2, 2], [0, 1, 2])
    ]
    metric = PerClassAccuracy(num_classes=3)
    metric.process(None, samples)
    res = metric.evaluate(3)
    assert res['per_class_accuracy/class_1'] == 0.0
    assert res['per_class_accuracy/mean'] == pytest.approx(200 / 3)

    metric = PerClassAccuracy()
    metric.process(None, samples)
    with pytest.raises(ValueError, match='num_classes'):
        metric.evaluate(3)


def test_consistent_with_mmpretrain_metrics():
    # Support-weighted per-class accuracy == top-1 accuracy, and the mean
    # == SingleLabelMetric macro recall when every class is present.
    torch.manual_seed(0)
    n, c = 200, 5
    scores = torch.rand(n, c).softmax(1)
    gt = torch.arange(n) % c
    samples = [
        DataSample().set_pred_score(s).set_gt_label(int(g))
        for s, g in zip(scores, gt)
    ]
    evaluator = Evaluator([
        PerClassAccuracy(),
        METRICS.build(dict(type='Accuracy')),
        METRICS.build(dict(type='SingleLabelMetric', items=('recall', ))),
    ])
    evaluator.process(data_samples=samples)
    res = evaluator.evaluate(n)
    per_class = [res[f'per_class_accuracy/class_{i}'] for i in range(c)]
    support = torch.bincount(gt, minlength=c).numpy()
    assert np.dot(per_class, support) / n == pytest.approx(
        res['accuracy/top1'], abs=1e-4)
    assert res['per_class_accuracy/mean'] == pytest.approx(
        res['single-label/recall'], abs=1e-4)
