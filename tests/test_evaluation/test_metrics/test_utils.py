"""The metrics' shared helpers: class names and key-safe metric keys."""
import pytest

from mixssl_mm.evaluation.metrics.utils import (class_metric_keys,
                                                dataset_class_names)


def test_class_metric_keys():
    assert class_metric_keys([
        'immature granulocyte', 'a/b', ' x  (y, z) ', '(())', 'mean',
        'a_b'
    ], reserved=('mean', )) == [
        'immature_granulocyte', 'a_b', 'x_y_z', 'class_3', 'mean_4', 'a_b_5'
    ]


def test_dataset_class_names_from_meta_or_numbered():
    meta = dict(classes=('basophil', 'eosinophil'))
    assert dataset_class_names(meta, 2, 'M') == ['basophil', 'eosinophil']
    assert dataset_class_names(meta, None, 'M') == ['basophil', 'eosinophil']
    assert dataset_class_names(None, 3, 'M') == [
        'class_0', 'class_1', 'class_2'
    ]
    assert dataset_class_names({}, 1, 'M') == ['class_0']


def test_dataset_class_names_refuses_mismatch_and_unknown_count():
    meta = dict(classes=('a', 'b'))
    with pytest.raises(ValueError, match=r'dataset_meta has 2 classes but '
                       r'the predictions have 3; check'):
        dataset_class_names(meta, 3, 'PerClassAccuracy')
    with pytest.raises(ValueError, match=r'dataset_meta has 2 classes but '
                       r'pred_score has 3 columns'):
        dataset_class_names(meta, 3, 'ROCAUC', 'pred_score has {n} columns')
    with pytest.raises(ValueError, match=r'`num_classes` must be given to '
                       r'PerClassAccuracy'):
        dataset_class_names(None, None, 'PerClassAccuracy')
