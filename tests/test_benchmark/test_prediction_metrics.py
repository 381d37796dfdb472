"""mixssl_mm.benchmark.prediction_metrics against the metrics the test
stages report (mmpretrain's Accuracy / SingleLabelMetric, this repo's
PerClassAccuracy / ROCAUC / PositiveClassMetric through an mmengine
Evaluator), on predictions dumped by mmengine's DumpResults."""
import numpy as np
import pytest

from mixssl_mm.benchmark.prediction_metrics import (load_predictions,
                                                    weighted_auc,
                                                    weighted_metrics)
from mixssl_mm.evaluation.metrics.utils import class_metric_keys
from tests._helpers.predictions import (STAGE_METRICS, evaluate,
                                        random_predictions)


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
    loaded_scores, loaded_labels = load_predictions(dump)
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


def test_binary_tasks_match_the_positive_class_metric():
    classes = ('negative', 'CIN2+')
    scores, labels = random_predictions(200, 2, 2)
    metrics = STAGE_METRICS + [dict(type='PositiveClassMetric', pos_label=0)]
    reported = evaluate(scores, labels, classes, metrics)
    ours = _ours(scores, labels, classes, pos_label=0)
    for key, value in reported.items():
        assert ours[key] == pytest.approx(value, abs=1e-4), key


def test_weighted_auc_of_ties_and_undefined_cases():
    s = np.array([0.9, 0.5, 0.5, 0.1])
    pos = np.array([True, True, False, False])
    assert weighted_auc(s, pos, np.ones((1, 4)))[0] == 87.5  # (3 + .5) / 4
    # no negative left in this weighting: undefined
    assert np.isnan(weighted_auc(s, pos, np.array([[1., 1., 0., 0.]]))[0])
