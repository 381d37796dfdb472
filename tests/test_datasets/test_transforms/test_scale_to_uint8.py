"""ScaleToUint8: 16-bit (and other-depth, float, 4-channel) images to the
8-bit scale that CrossDomainMixup mixes; real PNG/TIFF files read by mmcv's
LoadImageFromFile(color_type='unchanged'), the only mode that keeps 16 bits.
The refusal of unscaled images: test_image_contract.py."""

import cv2
import numpy as np
import pytest
from mmpretrain.registry import TRANSFORMS

from tests._helpers.bit_depth_images import MAX_16BIT, image_16bit


def scale(results=None, **kwargs):
    return TRANSFORMS.build(dict(type='ScaleToUint8', **kwargs))(results)


def load_unchanged(path):
    load = TRANSFORMS.build(
        dict(type='LoadImageFromFile', color_type='unchanged'))
    return load(dict(img_path=str(path)))


@pytest.mark.parametrize('ext', ['.png', '.tif'])
def test_16bit_file_is_scaled_by_its_bit_depth(tmp_path, ext):
    img = image_16bit(channels=3)
    path = tmp_path / f'cells{ext}'
    assert cv2.imwrite(str(path), img)
    results = load_unchanged(path)
    assert results['img'].dtype == np.uint16  # what mmcv hands over
    assert results['img'].max() == MAX_16BIT
    out = scale(results)['img']
    assert out.dtype == np.uint8 and out.shape == img.shape
    expected = np.rint(img.astype(np.float64) * 255 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)


def test_real_bit_depth_of_12bit_data_in_16bit_files(tmp_path):
    img = np.array([[0, 2048, 4095]], np.uint16)
    # scaled by 16 bits, 12-bit data would stay dark (max 16)
    assert scale(dict(img=img))['img'].max() == 16
    out = scale(dict(img=img), bit_depth=12)['img']
    np.testing.assert_array_equal(out, [[0, 128, 255]])
    # a value the bit depth cannot hold is a config error, named
    with pytest.raises(
            ValueError,
            match=r'cells\.png has values 0\.\.5000, '
            r'outside 0\.\.4095 \(bit_depth=12\)\. Set '
            r'bit_depth=13 or more'):
        scale(
            dict(img=np.array([[0, 5000]], np.uint16), img_path='cells.png'),
            bit_depth=12)
    out = scale(
        dict(img=np.array([[0, 5000]], np.uint16)), bit_depth=12,
        clip=True)['img']
    np.testing.assert_array_equal(out, [[0, 255]])


def test_gray_16bit_stays_gray(tmp_path):
    path = tmp_path / 'gray.png'
    cv2.imwrite(str(path), image_16bit(channels=1))
    results = load_unchanged(path)
    assert results['img'].ndim == 2
    out = scale(results)['img']
    assert out.dtype == np.uint8 and out.ndim == 2 and out.max() == 255


def test_float_images_need_their_value_range():
    img = np.array([[0.0, 0.5, 1.0]], np.float32)
    with pytest.raises(
            ValueError,
            match=r'float32 image, which has no bit '
            r'depth; give value_range=\(LOW, HIGH\), e\.g\. '
            r'\(0, 1\)'):
        scale(dict(img=img))
    out = scale(dict(img=img), value_range=(0, 1))['img']
    np.testing.assert_array_equal(out, [[0, 128, 255]])
    # a window of signed values (CT in HU): clipped outside it
    hu = np.array([[-2000, -1000, 0, 1000, 3000]], np.int16)
    out = scale(dict(img=hu), value_range=(-1000, 1000), clip=True)['img']
    np.testing.assert_array_equal(out, [[0, 0, 128, 255, 255]])
    with pytest.raises(ValueError, match='NaN or inf'):
        scale(
            dict(img=np.array([[np.nan, 1.0]], np.float32)),
            value_range=(0, 1))


def test_alpha_channel_is_dropped_on_request(tmp_path):
    bgra = image_16bit(channels=4)
    path = tmp_path / 'rgba.png'
    cv2.imwrite(str(path), bgra)
    results = load_unchanged(path)
    assert results['img'].shape[2] == 4
    kept = scale(dict(results))['img']
    assert kept.shape[2] == 4  # only scaled unless told
    out = scale(results, drop_alpha=True)['img']
    assert out.shape == bgra.shape[:2] + (3, ) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, kept[..., :3])


def test_uint8_images_pass_unchanged():
    img = np.random.randint(0, 256, (8, 8, 3), dtype=np.uint8)
    assert scale(dict(img=img))['img'] is img


@pytest.mark.parametrize('kwargs,message', [
    (dict(bit_depth=16, value_range=(0, 1)), 'not both'),
    (dict(bit_depth=0), 'bit_depth must be an integer in 1..32'),
    (dict(bit_depth=True), 'bit_depth must be an integer in 1..32'),
    (dict(bit_depth=12.0), 'bit_depth must be an integer in 1..32'),
    (dict(value_range=(1, 0)), r'value_range must be \(low, high\)'),
    (dict(value_range=(0, float('inf'))), r'value_range must be'),
    (dict(value_range=5), r'value_range must be'),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TRANSFORMS.build(dict(type='ScaleToUint8', **kwargs))


def test_repr_names_the_settings():
    t = TRANSFORMS.build(dict(type='ScaleToUint8', bit_depth=12))
    assert repr(t) == ('ScaleToUint8(bit_depth=12, value_range=None, '
                       'clip=False, drop_alpha=False)')
