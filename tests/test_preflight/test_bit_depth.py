"""mixssl_mm.preflight.bit_depth (issue 22, kind 7): what is on disk (a
sample of the files) is compared with what the pipeline's loader hands
over; a silent reduction is refused with the loader option and the
transform that keep the data."""
import os

import cv2
import numpy as np
import pytest
from PIL import Image

from mixssl_mm.preflight import ConfigError
from mixssl_mm.preflight.bit_depth import check_loader_bit_depth
from tests._helpers.bit_depth_images import image_16bit, write_16bit_folder
from tests.conftest import write_image_folder


def _dataset(root, **loader):
    from mmpretrain.datasets import CustomDataset
    return CustomDataset(
        data_root=str(root),
        with_label=False,
        pipeline=[dict(type='LoadImageFromFile', **loader)])


def _write(root, name, img, pil_mode=None):
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, name)
    if pil_mode:
        Image.fromarray(img, pil_mode).save(path)
    else:
        assert cv2.imwrite(path, img)


def test_16bit_targets_through_the_default_loader_are_refused_by_train(
        tmp_path, train_in_process):
    # LoadImageFromFile() divides 16-bit values by 256 without a word
    target = write_16bit_folder(tmp_path / 'cells16', 4)
    aux = write_image_folder(tmp_path / 'aux', 3, classes=('x', ), seed=2)
    cfg = train_in_process.config((target, aux))
    work = tmp_path / 'work'
    with pytest.raises(ConfigError) as info:
        train_in_process(cfg, work)
    msg = str(info.value)
    assert ("LoadImageFromFile(color_type='color', imdecode_backend='cv2') "
            'reduces their bit depth') in msg
    assert 'on disk uint16, 3 channel(s), values' in msg
    assert "color_type='unchanged'" in msg
    assert "dict(type='ScaleToUint8', bit_depth=16)" in msg
    assert not work.exists()


RNG = np.random.default_rng(0)


@pytest.mark.parametrize('name,img,mode,loader,fix', [
    ('u16.png', image_16bit(16), None, {}, 'bit_depth=16'),
    ('u16.tif', image_16bit(16), None, {}, 'bit_depth=16'),
    ('u12.png', image_16bit(16, channels=1,
                            max_value=4000), None, {}, 'bit_depth=12'),
    ('u16.png', image_16bit(
        16, channels=1), None, dict(color_type='grayscale'), 'bit_depth=16'),
    ('u16.png', image_16bit(16), None, dict(imdecode_backend='pillow'),
     'bit_depth=16'),
    ('f.tif', RNG.random((16, 16), dtype=np.float32), 'F',
     dict(imdecode_backend='pillow'), 'value_range=(0'),
    ('rgba.png', RNG.integers(0, 256, (16, 16, 4),
                              dtype=np.uint8), None, {}, 'drop_alpha=True'),
    ('u16.tif', image_16bit(16), None,
     dict(color_type='unchanged', imdecode_backend='pillow'), 'bit_depth=16'),
])
def test_each_reduction_is_refused_naming_the_fix(tmp_path, name, img, mode,
                                                  loader, fix):
    _write(tmp_path / 'd', name, img, mode)
    with pytest.raises(ConfigError, match=fix.replace('(', r'\(')):
        check_loader_bit_depth(
            _dataset(tmp_path / 'd', **loader), 'train_dataloader.dataset')


@pytest.mark.parametrize('name,img,mode,loader', [
    ('u16.png', image_16bit(16), None, dict(color_type='unchanged')),
    ('u8.png', RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8), None, {}),
    ('g8.png', RNG.integers(0, 256, (16, 16), dtype=np.uint8), None, {}),
    ('pal.png', RNG.integers(0, 4, (16, 16), dtype=np.uint8), 'P', {}),
    ('bit.png', RNG.integers(0, 2, (16, 16), dtype=np.uint8) * 255, '1', {}),
    ('opaque.png',
     np.dstack([RNG.integers(0, 256, (16, 16, 3)),
                np.full((16, 16), 255)]).astype(np.uint8), None, {}),
    ('u8in16.png', RNG.integers(0, 256, (16, 16)).astype(
        np.uint16), None, dict(to_float32=True, color_type='unchanged')),
])
def test_what_the_loader_keeps_passes(tmp_path, name, img, mode, loader):
    if mode == '1':
        img = img.astype(bool)
    _write(tmp_path / 'd', name, img, mode)
    check_loader_bit_depth(
        _dataset(tmp_path / 'd', **loader), 'train_dataloader.dataset')
