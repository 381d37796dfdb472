"""mixssl_mm.preflight.dataset: unreadable target images are refused or,
with data_check.skip_corrupt, left out; a file named like an official
BloodMNIST file must have its md5."""
import os.path as osp
import re

import numpy as np
import pytest
from mmengine.config import Config

from mixssl_mm.preflight import (ConfigError, check_medmnist_md5,
                                 check_target_images)
from tests._helpers.training import corrupt, iters_of
from tests.conftest import write_image_folder

# BloodMNIST-style targets (in memory), the built-in photo pool as auxiliary
MEDMNIST = """dict(
        type='MedMNIST', data_root='{root}', ann_file='{name}',
        split='train', with_label=False,
        pipeline=[*view, dict(type='CrossDomainMixup', aux_dataset=dict(
            type='NaturalPhotoPool', pipeline=view)), pack])"""


def medmnist_config(trainer, root, name):
    return trainer.config((None, None),
                          view="[dict(type='Resize', "
                          "scale=(32, 32))]",
                          dataset=MEDMNIST.format(root=root, name=name))


def _folder_dataset(root):
    from mmpretrain.datasets import CustomDataset
    return CustomDataset(data_root=str(root), with_label=False, pipeline=[])


def test_target_images_checked_in_place(tmp_path):
    root = write_image_folder(tmp_path / 'target', 4)
    dataset = _folder_dataset(root)
    cfg = Config(dict())
    assert check_target_images(dataset, cfg) is dataset  # all readable
    bad = corrupt(osp.join(root, 'b', '001.jpg'), b'')
    with pytest.raises(ConfigError, match=re.escape(bad)):
        check_target_images(dataset, cfg)
    # data_check.images=False: not looked at
    assert check_target_images(
        dataset, Config(dict(data_check=dict(images=False)))) is dataset
    told = []
    subset = check_target_images(
        dataset,
        Config(dict(data_check=dict(skip_corrupt=True))),
        logger=told.append)
    assert len(subset) == 3 and 'leaving out 1 unreadable' in told[0]
    for name in ('000', '002', '003'):
        corrupt(osp.join(root, 'ab'[int(name) % 2], f'{name}.jpg'))
    with pytest.raises(ConfigError, match='none of the training images'):
        check_target_images(dataset,
                            Config(dict(data_check=dict(skip_corrupt=True))))


def test_unreadable_target_image_is_named_or_skipped(tmp_path, image_folders,
                                                     train_in_process):
    target, _ = image_folders
    write_image_folder(osp.join(target), 9, seed=3)  # 9 images: 3 batches
    bad = corrupt(osp.join(target, 'b', '005.jpg'))
    cfg = train_in_process.config(image_folders)
    work = tmp_path / 'work'
    with pytest.raises(
            ConfigError,
            match=re.escape(bad) + r'(?s:.*)data_check.skip_corrupt=True'):
        train_in_process(cfg, work)
    assert not work.exists()
    train_in_process(cfg, work, '--cfg-options',
                     'data_check.skip_corrupt=True')
    assert iters_of(work) == 2  # the 8 readable images


def test_md5_of_official_names_only(tmp_path):
    from mixssl_mm.datasets import MedMNIST
    images = np.zeros((8, 28, 28, 3), np.uint8)
    np.savez(
        tmp_path / 'cells.npz',
        train_images=images,
        train_labels=np.zeros((8, 1), np.uint8))
    own = MedMNIST(
        data_root=str(tmp_path),
        ann_file='cells.npz',
        split='train',
        pipeline=[])
    check_medmnist_md5(own)  # another name: the user's own data
    (tmp_path / 'bloodmnist_64.npz').write_bytes(
        (tmp_path / 'cells.npz').read_bytes())
    fake = MedMNIST(
        data_root=str(tmp_path),
        ann_file='bloodmnist_64.npz',
        split='train',
        pipeline=[])
    with pytest.raises(ConfigError, match='2b94928a2ae4916078ca51e05b6b800b'):
        check_medmnist_md5(fake)


def test_medmnist_file_with_missing_keys_or_wrong_md5(tmp_path,
                                                      train_in_process):
    root = tmp_path / 'medmnist'
    root.mkdir()
    images = np.zeros((8, 28, 28, 3), np.uint8)
    np.savez(root / 'cells.npz', val_images=images)
    work = tmp_path / 'work'
    with pytest.raises(KeyError, match=r"lacks \['train_images'\]"):
        train_in_process(
            medmnist_config(train_in_process, root, 'cells.npz'), work)
    assert not work.exists()
    # right keys, but not the official BloodMNIST content
    np.savez(
        root / 'bloodmnist.npz',
        train_images=images,
        train_labels=np.zeros((8, 1), np.uint8))
    with pytest.raises(
            ConfigError,
            match='not the official bloodmnist.npz'
            r'(?s:.*)fetch_bloodmnist.py'):
        train_in_process(
            medmnist_config(train_in_process, root, 'bloodmnist.npz'), work)
    assert not work.exists()
