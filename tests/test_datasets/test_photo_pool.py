import numpy as np
import pytest
from mmpretrain.registry import DATASETS

import mixssl_mm.datasets  # noqa: F401  (registers NaturalPhotoPool)
from mixssl_mm.datasets.photo_pool import (PHOTO_NAMES, NaturalPhotoPool,
                                           load_photo)


def test_all_photos_load_as_bgr_uint8():
    assert len(PHOTO_NAMES) >= 10
    for name in PHOTO_NAMES:
        img = load_photo(name)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        assert min(img.shape[:2]) >= 256, name
        assert img.std() > 10, f'{name} looks blank'
    from skimage import data
    np.testing.assert_array_equal(
        load_photo('chelsea'),
        data.chelsea()[..., ::-1])
    camera = load_photo('camera')
    for c in range(3):
        np.testing.assert_array_equal(camera[..., c], data.camera())


def test_package_photos_are_the_packages_own_loaders_pixels():
    """china, flower and grace_hopper are read from the files without
    importing scikit-learn or matplotlib; the pixels are those of their
    own loaders (RGB there, BGR here)."""
    import matplotlib.cbook
    import matplotlib.image
    from sklearn.datasets import load_sample_image
    grace = matplotlib.image.imread(
        matplotlib.cbook.get_sample_data('grace_hopper.jpg', asfileobj=False))
    for name, rgb in (('china', load_sample_image('china.jpg')),
                      ('flower', load_sample_image('flower.jpg')),
                      ('grace_hopper', grace)):
        assert rgb.dtype == np.uint8, name
        np.testing.assert_array_equal(load_photo(name), rgb[..., ::-1])


def test_length_labels_and_light_entries():
    ds = NaturalPhotoPool(length=37, with_label=True, serialize_data=False)
    n = len(PHOTO_NAMES)
    assert len(ds) == 37
    assert ds.metainfo['classes'] == PHOTO_NAMES
    # entries name a photo, they do not hold it
    assert set(ds.data_list[0]) == {'photo_idx', 'gt_label'}
    for i in (0, 5, n, 36):
        info = ds.get_data_info(i)
        assert info['gt_label'] == i % n
        np.testing.assert_array_equal(info['img'],
                                      load_photo(PHOTO_NAMES[i % n]))
        assert info['img_shape'] == info['img'].shape[:2]
    assert ds.get_gt_labels().tolist() == [i % n for i in range(37)]
    assert 'gt_label' not in NaturalPhotoPool(length=3).get_data_info(0)


def test_photo_subset_and_shared_cache():
    ds = NaturalPhotoPool(
        photos=['coins', 'astronaut'], length=4, with_label=True)
    assert ds.metainfo['classes'] == ('coins', 'astronaut')
    assert [ds.get_data_info(i)['gt_label'] for i in range(4)] == [0, 1, 0, 1]
    other = NaturalPhotoPool(photos=['astronaut'], length=2)
    # decoded once per process
    assert other._imgs[0] is ds._imgs[1]
    # a sample is a copy: changing it must not touch the shared photo
    info = ds.get_data_info(1)
    info['img'][:] = 0
    assert ds.get_data_info(1)['img'].any()


def test_pipeline_gives_fixed_size_random_crops():
    ds = DATASETS.build(
        dict(
            type='NaturalPhotoPool',
            length=100,
            with_label=True,
            pipeline=[
                dict(type='RandomResizedCrop', scale=48),
                dict(type='PackInputs')
            ]))
    assert isinstance(ds, NaturalPhotoPool)
    for i in (0, 7, 13, 99):
        out = ds[i]
        assert tuple(out['inputs'].shape) == (3, 48, 48)
        assert out['data_samples'].gt_label.tolist() == [i % len(PHOTO_NAMES)]
    crops = [ds[0]['inputs'] for _ in range(4)]
    assert any((c != crops[0]).any() for c in crops[1:])


def test_bad_selection_errors():
    with pytest.raises(KeyError) as e:
        NaturalPhotoPool(photos=['astronaut', 'lena'])
    assert "['lena']" in str(e.value) and 'chelsea' in str(e.value)
    with pytest.raises(KeyError, match='valid names'):
        load_photo('lena')
    with pytest.raises(ValueError, match='photos is empty'):
        NaturalPhotoPool(photos=[])
    with pytest.raises(ValueError, match='duplicates'):
        NaturalPhotoPool(photos=['moon', 'moon'])
    with pytest.raises(ValueError, match='positive int'):
        NaturalPhotoPool(length=0)


@pytest.mark.parametrize('name', ['china', 'grace_hopper'])
def test_a_missing_package_file_names_the_package_and_the_fix(
        name, monkeypatch):
    """The sklearn/matplotlib photos are files inside those packages, read
    with Pillow: an installation without the file gets the same clear
    message as a missing package, not a bare FileNotFoundError."""
    import mixssl_mm.datasets.photo_pool as pool
    package, _ = pool.PHOTO_SOURCES[name]
    monkeypatch.setitem(
        pool.PHOTO_SOURCES, name,
        (package, pool._pil('sklearn', 'datasets', 'no_such_photo.jpg')))
    monkeypatch.delitem(pool._PHOTO_CACHE, name, raising=False)
    with pytest.raises(ImportError) as e:
        load_photo(name)
    msg = str(e.value)
    assert f'Photo {name!r} ships with {package}' in msg
    assert 'FileNotFoundError' in msg and 'no_such_photo.jpg' in msg
    assert f'pip install --force-reinstall {package}' in msg
    assert f'leave {name!r} out of `photos`' in msg
