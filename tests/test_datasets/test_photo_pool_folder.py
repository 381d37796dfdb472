"""NaturalPhotoFolder: distinct, seeded crops of a fetched photo pool (here
one fetched from a generated .deb, so nothing is downloaded), and the base
dataset config that points MixSSL at it."""
import hashlib
from pathlib import Path

import mmcv
import numpy as np
import pytest
from mmengine.config import Config
from mmpretrain.registry import DATASETS

from mixssl_mm.datasets import NaturalPhotoFolder
from mixssl_mm.datasets.utils.fetch import FetchError
from mixssl_mm.datasets.utils.natural_photos import fetch
from tests._helpers.fake_deb import PREFIX, fake_sources, write_deb

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / 'configs' / '_base_' / 'datasets'


@pytest.fixture(scope='module')
def pool(tmp_path_factory):
    """A fetched pool of 3 photos, 60 x 40 px."""
    tmp = tmp_path_factory.mktemp('pool')
    packages, photos = fake_sources(tmp / 'debs')
    return fetch(
        str(tmp / 'natural_photos'),
        deb_dir=str(tmp / 'debs'),
        packages=packages,
        photos=photos,
        short_side=40,
        apt_get=str(tmp / 'no-apt-get'))


def _crops(ds):
    return [ds[i]['img'] for i in range(len(ds))]


def test_length_labels_and_images(pool):
    ds = NaturalPhotoFolder(data_root=pool, num_crops=30, with_label=True)
    assert len(ds) == 30
    assert ds.metainfo['classes'] == ('fake-p0', 'fake-p1', 'fake-p2')
    assert [ds[i]['gt_label'] for i in range(6)] == [0, 1, 2, 0, 1, 2]
    assert ds.get_gt_labels().tolist() == [0, 1, 2] * 10
    assert ds.get_cat_ids(4) == [1]
    full = mmcv.imread(
        str(Path(pool) / 'fake-p1' / 'fake-p1.jpg'), channel_order='rgb')
    for i in (1, 4):
        s = ds[i]
        x, y, w, h = s['crop_box']
        img = s['img']
        assert img.dtype == np.uint8 and img.shape == (h, w, 3)
        assert s['img_shape'] == s['ori_shape'] == (h, w)
        # BGR, as LoadImageFromFile: the crop of the RGB file, reversed
        assert np.array_equal(img, full[y:y + h, x:x + w, ::-1])
        # area within crop_scale of the 60 x 40 photo (up to rounding)
        assert 0.2 * 2400 * 0.9 <= w * h <= 2400
        assert 0 <= x and x + w <= 60 and 0 <= y and y + h <= 40
        img[:] = 0  # a writable copy: the shared photo is unchanged
    assert ds[1]['img'].any()
    assert 'gt_label' not in NaturalPhotoFolder(data_root=pool, num_crops=3)[0]


def test_crops_are_distinct_and_seeded(pool):
    """num_crops distinct crops, the same ones for the same seed."""
    ds = NaturalPhotoFolder(data_root=pool, num_crops=600, seed=3)
    crops = _crops(ds)
    digests = {
        hashlib.sha256(c.tobytes() + bytes(c.shape)).hexdigest()
        for c in crops
    }
    assert len(digests) == 600
    again = NaturalPhotoFolder(data_root=pool, num_crops=600, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(crops, _crops(again)))
    other = NaturalPhotoFolder(data_root=pool, num_crops=600, seed=4)
    assert [other[i]['crop_box'] for i in range(20)] != \
        [ds[i]['crop_box'] for i in range(20)]


def test_repeated_boxes_are_redrawn(pool):
    """With whole-photo crops only one box per photo exists: the dataset
    cannot hold more than that and says so; up to there all are distinct."""
    whole = dict(data_root=pool, crop_scale=(1.0, 1.0), crop_ratio=(1.5, 1.5))
    ds = NaturalPhotoFolder(num_crops=3, **whole)
    assert [ds[i]['crop_box'] for i in range(3)] == [(0, 0, 60, 40)] * 3
    with pytest.raises(
            ValueError, match='allow fewer than num_crops=4 '
            'distinct crops'):
        NaturalPhotoFolder(num_crops=4, **whole)
    small = dict(
        data_root=pool, crop_scale=(0.02, 0.02), crop_ratio=(1.0, 1.0))
    ds = NaturalPhotoFolder(num_crops=300, **small)
    boxes = [(ds[i]['photo_idx'], ds[i]['crop_box']) for i in range(300)]
    assert len(set(boxes)) == 300


def test_in_a_pipeline_and_through_the_registry(pool):
    ds = DATASETS.build(
        dict(
            type='NaturalPhotoFolder',
            data_root=pool,
            num_crops=8,
            pipeline=[dict(type='RandomResizedCrop', scale=32)]))
    assert ds[0]['img'].shape == (32, 32, 3)


def test_bad_input(pool, tmp_path):
    with pytest.raises(FetchError, match='fetch_natural_photos.py'):
        NaturalPhotoFolder(data_root=str(tmp_path))
    with pytest.raises(ValueError, match='num_crops'):
        NaturalPhotoFolder(data_root=pool, num_crops=0)
    with pytest.raises(ValueError, match='crop_scale'):
        NaturalPhotoFolder(data_root=pool, crop_scale=(0.5, 1.5))
    with pytest.raises(ValueError, match='crop_ratio'):
        NaturalPhotoFolder(data_root=pool, crop_ratio=(2, 1))


def test_base_config_points_mixssl_at_the_pool():
    """The new base config mixes with NaturalPhotoFolder and otherwise is
    bloodmnist_mixssl.py (same view pipeline); the existing base config,
    which the test-suite configs use, keeps NaturalPhotoPool."""
    cfg = Config.fromfile(str(BASE / 'bloodmnist_mixssl_natural-photos.py'))
    base = Config.fromfile(str(BASE / 'bloodmnist_mixssl.py'))
    mixup = [
        t for t in cfg.train_dataloader.dataset.pipeline
        if t['type'] == 'CrossDomainMixup'
    ][0]
    aux = mixup['aux_dataset']
    assert aux['type'] == 'NaturalPhotoFolder' and aux['with_label']
    assert aux['data_root'] == 'data/natural_photos/'
    assert aux['pipeline'] == base.view_pipeline == cfg.view_pipeline
    pipe = [t for t in cfg.train_dataloader.dataset.pipeline]
    base_pipe = base.train_dataloader.dataset.pipeline
    assert [t['type'] for t in pipe] == [t['type'] for t in base_pipe]
    base_mixup = [t for t in base_pipe if t['type'] == 'CrossDomainMixup'][0]
    assert base_mixup['aux_dataset']['type'] == 'NaturalPhotoPool'
    assert {k: v for k, v in mixup.items() if k != 'aux_dataset'} == \
        {k: v for k, v in base_mixup.items() if k != 'aux_dataset'}


def test_fake_deb_is_a_deb(tmp_path):
    """The generated .deb has the real layout (ar with debian-binary,
    control and data members), so the fetch logic reads real packages the
    same way."""
    deb = write_deb(tmp_path / 'x.deb', {PREFIX + 'a.png': b'x'})
    data = deb.read_bytes()
    assert data.startswith(b'!<arch>\ndebian-binary   ')
    assert b'control.tar.xz' in data and b'data.tar.xz' in data


REAL_POOL = REPO / 'data' / 'natural_photos'


@pytest.mark.skipif(
    not (REAL_POOL / 'manifest.json').exists(),
    reason='needs data/natural_photos (python '
    'tools/data/fetch_natural_photos.py)')
def test_the_fetched_pool():
    """The real pool: complete with its checksums, at least 50 photos, and
    the default dataset is 4096 distinct crops of all of them."""
    from mixssl_mm.datasets.utils.natural_photos import PHOTOS, check_pool
    assert check_pool(str(REAL_POOL)) == []
    ds = NaturalPhotoFolder(data_root=str(REAL_POOL), with_label=True)
    assert len(ds) == 4096 and len(ds.metainfo['classes']) == len(PHOTOS)
    assert len(PHOTOS) >= 50
    crops, labels, sides = set(), set(), []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        crops.add((info['photo_idx'], info['crop_box']))
        labels.add(info['gt_label'])
        sides.append(min(info['img'].shape[:2]))
    assert len(crops) == 4096 and labels == set(range(len(PHOTOS)))
    assert min(sides) >= 128
