"""mixssl_mm.benchmark.planning's label fractions and the protocol names of
methods.py: the stratified subset (every class present, proportions kept
within rounding, fixed per seed), the pool, the equal-step budget, the
record and the protocol names."""
import json

import numpy as np
import pytest

from mixssl_mm.benchmark.methods import (base_protocol, fraction_protocol,
                                         ordered_protocols, protocol_title,
                                         split_protocol)
from mixssl_mm.benchmark.planning import (LabelSubset, check_fractions,
                                          dataset_labels, draw_subset,
                                          equal_step_epochs, pool_positions,
                                          stratified_subset)
from mixssl_mm.benchmark.report import subsets_section
from tests._helpers.dist_launch import TINY_NPZ, write_tiny_medmnist

COUNTS = [500, 300, 150, 40, 10]


def _labels(seed=0):
    labels = np.repeat(np.arange(len(COUNTS)), COUNTS)
    return np.random.default_rng(seed).permutation(labels)


@pytest.mark.parametrize('fraction', [0.01, 0.1, 0.5])
def test_subset_is_stratified_with_every_class(fraction):
    labels = _labels()
    idx = stratified_subset(labels, fraction, seed=0)
    counts = np.bincount(labels[idx], minlength=len(COUNTS))
    assert (counts >= 1).all()
    assert len(set(idx.tolist())) == len(idx) and (np.diff(idx) > 0).all()
    for n_c, got in zip(COUNTS, counts):
        want = fraction * n_c
        # rounding, plus the one image a class below one image gets
        assert abs(got - want) <= 1 or (want < 1 and got == 1), (n_c, got)
    assert abs(len(idx) - fraction * len(labels)) <= len(COUNTS)


def test_subset_is_fixed_per_seed_and_drawn_from_the_pool():
    labels = _labels()
    a = stratified_subset(labels, 0.1, seed=3)
    assert np.array_equal(a, stratified_subset(labels, 0.1, seed=3))
    assert not np.array_equal(a, stratified_subset(labels, 0.1, seed=4))
    pool = pool_positions(len(labels), 400)
    sub = stratified_subset(labels, 0.1, seed=0, pool=pool)
    assert set(sub.tolist()) <= set(range(400))
    assert 40 <= len(sub) <= 40 + len(COUNTS)  # + a top-up per empty class
    # the whole pool at 100 %
    assert np.array_equal(stratified_subset(labels, 1.0, 0, pool), pool)


def test_singleton_classes_are_kept():
    labels = np.array([0] * 50 + [1] * 50 + [2])
    idx = stratified_subset(labels, 0.1, seed=0)
    assert set(labels[idx].tolist()) == {0, 1, 2} and len(idx) == 10


def test_pool_positions_follow_mmengine_indices():
    assert pool_positions(10).tolist() == list(range(10))
    assert pool_positions(10, 4).tolist() == [0, 1, 2, 3]
    assert pool_positions(10, 40).tolist() == list(range(10))
    assert pool_positions(10, [7, 2]).tolist() == [7, 2]


def test_fractions_are_checked():
    assert check_fractions([1.0, 0.01, 0.1, 0.1]) == [0.01, 0.1, 1.0]
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(SystemExit, match=r'\(0, 1\]'):
            check_fractions([bad])


def test_equal_step_budget():
    # 2048 images, batch 32: 64 steps an epoch, 3 epochs = 192 steps
    assert equal_step_epochs(3, 2048, 2048, 32) == 3
    assert equal_step_epochs(3, 2048, 205, 32) == 27  # 7 steps an epoch
    assert equal_step_epochs(3, 2048, 20, 32) == 192  # 1 step an epoch


def test_record_file_and_results_section(tmp_path):
    labels = _labels()
    sub = draw_subset(labels, list('abcde'), 0.1, 0, np.arange(len(labels)))
    assert sub.counts == [50, 30, 15, 4, 1]
    assert sub.pool_counts == COUNTS
    path = sub.write(str(tmp_path))
    assert path == str(tmp_path / 'label_fractions' / 'seed0_10pct.json')
    rec = json.loads(open(path).read())
    assert rec['indices'] == sub.indices and rec['sha256'] == sub.sha256
    again = LabelSubset(
        **{
            k: rec[k]
            for k in ('fraction', 'seed', 'indices', 'counts', 'pool_counts',
                      'classes')
        })
    assert again.sha256 == sub.sha256
    md = subsets_section([sub], str(tmp_path))
    assert md[0] == '## Label fractions'
    assert '| 100 % (pool) | – | 1000 | 500 | 300 | 150 | 40 | 10 | – |' \
        in md
    assert (f'| 10 % | 0 | 100 | 50 | 30 | 15 | 4 | 1 | '
            f'`label_fractions/seed0_10pct.json` (`{sub.sha256[:12]}`) |'
            in md)
    assert subsets_section([], str(tmp_path)) == []


def test_labels_of_a_medmnist_file_in_data_list_order(tmp_path):
    root = write_tiny_medmnist(tmp_path, n=(24, 8, 8))
    labels, classes = dataset_labels(
        dict(
            type='MedMNIST',
            data_root=root,
            ann_file=TINY_NPZ,
            split='train',
            classes_subset=[1, 4, 5, 6],
            indices=3,
            pipeline=[{
                'type': 'X'
            }]))
    assert classes == ['eosinophil', 'lymphocyte', 'monocyte', 'neutrophil']
    assert labels.tolist() == [0, 1, 2, 3] * 3  # 24 images, labels i % 8


def test_protocol_keys_and_titles():
    assert fraction_protocol(0.01) == 'finetune_1pct'
    assert fraction_protocol(0.005) == 'finetune_0.5pct'
    assert fraction_protocol(1.0) == 'finetune'
    assert split_protocol('finetune_10pct') == ('finetune', 0.1)
    assert split_protocol('linear') == ('linear', None)
    assert base_protocol('finetune_0.5pct') == 'finetune'
    assert protocol_title('finetune_1pct') == 'Fine-tune, 1 % of the labels'
    assert protocol_title('finetune') == 'Fine-tune'
    assert protocol_title('finetune', True) == \
        'Fine-tune, 100 % of the labels'
    assert ordered_protocols([
        'linear', 'finetune', 'finetune_10pct', 'finetune_1pct', 'linear'
    ]) == ['finetune_1pct', 'finetune_10pct', 'finetune', 'linear']
