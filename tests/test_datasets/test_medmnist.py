import numpy as np
import pytest
from mmpretrain.registry import DATASETS

import mixssl_mm.datasets  # noqa: F401  (registers MedMNIST)
from mixssl_mm.datasets.medmnist import (BLOODMNIST_CATEGORIES,
                                         BLOODMNIST_PAPER_4, MedMNIST)

SPLIT_SIZES = {'train': 24, 'val': 16, 'test': 16}


def _make_npz(path, gray=False, size=28, keys=None, num_classes=8):
    """Write a tiny npz with the official MedMNIST keys.

    Each image's channels hold distinct values so channel order is testable.
    """
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in SPLIT_SIZES.items():
        shape = (n, size, size) if gray else (n, size, size, 3)
        arrays[f'{split}_images'] = rng.integers(
            0, 256, size=shape, dtype=np.uint8)
        # every class present in every split, in a shuffled order
        labels = rng.permutation(np.arange(n) % num_classes)
        arrays[f'{split}_labels'] = labels.reshape(n, 1).astype(np.uint8)
    if keys is not None:
        arrays = {k: v for k, v in arrays.items() if k in keys}
    np.savez(path, **arrays)
    return dict(np.load(path))


@pytest.fixture
def rgb_file(tmp_path):
    path = tmp_path / 'bloodmnist.npz'
    return path, _make_npz(path)


@pytest.mark.parametrize('split', ['train', 'val', 'test'])
def test_rgb_split_is_bgr_with_labels(rgb_file, split):
    path, raw = rgb_file
    ds = MedMNIST(data_root=str(path.parent), ann_file=path.name, split=split)
    assert len(ds) == SPLIT_SIZES[split]
    assert ds.metainfo['classes'] == BLOODMNIST_CATEGORIES
    for i in (0, len(ds) - 1):
        info = ds.get_data_info(i)
        img = info['img']
        assert img.dtype == np.uint8 and img.shape == (28, 28, 3)
        # stored BGR, like LoadImageFromFile/cv2
        np.testing.assert_array_equal(img,
                                      raw[f'{split}_images'][i][..., ::-1])
        assert info['gt_label'] == raw[f'{split}_labels'][i, 0]
        assert info['img_shape'] == (28, 28)
        assert info['ori_shape'] == (28, 28)
    np.testing.assert_array_equal(ds.get_gt_labels(),
                                  raw[f'{split}_labels'][:, 0])
    assert ds.get_cat_ids(3) == [int(raw[f'{split}_labels'][3, 0])]


@pytest.mark.parametrize('split', ['train', 'val', 'test'])
def test_grayscale_becomes_three_identical_channels(tmp_path, split):
    path = tmp_path / 'pneumoniamnist.npz'
    raw = _make_npz(path, gray=True, size=32, num_classes=2)
    ds = MedMNIST(ann_file=str(path), split=split)
    assert len(ds) == SPLIT_SIZES[split]
    img = ds.get_data_info(5)['img']
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(img[..., c], raw[f'{split}_images'][5])
    # not BloodMNIST: generic names, as many as labels in the file
    assert ds.metainfo['classes'] == ('class_0', 'class_1')


def test_without_label(tmp_path):
    path = tmp_path / 'bloodmnist.npz'
    # labels are not needed for pretraining, not even in the file
    _make_npz(path, keys=['train_images'])
    ds = MedMNIST(ann_file=str(path), split='train', with_label=False)
    assert len(ds) == SPLIT_SIZES['train']
    info = ds.get_data_info(0)
    assert 'gt_label' not in info
    assert info['img'].shape == (28, 28, 3)
    with pytest.raises(RuntimeError, match='with_label=True'):
        ds.get_gt_labels()


def test_classes_subset_remaps_in_given_order(rgb_file):
    path, raw = rgb_file
    ds = MedMNIST(
        ann_file=str(path), split='train', classes_subset=BLOODMNIST_PAPER_4)
    assert ds.metainfo['classes'] == ('eosinophil', 'lymphocyte', 'monocyte',
                                      'neutrophil')
    orig = raw['train_labels'][:, 0]
    keep = np.flatnonzero(np.isin(orig, [1, 4, 5, 6]))
    assert len(ds) == len(keep)
    remap = {1: 0, 4: 1, 5: 2, 6: 3}
    for i, src in enumerate(keep):
        info = ds.get_data_info(i)
        assert info['gt_label'] == remap[orig[src]]
        np.testing.assert_array_equal(info['img'],
                                      raw['train_images'][src][..., ::-1])

    # the order given is the new label order
    ds = MedMNIST(ann_file=str(path), split='val', classes_subset=[6, 1])
    assert ds.metainfo['classes'] == ('neutrophil', 'eosinophil')
    orig = raw['val_labels'][:, 0]
    expected = [{6: 0, 1: 1}[c] for c in orig if c in (6, 1)]
    assert ds.get_gt_labels().tolist() == expected

    # subset without labels in the output still filters samples
    ds = MedMNIST(
        ann_file=str(path),
        split='val',
        classes_subset=[6, 1],
        with_label=False)
    assert len(ds) == len(expected)
    assert 'gt_label' not in ds.get_data_info(0)


def test_generic_names_and_user_names(tmp_path):
    path = tmp_path / 'toy.npz'
    _make_npz(path, num_classes=3)
    ds = MedMNIST(ann_file=str(path), classes_subset=[2, 0])
    assert ds.metainfo['classes'] == ('class_2', 'class_0')
    ds = MedMNIST(ann_file=str(path), metainfo=dict(classes=['a', 'b', 'c']))
    assert ds.metainfo['classes'] == ('a', 'b', 'c')
    with pytest.raises(ValueError, match='2 names but the dataset has 3'):
        MedMNIST(ann_file=str(path), metainfo=dict(classes=['a', 'b']))


def test_a_file_named_like_bloodmnist_with_another_task_gets_generic_names(
        tmp_path):
    """The dataset and the benchmark name a file's classes by one rule: a
    2-class bloodmnist_*.npz is not BloodMNIST (its BloodMNIST names made
    the benchmark's evaluation pre-flight refuse the run)."""
    from mixssl_mm.benchmark.data import read_npz
    path = tmp_path / 'bloodmnist_2class.npz'
    _make_npz(path, num_classes=2)
    ds = MedMNIST(ann_file=str(path))
    assert ds.metainfo['classes'] == ('class_0', 'class_1')
    assert tuple(read_npz(str(path)).classes) == ds.metainfo['classes']
    full = tmp_path / 'bloodmnist.npz'
    _make_npz(full)
    assert MedMNIST(ann_file=str(full)).metainfo['classes'] == \
        BLOODMNIST_CATEGORIES == tuple(read_npz(str(full)).classes)


def test_missing_file_names_path_and_fetch_tool(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        MedMNIST(data_root=str(tmp_path), ann_file='bloodmnist.npz')
    msg = str(e.value)
    assert str(tmp_path / 'bloodmnist.npz') in msg
    assert 'python tools/data/fetch_bloodmnist.py' in msg


@pytest.mark.parametrize('kind', ['text', 'npy'])
def test_a_file_that_is_no_npz_archive_is_named(tmp_path, kind):
    path = tmp_path / 'bloodmnist.npz'
    if kind == 'text':
        path.write_text('not an archive')
    else:
        with open(path, 'wb') as f:
            np.save(f, np.zeros(3))
    with pytest.raises(
            ValueError, match=f'{path} is no .npz archive numpy '
            'can read') as e:
        MedMNIST(ann_file=str(path), split='test')
    assert 'allow_pickle' not in str(e.value)


def test_missing_keys_lists_found_and_expected(tmp_path):
    path = tmp_path / 'bloodmnist.npz'
    _make_npz(path, keys=['train_images', 'train_labels'])
    with pytest.raises(KeyError) as e:
        MedMNIST(ann_file=str(path), split='test')
    msg = str(e.value)
    assert "found keys ['train_images', 'train_labels']" in msg
    assert "expected ['test_images', 'test_labels']" in msg


def test_bad_arguments(rgb_file, tmp_path):
    path, _ = rgb_file
    with pytest.raises(ValueError, match="split must be one of"):
        MedMNIST(ann_file=str(path), split='validation')
    with pytest.raises(ValueError, match=r'ids \[9\] have no sample'):
        MedMNIST(ann_file=str(path), classes_subset=[1, 9])
    with pytest.raises(ValueError, match='duplicate'):
        MedMNIST(ann_file=str(path), classes_subset=[1, 1])
    with pytest.raises(ValueError, match='needs ann_file'):
        MedMNIST(data_root=str(tmp_path))
    multi = tmp_path / 'chestmnist.npz'
    np.savez(
        multi,
        train_images=np.zeros((4, 28, 28), np.uint8),
        train_labels=np.zeros((4, 14), np.uint8))
    with pytest.raises(ValueError, match='multi-label'):
        MedMNIST(ann_file=str(multi))


def test_build_from_registry_with_pipeline(rgb_file):
    path, raw = rgb_file
    ds = DATASETS.build(
        dict(
            type='MedMNIST',
            data_root=str(path.parent),
            ann_file=path.name,
            split='train',
            classes_subset=[1, 4, 5, 6],
            pipeline=[
                dict(type='RandomResizedCrop', scale=32),
                dict(type='PackInputs')
            ]))
    assert isinstance(ds, MedMNIST)
    out = ds[0]
    assert tuple(out['inputs'].shape) == (3, 32, 32)
    first = np.flatnonzero(np.isin(raw['train_labels'][:, 0], [1, 4, 5, 6]))[0]
    expected = {1: 0, 4: 1, 5: 2, 6: 3}[raw['train_labels'][first, 0]]
    assert out['data_samples'].gt_label.tolist() == [expected]
    assert out['data_samples'].ori_shape == (28, 28)
