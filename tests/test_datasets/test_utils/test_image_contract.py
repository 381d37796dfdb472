"""The pixel contract of CrossDomainMixup (mixssl_mm.datasets.utils.
image_contract), one test per kind: 16-bit, float, 4-channel (what
LoadImageFromFile(color_type='unchanged') gives), 1-channel. The transform
checks every pair when it mixes; the Runner case (16-bit target, 8-bit
photos): test_cross_domain_mixup_training.py."""
import re

import cv2
import numpy as np
import pytest
from mmpretrain.registry import TRANSFORMS

from mixssl_mm.datasets.utils.image_contract import (ImageContractError,
                                                     check_mixable,
                                                     image_contract_error)
from tests._helpers.bit_depth_images import (MAX_16BIT, image_16bit,
                                             write_16bit_folder)

TARGET_KEY = 'target pipeline (train_dataloader.dataset.pipeline)'
AUX_KEY = "auxiliary pipeline (CrossDomainMixup's aux_pipeline"


def mixup(aux_dir, load=None, scale=None):
    """CrossDomainMixup over the folder ``aux_dir`` (32 px; the auxiliary
    images loaded with ``LoadImageFromFile(**load)``, then ``scale``)."""
    pipeline = [
        dict(type='LoadImageFromFile', **(load or {})),
        *([scale] if scale else []),
        dict(type='Resize', scale=(32, 32))
    ]
    return TRANSFORMS.build(
        dict(
            type='CrossDomainMixup',
            aux_dataset=aux_dir,
            aux_pipeline=pipeline))


def u8(shape=(32, 32, 3)):
    return np.random.randint(0, 256, shape, dtype=np.uint8)


def refused(transform, img, *patterns):
    with pytest.raises(ImageContractError) as e:
        transform(dict(img=img))
    for p in patterns:
        assert re.search(p, str(e.value)), (p, str(e.value))
    return str(e.value)


# -- 16-bit ---------------------------------------------------------------
def test_16bit_target_with_8bit_photo_is_refused_naming_the_transform(
        image_folders):
    t = mixup(image_folders[1])
    img = image_16bit(32, channels=3)[:, :32]
    refused(
        t, img, r'^CrossDomainMixup: the target image is uint16 '
        rf'\(values up to {MAX_16BIT}\)', 'outweigh an 8-bit image by '
        r"up to 257x",
        re.escape("dict(type='ScaleToUint8', "
                  'bit_depth=16) right after '
                  'LoadImageFromFile in the ' + TARGET_KEY),
        "docs/getting_started.md, '16-bit")
    # scaled, the same image mixes as 8-bit
    scaled = TRANSFORMS.build(dict(type='ScaleToUint8'))(dict(img=img))
    out = t(scaled)['img']
    assert [v.dtype for v in out] == [np.uint8, np.uint8]


def test_12bit_data_get_their_real_bit_depth_named():
    img = np.zeros((4, 4), np.uint16)
    img[0, 0] = 4000
    msg = image_contract_error(img, 'target')
    assert "bit_depth=16) (or the real bit depth of the data, if smaller: " \
           "this image's maximum 4000 fits bit_depth=12)" in msg


def test_16bit_auxiliary_images_are_refused_on_their_side(tmp_path):
    aux = write_16bit_folder(tmp_path / 'aux16', 2)
    t = mixup(aux, load=dict(color_type='unchanged'))
    refused(t, u8(), r'the auxiliary image is uint16', re.escape(AUX_KEY))
    # the fix: scale the auxiliary side too
    t = mixup(
        aux,
        load=dict(color_type='unchanged'),
        scale=dict(type='ScaleToUint8', bit_depth=16))
    x_t, x_a = t(dict(img=u8()))['img']
    assert x_a.dtype == np.uint8 and x_a.shape == (32, 32, 3)


def test_signed_images_need_a_window():
    msg = image_contract_error(np.full((4, 4), -1000, np.int16), 'target')
    assert "value_range=(LOW, HIGH), clip=True" in msg and 'CT' in msg


# -- float ----------------------------------------------------------------
def test_float_images(image_folders):
    t = mixup(image_folders[1])
    zero_one = np.random.rand(32, 32, 3).astype(np.float32)
    refused(t, zero_one, r'the target image is a 0–1 float32 image',
            re.escape("ScaleToUint8', value_range=(0, 1))"))
    refused(t, zero_one * 1000, r'float32 with values in \[.*\], not on the '
            '8-bit scale', re.escape("ScaleToUint8', value_range=("))
    # LoadImageFromFile(to_float32=True): whole numbers 0..255 mix, a black
    # crop of them too
    for img in (u8().astype(np.float32), np.zeros((32, 32, 3), np.float32)):
        x_t, _ = t(dict(img=img))['img']
        assert x_t.dtype == np.float32
    # NaN is not a value range: NonFiniteLossHook stops it
    assert image_contract_error(
        np.full((4, 4, 3), np.nan, np.float32), 'target') is None


def test_to_float32_loading_mixes(image_folders):
    t = mixup(image_folders[1], load=dict(to_float32=True))
    x_t, x_a = t(dict(img=u8()))['img']
    assert x_t.dtype == np.uint8 and x_a.dtype == np.float32


# -- channels -------------------------------------------------------------
def test_four_channel_images_are_refused_or_converted(tmp_path, image_folders):
    path = tmp_path / 'rgba.png'
    cv2.imwrite(str(path), np.dstack([u8(), np.full((32, 32), 255, np.uint8)]))
    load = TRANSFORMS.build(
        dict(type='LoadImageFromFile', color_type='unchanged'))
    bgra = load(dict(img_path=str(path)))['img']
    assert bgra.shape == (32, 32, 4)
    t = mixup(image_folders[1])
    refused(t, bgra, r'the target image has 4 channels \(BGRA',
            re.escape("color_type='color'"),
            re.escape("dict(type='ScaleToUint8', drop_alpha=True)"))
    rgb = TRANSFORMS.build(dict(type='ScaleToUint8',
                                drop_alpha=True))(dict(img=bgra))['img']
    x_t, _ = t(dict(img=rgb))['img']
    np.testing.assert_array_equal(x_t, bgra[..., :3])


@pytest.mark.parametrize('shape', [(32, 32), (32, 32, 1)])
def test_one_channel_images_mix_as_three(image_folders, shape):
    t = mixup(image_folders[1])
    x_t, x_a = t(dict(img=u8(shape)))['img']
    assert x_t.shape == x_a.shape == (32, 32, 3)


@pytest.mark.parametrize('shape', [(32, 32, 2), (32, 32, 5), (32, )])
def test_other_channel_counts_are_refused(shape):
    with pytest.raises(
            ImageContractError,
            match=re.escape(f'the auxiliary image has shape {shape}')):
        check_mixable(u8(), u8(shape))


def test_not_an_array():
    with pytest.raises(ImageContractError, match='is a list, not a numpy'):
        check_mixable([1, 2], u8())
