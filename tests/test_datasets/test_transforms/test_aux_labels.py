"""Auxiliary labels (MixSSL's R+A objective): the pool labels each image,
CrossDomainMixup carries the label and the pool's class count into the
data sample, and unlabelled pools add nothing."""
import os

import cv2
import numpy as np
import pytest
import torch

from mmpretrain.registry import TRANSFORMS
from mixssl_mm.datasets.photo_pool import load_photo

RESIZE = [dict(type='Resize', scale=(32, 32))]


def mixup(aux_dataset, aux_pipeline=None, **kwargs):
    return TRANSFORMS.build(
        dict(type='CrossDomainMixup', aux_dataset=aux_dataset,
             aux_pipeline=aux_pipeline, **kwargs))


def target():
    return dict(img=np.zeros((32, 32, 3), np.uint8))


def test_photo_pool_labels_are_the_source_photos():
    photos = ['coins', 'astronaut', 'chelsea']
    t = mixup(dict(type='NaturalPhotoPool', photos=photos, length=30,
                   with_label=True, pipeline=RESIZE))
    assert t.aux_num_classes == 3
    # the expected auxiliary image of each label: the photo, resized
    resize = TRANSFORMS.build(RESIZE[0])
    expected = [resize(dict(img=load_photo(p).copy()))['img'] for p in photos]
    np.random.seed(0)
    seen = set()
    for _ in range(20):
        out = t(target())
        label = out['aux_label']
        assert isinstance(label, int) and out['aux_num_classes'] == 3
        np.testing.assert_array_equal(out['img'][1], expected[label])
        seen.add(label)
    assert seen == {0, 1, 2}


def write_class_folders(root, colours):
    """One class sub-folder per colour, images filled with that colour."""
    for k, colour in enumerate(colours):
        d = root / f'class_{k}'
        d.mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(d / f'{i}.png'),
                        np.full((40, 48, 3), colour, np.uint8))
    return str(root)


def test_folder_pool_is_labelled_by_sub_folder(tmp_path):
    colours = (20, 120, 220)
    root = write_class_folders(tmp_path / 'aux', colours)
    t = mixup(root, [dict(type='LoadImageFromFile'), *RESIZE])
    assert t.aux_num_classes == 3
    np.random.seed(0)
    seen = set()
    for _ in range(20):
        out = t(target())
        assert (out['img'][1] == colours[out['aux_label']]).all()
        seen.add(out['aux_label'])
    assert seen == {0, 1, 2}
    pack = TRANSFORMS.build(
        dict(type='PackInputs', algorithm_keys=['mix_alpha', 'mix_lam',
                                                'aux_label',
                                                'aux_num_classes']))
    sample = pack(t(target()))['data_samples']
    assert sample.aux_label in (0, 1, 2) and sample.aux_num_classes == 3


def test_unlabelled_pools_add_no_label(tmp_path):
    t = mixup(dict(type='NaturalPhotoPool', length=4, pipeline=RESIZE))
    assert t.aux_num_classes is None
    out = t(target())
    assert 'aux_label' not in out and 'aux_num_classes' not in out
    # a folder with images at its top level is not a class layout
    root = tmp_path / 'flat'
    root.mkdir()
    cv2.imwrite(str(root / 'top.png'), np.zeros((40, 40, 3), np.uint8))
    os.makedirs(root / 'more')
    cv2.imwrite(str(root / 'more' / 'x.png'), np.zeros((40, 40, 3), np.uint8))
    t = mixup(str(root), [dict(type='LoadImageFromFile'), *RESIZE])
    assert t.aux_num_classes is None and len(t.aux_dataset) == 2
    assert 'aux_label' not in t(target())
    # an explicitly unlabelled CustomDataset stays unlabelled
    t = mixup(dict(type='CustomDataset', data_root=write_class_folders(
        tmp_path / 'classes', (1, 2)), with_label=False),
              [dict(type='LoadImageFromFile'), *RESIZE])
    assert t.aux_num_classes is None and 'aux_label' not in t(target())


def test_labels_draw_nothing_the_unlabelled_pool_would_not():
    # the main config labels its pool for R+A; R+T must see the same images
    outs = []
    for with_label in (False, True):
        t = mixup(dict(type='NaturalPhotoPool', length=50,
                       with_label=with_label,
                       pipeline=[dict(type='RandomResizedCrop', scale=32)]),
                  alpha=0.5, lam_mode='sample')
        np.random.seed(7)
        outs.append([t(target()) for _ in range(5)])
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a['img'][1], b['img'][1])
        assert a['mix_lam'] == b['mix_lam']


def test_bad_labels_are_named(tmp_path):
    ann = tmp_path / 'ann.txt'
    root = write_class_folders(tmp_path / 'aux', (10, 90))
    ann.write_text('class_0/0.png 0\nclass_1/0.png 5\n')
    t = mixup(dict(type='CustomDataset', data_root=root, ann_file=str(ann),
                   metainfo=dict(classes=('a', 'b'))),
              [dict(type='LoadImageFromFile'), *RESIZE])
    assert t.aux_num_classes == 2
    with pytest.raises(ValueError, match=r"label 5 lies outside the pool's 2 "
                       'classes'):
        for _ in range(50):
            t(target())


def test_labels_reach_the_model_through_the_pipeline():
    """Pool -> CrossDomainMixup -> PackInputs -> MixSSL(use_aux): the
    class count check passes for a matching head and names the fix for a
    wrong one."""
    from mmengine.dataset import default_collate

    from mmpretrain.registry import MODELS
    pipeline = [
        mixup(dict(type='NaturalPhotoPool', photos=['coins', 'rocket'],
                   length=8, with_label=True, pipeline=RESIZE)),
        TRANSFORMS.build(dict(type='PackInputs', algorithm_keys=[
            'mix_alpha', 'mix_lam', 'aux_label', 'aux_num_classes'])),
    ]

    def batch():
        items = []
        for _ in range(2):
            r = target()
            for t in pipeline:
                r = t(r)
            items.append(r)
        return default_collate(items)

    def model(num_classes):
        return MODELS.build(dict(
            type='MixSSL', backbone=dict(type='ResNet', depth=18),
            neck=dict(type='ResnetGenerator', in_channels=512, n_blocks=1),
            head=dict(type='TransparencyHead', in_channels=512),
            use_trans=False, use_aux=True,
            aux_head=dict(type='LinearClsHead', num_classes=num_classes,
                          in_channels=512, loss=dict(type='CrossEntropyLoss')),
            data_preprocessor=dict(type='SelfSupDataPreprocessor',
                                   mean=[0, 0, 0], std=[255, 255, 255])))

    good = model(2)
    data = good.data_preprocessor(batch(), True)
    losses = good(**data, mode='loss')
    assert torch.isfinite(losses['loss_aux'])
    with pytest.raises(ValueError, match='num_classes=2'):
        model(5)(**data, mode='loss')
