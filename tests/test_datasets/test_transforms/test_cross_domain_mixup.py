import os.path as osp

import cv2
import numpy as np
import pytest
from scipy import stats

from mmpretrain.registry import TRANSFORMS


def mixup(aux, size=32, **kwargs):
    return TRANSFORMS.build(
        dict(
            type='CrossDomainMixup',
            aux_dataset=aux,
            aux_pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='Resize', scale=(size, size))
            ],
            **kwargs))


def test_pairs_target_with_an_auxiliary_image(image_folders):
    _, aux_dir = image_folders
    t = mixup(aux_dir)
    x_t = np.random.randint(0, 256, (32, 32, 3), dtype=np.uint8)
    out = t(dict(img=x_t.copy()))
    assert isinstance(out['img'], list) and len(out['img']) == 2
    np.testing.assert_array_equal(out['img'][0], x_t)  # clean target kept
    # the auxiliary view is one of the folder's images, resized
    candidates = [
        cv2.resize(cv2.imread(osp.join(aux_dir, 'x', f'{i:03d}.jpg')),
                   (32, 32), interpolation=cv2.INTER_LINEAR)
        for i in range(5)
    ]
    assert any(np.array_equal(out['img'][1], c) for c in candidates)
    assert out['mix_alpha'] == 1.0 and 'mix_lam' not in out


def test_auxiliary_sampling_covers_the_pool(image_folders):
    _, aux_dir = image_folders
    t = mixup(aux_dir)
    np.random.seed(0)
    seen = {t(dict(img=np.zeros((32, 32, 3), np.uint8)))['img'][1].tobytes()
            for _ in range(60)}
    assert len(seen) == 5


def test_per_sample_lambda_follows_beta(image_folders):
    _, aux_dir = image_folders
    t = mixup(aux_dir, alpha=0.4, lam_mode='sample')
    np.random.seed(0)
    lams = [t(dict(img=np.zeros((32, 32, 3), np.uint8)))['mix_lam']
            for _ in range(1500)]
    assert stats.kstest(lams, 'beta', args=(0.4, 0.4)).pvalue > 1e-3
    assert stats.kstest(lams, 'uniform').pvalue < 1e-3


def test_gray_target_becomes_three_channels(image_folders):
    _, aux_dir = image_folders
    out = mixup(aux_dir)(dict(img=np.full((32, 32), 7, np.uint8)))
    assert out['img'][0].shape == (32, 32, 3)
    assert (out['img'][0] == 7).all()


def test_aux_label_is_passed_on(image_folders):
    target_dir, _ = image_folders
    t = TRANSFORMS.build(
        dict(
            type='CrossDomainMixup',
            aux_dataset=dict(type='CustomDataset', data_root=target_dir),
            aux_pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='Resize', scale=(32, 32))
            ]))
    out = t(dict(img=np.zeros((32, 32, 3), np.uint8)))
    assert out['aux_label'] in (0, 1)


@pytest.mark.parametrize('alpha', [0, -1.0, 'one', float('nan'), True])
def test_bad_alpha(image_folders, alpha):
    with pytest.raises(ValueError, match='alpha must be a finite number > 0'):
        mixup(image_folders[1], alpha=alpha)


def test_bad_lam_mode(image_folders):
    with pytest.raises(ValueError, match='lam_mode'):
        mixup(image_folders[1], lam_mode='epoch')


def test_missing_and_empty_auxiliary_folder(tmp_path):
    with pytest.raises(ValueError, match='auxiliary dataset.*missing_dir'):
        mixup(str(tmp_path / 'missing_dir'))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='auxiliary dataset'):
        mixup(str(tmp_path / 'empty'))
    with pytest.raises(ValueError, match='aux_dataset is missing'):
        mixup(None)


def test_size_mismatch_is_named(image_folders):
    t = mixup(image_folders[1], size=48)
    with pytest.raises(ValueError, match='same final size'):
        t(dict(img=np.zeros((32, 32, 3), np.uint8)))
