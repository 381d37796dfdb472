import math

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample

import mixssl_mm.evaluation  # noqa: F401  (registers the metrics)
from mixssl_mm.evaluation import ROCAUC

# --- Binary hand example (3 positives, 3 negatives, one tie) --------------
#   positive scores: 0.9, 0.6, 0.4    negative scores: 0.6, 0.3, 0.1
#   pairs pos > neg: 0.9 -> 3 ; 0.6 -> 2 (+1 tie with 0.6) ; 0.4 -> 2
#   AUC = (7 + 0.5 * 1) / (3 * 3) = 7.5 / 9 = 83.333 %
#   (rank check: ranks 0.1:1 0.3:2 0.4:3 0.6:4.5,4.5 0.9:6;
#    R_pos = 6 + 4.5 + 3 = 13.5 ; U = 13.5 - 3*4/2 = 7.5)
BIN_SCORES = [0.9, 0.6, 0.4, 0.6, 0.3, 0.1]
BIN_GT = [1, 1, 1, 0, 0, 0]
BIN_AUC = 7.5 / 9 * 100

# --- Multi-class hand example (3 classes, 2 samples each, rows sum to 1) ---
#   class 0: pos {0.7, 0.3}, neg {0.4, 0.1, 0.2, 0.3}
#            0.7 -> 4 ; 0.3 -> 2 (+1 tie)           => 6.5 / 8 = 81.25 %
#   class 1: pos {0.5, 0.6}, neg {0.2, 0.4, 0.3, 0.5}
#            0.5 -> 3 (+1 tie) ; 0.6 -> 4            => 7.5 / 8 = 93.75 %
#   class 2: pos {0.5, 0.2}, neg {0.1, 0.3, 0.1, 0.3}
#            0.5 -> 4 ; 0.2 -> 2                     => 6 / 8   = 75 %
#   macro = (81.25 + 93.75 + 75) / 3 = 83.333 %
MC_SCORES = [
    [0.7, 0.2, 0.1],
    [0.3, 0.4, 0.3],
    [0.4, 0.5, 0.1],
    [0.1, 0.6, 0.3],
    [0.2, 0.3, 0.5],
    [0.3, 0.5, 0.2],
]
MC_GT = [0, 0, 1, 1, 2, 2]
MC_PER_CLASS = [81.25, 93.75, 75.0]


def test_binary_hand_computed_with_tie():
    assert float(ROCAUC.calculate(BIN_SCORES,
                                  BIN_GT)) == pytest.approx(BIN_AUC)
    # 2-column scores: column pos_label is used.
    two_col = [[1 - s, s] for s in BIN_SCORES]
    assert float(ROCAUC.calculate(two_col, BIN_GT)) == pytest.approx(BIN_AUC)
    # pos_label=0 on column 0 with flipped labels is the same problem.
    flipped = [[s, 1 - s] for s in BIN_SCORES]
    assert float(
        ROCAUC.calculate(flipped, [1 - g for g in BIN_GT],
                         pos_label=0)) == pytest.approx(BIN_AUC)


def test_all_tied_is_half():
    # Every pair is a tie -> 0.5 per pair -> 50 %.
    assert float(ROCAUC.calculate([0.3] * 4, [0, 1, 0, 1])) == 50.0


def test_multiclass_hand_computed():
    per_class = ROCAUC.calculate(MC_SCORES, MC_GT, average=None)
    np.testing.assert_allclose(per_class.numpy(), MC_PER_CLASS)
    macro = ROCAUC.calculate(np.array(MC_SCORES), np.array(MC_GT))
    assert float(macro) == pytest.approx(250 / 3)


def test_against_sklearn_random():
    metrics = pytest.importorskip('sklearn.metrics')
    rng = np.random.default_rng(0)

    # Binary, with many ties (scores quantized to 1 decimal).
    gt = rng.integers(0, 2, 300)
    score = np.round(rng.random(300) * 0.5 + 0.3 * gt, 1)
    assert float(ROCAUC.calculate(score, gt)) == pytest.approx(
        100 * metrics.roc_auc_score(gt, score))

    # Multi-class one-vs-rest macro on probabilities.
    c = 6
    gt = rng.integers(0, c, 400)
    logits = rng.normal(size=(400, c)) + 1.5 * np.eye(c)[gt]
    prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert float(ROCAUC.calculate(prob, gt)) == pytest.approx(
        100 *
        metrics.roc_auc_score(gt, prob, multi_class='ovr', average='macro'))

    # Multi-class with ties, per class vs sklearn's binary AUC per column.
    quant = np.round(prob, 1)
    per_class = ROCAUC.calculate(quant, gt, average=None).numpy()
    expected = [
        100 * metrics.roc_auc_score(gt == k, quant[:, k]) for k in range(c)
    ]
    np.testing.assert_allclose(per_class, expected)


def test_undefined_class_raises_when_asked():
    # Class 2 has no samples at all.
    scores = [[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1]]
    with pytest.raises(ValueError, match="'class_2' has no positive samples"):
        ROCAUC.calculate(scores, [0, 1, 1], undefined='raise')
    with pytest.raises(ValueError, match="'platelet' has no positive"):
        ROCAUC.calculate(
            scores, [0, 1, 1],
            class_names=['a', 'b', 'platelet'],
            undefined='raise')
    # Binary with only one label present: no negatives.
    with pytest.raises(ValueError, match='no negative samples'):
        ROCAUC.calculate([0.1, 0.9], [1, 1], undefined='raise')
    with pytest.raises(ValueError, match="'raise' or 'nan'"):
        ROCAUC(undefined='zero')


def test_undefined_class_is_nan_with_a_warning_by_default():
    # Validation during training must not die on a class missing from the
    # split (issue 22): NaN for it, a warning naming it, the rest defined.
    scores = [row + [0.0] for row in MC_SCORES]
    with pytest.warns(
            UserWarning,
            match="class 'class_3' has no positive "
            'samples in the evaluation split'):
        per_class = ROCAUC.calculate(scores, MC_GT, average=None)
    np.testing.assert_allclose(per_class[:3].numpy(), MC_PER_CLASS)
    assert math.isnan(per_class[3])


def test_undefined_nan_option():
    # Hand example plus a 4th class with no samples: NaN, macro over rest.
    scores = [row + [0.0] for row in MC_SCORES]
    with pytest.warns(UserWarning, match='class_3'):
        per_class = ROCAUC.calculate(
            scores, MC_GT, average=None, undefined='nan')
    np.testing.assert_allclose(per_class[:3].numpy(), MC_PER_CLASS)
    assert math.isnan(per_class[3])
    with pytest.warns(UserWarning):
        macro = ROCAUC.calculate(scores, MC_GT, undefined='nan')
    assert float(macro) == pytest.approx(250 / 3)
    with pytest.warns(UserWarning):
        assert math.isnan(
            ROCAUC.calculate([0.1, 0.9], [1, 1], undefined='nan'))


def _samples(scores, gt):
    return [
        DataSample().set_pred_score(torch.tensor(s)).set_gt_label(int(g))
        for s, g in zip(scores, gt)
    ]


def test_evaluator_with_dataset_meta():
    classes = ('basophil', 'immature granulocyte', 'platelet')
    evaluator = Evaluator([
        METRICS.build(dict(type='ROCAUC', average=None)),
    ])
    evaluator.dataset_meta = {'classes': classes}
    evaluator.process(data_samples=_samples(MC_SCORES, MC_GT))
    res = evaluator.evaluate(len(MC_GT))
    assert res == pytest.approx({
        'roc_auc': 250 / 3,
        'roc_auc/basophil': 81.25,
        'roc_auc/immature_granulocyte': 93.75,
        'roc_auc/platelet': 75.0,
    })
    assert all(isinstance(v, float) for v in res.values())

    # Default (macro) only gives 'roc_auc'; a missing class is NaN, named
    # through dataset_meta, and left out of the mean; with
    # undefined='raise' it is refused.
    evaluator = Evaluator([METRICS.build(dict(type='ROCAUC'))])
    evaluator.dataset_meta = {'classes': classes}
    evaluator.process(data_samples=_samples(MC_SCORES[:4], MC_GT[:4]))
    with pytest.warns(UserWarning, match="'platelet' has no positive"):
        res = evaluator.evaluate(4)
    assert list(res) == ['roc_auc'] and not math.isnan(res['roc_auc'])
    evaluator = Evaluator(
        [METRICS.build(dict(type='ROCAUC', undefined='raise'))])
    evaluator.dataset_meta = {'classes': classes}
    evaluator.process(data_samples=_samples(MC_SCORES[:4], MC_GT[:4]))
    with pytest.raises(ValueError, match="'platelet' has no positive"):
        evaluator.evaluate(4)

    evaluator = Evaluator([METRICS.build(dict(type='ROCAUC'))])
    evaluator.dataset_meta = {'classes': classes}
    evaluator.process(data_samples=_samples(MC_SCORES, MC_GT))
    assert evaluator.evaluate(6) == pytest.approx({'roc_auc': 250 / 3})


def test_binary_evaluator_and_direct_process():
    two_col = [[1 - s, s] for s in BIN_SCORES]
    samples = _samples(two_col, BIN_GT)
    # Through the Evaluator (which calls to_dict()) ...
    evaluator = Evaluator([ROCAUC()])
    evaluator.dataset_meta = {'classes': ('benign', 'malignant')}
    evaluator.process(data_samples=samples)
    assert evaluator.evaluate(6) == pytest.approx({'roc_auc': BIN_AUC})
    # ... and directly with DataSample objects or dicts, with a prefix.
    for batch in (samples, [s.to_dict() for s in samples]):
        metric = ROCAUC(prefix='test')
        metric.process(None, batch)
        assert metric.evaluate(6) == pytest.approx({'test/roc_auc': BIN_AUC})


def test_needs_scores():
    metric = ROCAUC()
    with pytest.raises(ValueError, match='pred_score'):
        metric.process(None, [DataSample().set_pred_label(0).set_gt_label(0)])
