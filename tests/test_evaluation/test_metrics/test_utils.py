"""The metrics' shared helpers: class names and key-safe metric keys."""
import pytest
import torch
from mmpretrain.structures import DataSample

from mixssl_mm.evaluation.metrics.utils import (class_metric_keys,
                                                dataset_class_names,
                                                score_records)


def test_class_metric_keys():
    assert class_metric_keys(
        ['immature granulocyte', 'a/b', ' x  (y, z) ', '(())', 'mean', 'a_b'],
        reserved=('mean', )) == [
            'immature_granulocyte', 'a_b', 'x_y_z', 'class_3', 'mean_4',
            'a_b_5'
        ]


def test_dataset_class_names_from_meta_or_numbered():
    meta = dict(classes=('basophil', 'eosinophil'))
    assert dataset_class_names(meta, 2, 'M') == ['basophil', 'eosinophil']
    assert dataset_class_names(meta, None, 'M') == ['basophil', 'eosinophil']
    assert dataset_class_names(None, 3,
                               'M') == ['class_0', 'class_1', 'class_2']
    assert dataset_class_names({}, 1, 'M') == ['class_0']


def test_dataset_class_names_refuses_mismatch_and_unknown_count():
    meta = dict(classes=('a', 'b'))
    with pytest.raises(
            ValueError,
            match=r'dataset_meta has 2 classes but '
            r'the predictions have 3; check'):
        dataset_class_names(meta, 3, 'PerClassAccuracy')
    with pytest.raises(
            ValueError,
            match=r'dataset_meta has 2 classes but '
            r'pred_score has 3 columns'):
        dataset_class_names(meta, 3, 'ROCAUC', 'pred_score has {n} columns')
    with pytest.raises(
            ValueError,
            match=r'`num_classes` must be given to '
            r'PerClassAccuracy'):
        dataset_class_names(None, None, 'PerClassAccuracy')


def test_score_records_from_dicts_or_data_samples():
    scored = DataSample().set_pred_score(torch.tensor([0.2, 0.8]))
    scored.set_gt_label(1)
    records = score_records([scored, scored.to_dict()], 'M')
    assert len(records) == 2
    for r in records:
        assert set(r) == {'pred_score', 'gt_label'}
        assert torch.equal(r['pred_score'], torch.tensor([0.2, 0.8]))
        assert r['gt_label'].tolist() == [1]
    labelled = DataSample().set_pred_label(1).set_gt_label(1)
    with pytest.raises(ValueError, match='M needs `pred_score`'):
        score_records([labelled], 'M')
