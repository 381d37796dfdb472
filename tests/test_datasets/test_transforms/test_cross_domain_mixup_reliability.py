"""CrossDomainMixup on bad input: unreadable auxiliary images, a fixed λ,
gray/colour pairs (docs/reliability.md)."""
import os
import os.path as osp

import numpy as np
import pytest
import torch

from mmpretrain.registry import MODELS, TRANSFORMS
from mmpretrain.structures import DataSample


def mixup(aux, **kwargs):
    return TRANSFORMS.build(
        dict(type='CrossDomainMixup', aux_dataset=aux,
             aux_pipeline=[dict(type='LoadImageFromFile', **kwargs.pop(
                 'load', {})), dict(type='Resize', scale=(32, 32))],
             **kwargs))


def rgb():
    return np.random.randint(0, 256, (32, 32, 3), dtype=np.uint8)


def test_unreadable_auxiliary_files_are_named_when_built(image_folders):
    _, aux = image_folders
    empty = osp.join(aux, 'x', '001.jpg')
    open(empty, 'wb').close()
    text = osp.join(aux, 'x', '004.jpg')
    with open(text, 'w') as f:
        f.write('not an image')
    with pytest.raises(ValueError, match=r'2 auxiliary image file\(s\) '
                       r'cannot be read(?s:.*)001.jpg(?s:.*)004.jpg'
                       r'(?s:.*)skip_corrupt=True'):
        mixup(aux)
    with pytest.warns(UserWarning, match=r'skipping 2 unreadable'):
        t = mixup(aux, skip_corrupt=True)
    np.random.seed(0)
    seen = {t(dict(img=rgb()))['img'][1].tobytes() for _ in range(40)}
    assert len(seen) == 3  # the three readable images, nothing else


def test_a_file_that_breaks_during_training_is_named_or_skipped(
        image_folders):
    _, aux = image_folders
    strict, lenient = mixup(aux), mixup(aux, skip_corrupt=True)
    gone = osp.join(aux, 'x', '002.jpg')
    os.remove(gone)  # e.g. a network share that lost it mid-run
    np.random.seed(0)
    with pytest.raises(ValueError, match=f'auxiliary image {gone} cannot be '
                       r'read \(file not found(?s:.*)skip_corrupt=True'):
        for _ in range(40):
            strict(dict(img=rgb()))
    np.random.seed(0)
    with pytest.warns(UserWarning, match='skipping unreadable auxiliary '
                      f'image {gone}'):
        for _ in range(40):
            assert lenient(dict(img=rgb()))['img'][1].shape == (32, 32, 3)
    assert len(lenient._aux_indices) == 4


def test_fixed_lambda_is_validated_and_carried(image_folders):
    _, aux = image_folders
    for bad in (-0.01, 1.01, float('nan'), 'half', True):
        with pytest.raises(ValueError, match=r'fixed_lam must be a number '
                           r'in \[0, 1\]'):
            mixup(aux, fixed_lam=bad)
    t = mixup(aux, fixed_lam=0.25, lam_mode='sample')
    assert all(t(dict(img=rgb()))['mix_lam'] == 0.25 for _ in range(5))
    assert mixup(aux, fixed_lam=1)(dict(img=rgb()))['mix_lam'] == 1.0


def test_model_uses_the_fixed_lambda_and_refuses_one_out_of_range():
    model = MODELS.build(dict(
        type='MixSSL',
        backbone=dict(type='ResNet', depth=18, stem_channels=16,
                      base_channels=16),
        neck=dict(type='ResnetGenerator', in_channels=128, n_blocks=0,
                  res_channels=32, ngf=16),
        head=dict(type='TransparencyHead', in_channels=128)))
    samples = [DataSample(metainfo=dict(mix_alpha=1.0, mix_lam=0.25))
               for _ in range(3)]
    lam = model.sample_lam(samples, 3, torch.device('cpu'))
    assert lam.tolist() == [0.25] * 3
    samples[1].set_metainfo(dict(mix_lam=1.5))
    with pytest.raises(ValueError, match=r'mix_lam must lie in \[0, 1\]'):
        model.sample_lam(samples, 3, torch.device('cpu'))


def test_gray_auxiliary_with_colour_target(image_folders):
    _, aux = image_folders
    t = mixup(aux, load=dict(color_type='grayscale'))
    x_t = rgb()
    x_t_out, x_a = t(dict(img=x_t.copy()))['img']
    np.testing.assert_array_equal(x_t_out, x_t)  # colour kept
    assert x_a.shape == (32, 32, 3)
    assert (x_a[..., 0] == x_a[..., 1]).all() and (x_a[..., 1]
                                                   == x_a[..., 2]).all()
