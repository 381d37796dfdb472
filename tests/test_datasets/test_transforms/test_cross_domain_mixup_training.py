"""CrossDomainMixup's refusals and options in real training runs (through
mixssl_mm.apis.train, what tools/train.py runs): a bad auxiliary set or
mixing parameter (now the model's) is refused before anything is written;
skip_corrupt, grayscale inputs and a fixed λ train; a 16-bit target is
refused, or trains once scaled with ScaleToUint8."""
import json
import os.path as osp
import re

import cv2
import numpy as np
import pytest

from mixssl_mm.datasets.utils.image_contract import ImageContractError
from mixssl_mm.preflight import ConfigError
from tests._helpers.bit_depth_images import write_16bit_folder
from tests._helpers.training import (RANDOM_CROP_32, TINY_MODEL, corrupt,
                                     iters_of)
from tests.conftest import write_image_folder


def views(target_color='color', aux_color='color'):
    """``view`` / ``aux_view`` options of ``mixssl_config``: load in the
    given colour mode, resize to 32 px."""
    return {
        key: (f"[dict(type='LoadImageFromFile', color_type='{color}'), "
              "dict(type='Resize', scale=(32, 32))]")
        for key, color in (('view', target_color), ('aux_view', aux_color))
    }


@pytest.mark.parametrize('kind', ['missing', 'empty'])
def test_missing_or_empty_auxiliary_folder(tmp_path, image_folders, kind,
                                           train_in_process):
    aux = tmp_path / f'{kind}_aux'
    if kind == 'empty':
        aux.mkdir()
    cfg = train_in_process.config((image_folders[0], str(aux)))
    work = tmp_path / 'work'
    with pytest.raises(
            ValueError,
            match=f'auxiliary dataset.*{kind}_aux.*'
            r'(?s:.*)NaturalPhotoPool'):
        train_in_process(cfg, work)
    assert not work.exists()


def test_unreadable_auxiliary_image_is_named_or_skipped(
        tmp_path, image_folders, train_in_process):
    bad = corrupt(osp.join(image_folders[1], 'x', '003.jpg'), b'')
    work = tmp_path / 'work'
    with pytest.raises(
            ValueError, match=re.escape(bad) + r'(?s:.*)skip_corrupt=True'):
        train_in_process(train_in_process.config(image_folders), work)
    assert not work.exists()
    # told to skip: it trains on the readable four
    cfg = train_in_process.config(image_folders, mixup=', skip_corrupt=True')
    with pytest.warns(
            UserWarning,
            match=r'skipping 1 unreadable auxiliary '
            r'image\(s\)(?s:.*)' + re.escape(bad)):
        train_in_process(cfg, work)
    assert iters_of(work) == 2


@pytest.mark.parametrize('target_color,aux_color', [('grayscale', 'color'),
                                                    ('color', 'grayscale')])
def test_gray_and_colour_mix_as_three_channels(tmp_path, image_folders,
                                               target_color, aux_color,
                                               train_in_process):
    cfg = train_in_process.config(image_folders,
                                  **views(target_color, aux_color))
    train_in_process(cfg, tmp_path / 'work')
    assert iters_of(tmp_path / 'work') == 2


@pytest.mark.parametrize('mixup,message', [
    (', alpha=0.5', "Move alpha=0.5 to model.alpha"),
    (", lam_mode='batch'", "Move lam_mode='batch' to model.lam_mode"),
    (', fixed_lam=0.3', 'Move fixed_lam=0.3 to model.fixed_lam'),
])
def test_lambda_in_the_pipeline_names_the_model_key(tmp_path, image_folders,
                                                    mixup, message,
                                                    train_in_process):
    """Configs written when the pipeline drew λ are refused with the key to
    use, before anything is written."""
    work = tmp_path / 'work'
    with pytest.raises(TypeError, match=re.escape(message)):
        train_in_process(
            train_in_process.config(image_folders, mixup=mixup), work)
    assert not work.exists()


def with_model(option: str) -> str:
    """The tests' tiny model config with ``option`` (e.g. ``'alpha=0'``)
    added."""
    return TINY_MODEL.replace('model = dict(', f'model = dict({option}, ', 1)


@pytest.mark.parametrize('option,message', [
    ('alpha=0', 'alpha must be a finite number > 0'),
    ("alpha='one'", 'alpha must be a finite number > 0'),
    ('fixed_lam=1.5', r'fixed_lam must be a number in \[0, 1\]'),
    ("lam_mode='epoch'", 'lam_mode must be one of'),
])
def test_bad_alpha_lam_mode_or_fixed_lambda(tmp_path, image_folders, option,
                                            message, train_in_process):
    work = tmp_path / 'work'
    cfg = train_in_process.config(image_folders, model=with_model(option))
    with pytest.raises(ValueError, match='MixSSL: ' + message):
        train_in_process(cfg, work)
    assert not work.exists()


def test_fixed_lambda_is_what_the_model_mixes_with(tmp_path, image_folders,
                                                   train_in_process):
    cfg = train_in_process.config(
        image_folders,
        model=with_model('fixed_lam=0.3'),
        custom_hooks="[dict(type='RecordRunHook')]")
    train_in_process(cfg, tmp_path / 'work')
    lams = json.load(open(tmp_path / 'work' / 'record_rank0.json'))['lams']
    assert len(lams) == 2
    assert all(v == pytest.approx(0.3) for batch in lams for v in batch)


# the reported case: LoadImageFromFile(color_type='unchanged') and the
# default (cv2) RandomResizedCrop hand CrossDomainMixup 16-bit targets
UNCHANGED_16BIT_VIEW = ("[dict(type='LoadImageFromFile', "
                        "color_type='unchanged'), {scale}"
                        "dict(type='RandomResizedCrop', scale=32)]")
PHOTO_VIEW = RANDOM_CROP_32


@pytest.mark.parametrize('ext', ['.png', '.tif'])
def test_16bit_target_with_8bit_photos_is_refused_before_training(
        tmp_path, image_folders, ext, train_in_process):
    target = write_16bit_folder(tmp_path / 'cells16', 4, ext=ext)
    cfg = train_in_process.config((target, image_folders[1]),
                                  view=UNCHANGED_16BIT_VIEW.format(scale=''),
                                  aux_view=PHOTO_VIEW)
    work = tmp_path / 'work'
    with pytest.raises(
            ConfigError,
            match=
        (r'the first training sample: CrossDomainMixup: the target image '
         r'is uint16 \(values up to \d{5}\)(?s:.*)' +
         re.escape("Add dict(type='ScaleToUint8', bit_depth=16) right after "
                   'LoadImageFromFile in the target pipeline'))):
        train_in_process(cfg, work)
    assert not work.exists()  # refused by the pre-flight: nothing written


def test_16bit_targets_scaled_to_8bit_train_with_a_normal_loss(
        tmp_path, image_folders, train_in_process):
    target = write_16bit_folder(tmp_path / 'cells16', 4)
    scaled = "dict(type='ScaleToUint8', bit_depth=16), "
    cfg = train_in_process.config(
        (target, image_folders[1]),
        view=UNCHANGED_16BIT_VIEW.format(scale=scaled),
        aux_view=PHOTO_VIEW)
    runner = train_in_process(cfg, tmp_path / 'work')
    assert iters_of(tmp_path / 'work') == 1
    loss_rec = runner.message_hub.get_scalar('train/loss_rec').current()
    # unscaled, the reported run logged 367,803; 8-bit runs log about 1
    assert 0 < loss_rec < 10


def test_a_16bit_image_among_8bit_ones_is_refused_when_mixed(
        tmp_path, train_in_process):
    # the first sample (the pre-flight's) is 8-bit; a later one is not
    target = write_16bit_folder(tmp_path / 'mixed', 4)
    cv2.imwrite(
        str(tmp_path / 'mixed' / '000.png'), np.zeros((40, 48, 3), np.uint8))
    aux = write_image_folder(tmp_path / 'aux', 2, classes=('x', ))
    cfg = train_in_process.config((target, aux),
                                  view=UNCHANGED_16BIT_VIEW.format(scale=''),
                                  aux_view=PHOTO_VIEW)
    work = tmp_path / 'work'
    with pytest.raises(ImageContractError, match='target image is uint16'):
        train_in_process(cfg, work)
    assert not work.exists()  # failed in iteration 1: cleaned up
