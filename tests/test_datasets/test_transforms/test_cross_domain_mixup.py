"""CrossDomainMixup: pairing each target with an auxiliary image and its λ,
the auxiliary labels of labelled pools (MixSSL's R+A objective), and bad
input: unreadable auxiliary images, a fixed λ, gray/colour pairs
(docs/reliability.md). Training runs through the tool:
test_cross_domain_mixup_training.py."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate
from mmpretrain.registry import TRANSFORMS

from mixssl_mm.datasets.photo_pool import load_photo
from tests._helpers.models import MIXSSL_R18, build_model

RESIZE = [dict(type='Resize', scale=(32, 32))]
FOLDER = 'folder'  # the default aux_pipeline: read the file, resize


def mixup(aux, aux_pipeline=FOLDER, size=32, load=None, **kwargs):
    """CrossDomainMixup over ``aux``; by default its images are read from
    disk (``LoadImageFromFile(**load)``) and resized to ``size``."""
    if aux_pipeline == FOLDER:
        aux_pipeline = [
            dict(type='LoadImageFromFile', **(load or {})),
            dict(type='Resize', scale=(size, size))
        ]
    return TRANSFORMS.build(
        dict(
            type='CrossDomainMixup',
            aux_dataset=aux,
            aux_pipeline=aux_pipeline,
            **kwargs))


def rgb():
    return np.random.randint(0, 256, (32, 32, 3), dtype=np.uint8)


def target():
    return dict(img=np.zeros((32, 32, 3), np.uint8))


# -- pairing and λ ------------------------------------------------------------
def test_pairs_target_with_an_auxiliary_image(image_folders):
    _, aux_dir = image_folders
    t = mixup(aux_dir)
    x_t = np.random.randint(0, 256, (32, 32, 3), dtype=np.uint8)
    out = t(dict(img=x_t.copy()))
    assert isinstance(out['img'], list) and len(out['img']) == 2
    np.testing.assert_array_equal(out['img'][0], x_t)  # clean target kept
    # the auxiliary view is one of the folder's images, resized
    candidates = [
        cv2.resize(
            cv2.imread(osp.join(aux_dir, 'x', f'{i:03d}.jpg')), (32, 32),
            interpolation=cv2.INTER_LINEAR) for i in range(5)
    ]
    assert any(np.array_equal(out['img'][1], c) for c in candidates)
    # it only pairs: λ is the model's
    assert not {'mix_alpha', 'mix_lam'} & set(out)


def test_auxiliary_sampling_covers_the_pool(image_folders):
    _, aux_dir = image_folders
    t = mixup(aux_dir)
    np.random.seed(0)
    seen = {
        t(dict(img=np.zeros((32, 32, 3), np.uint8)))['img'][1].tobytes()
        for _ in range(60)
    }
    assert len(seen) == 5


def test_gray_target_becomes_three_channels(image_folders):
    _, aux_dir = image_folders
    out = mixup(aux_dir)(dict(img=np.full((32, 32), 7, np.uint8)))
    assert out['img'][0].shape == (32, 32, 3)
    assert (out['img'][0] == 7).all()


def test_aux_label_is_passed_on(image_folders):
    target_dir, _ = image_folders
    t = mixup(dict(type='CustomDataset', data_root=target_dir))
    out = t(dict(img=np.zeros((32, 32, 3), np.uint8)))
    assert out['aux_label'] in (0, 1)


@pytest.mark.parametrize('key, value', [('alpha', 1.0), ('lam_mode', 'sample'),
                                        ('fixed_lam', 0.5)])
def test_lambda_arguments_name_their_new_place(image_folders, key, value):
    """Configs written for the pipeline's λ get the model key to use."""
    with pytest.raises(
            TypeError,
            match=f'only pairs images(?s:.*)Move '
            f'{key}={value!r} to model.{key}'):
        mixup(image_folders[1], **{key: value})
    with pytest.raises(
            TypeError, match=r"unexpected keyword argument\(s\) "
            r"\['beta'\]"):
        mixup(image_folders[1], beta=1.0)


def test_missing_and_empty_auxiliary_folder(tmp_path):
    with pytest.raises(ValueError, match='auxiliary dataset.*missing_dir'):
        mixup(str(tmp_path / 'missing_dir'))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='auxiliary dataset'):
        mixup(str(tmp_path / 'empty'))
    with pytest.raises(ValueError, match='aux_dataset is missing'):
        mixup(None)


def test_auxiliary_dataset_errors_are_explained_as_the_entry_points_do(
        image_folders, tmp_path):
    # issue 22, kind 5: a misspelt key of the auxiliary dataset got Python's
    # TypeError; it now gets the pre-flight's explanation (one catalogue)
    from mixssl_mm.preflight import ConfigError
    _, aux_dir = image_folders
    with pytest.raises(ConfigError) as info:
        mixup(dict(type='CustomDataset', data_root=aux_dir, with_lable=True))
    msg = str(info.value)
    assert msg.startswith('CrossDomainMixup: could not build the auxiliary '
                          f'dataset {aux_dir!r}: ')
    assert "CrossDomainMixup.aux_dataset (type='CustomDataset') has a key " \
           "CustomDataset does not take: 'with_lable'. Did you mean " \
           "'with_label'?" in msg
    assert isinstance(info.value.__cause__, TypeError)  # the original
    # a missing folder: where to point, without a --cfg-options path that
    # a transform's key is not
    with pytest.raises(ConfigError) as info:
        mixup(dict(type='CustomDataset', data_root=str(tmp_path / 'gone')))
    msg = str(info.value)
    assert 'Point CrossDomainMixup.aux_dataset.data_root' in msg
    assert '--cfg-options' not in msg
    assert "or use dict(type='NaturalPhotoPool')" in msg


def test_size_mismatch_is_named(image_folders):
    t = mixup(image_folders[1], size=48)
    with pytest.raises(ValueError, match='same final size'):
        t(dict(img=np.zeros((32, 32, 3), np.uint8)))


# -- auxiliary labels ---------------------------------------------------------
def test_photo_pool_labels_are_the_source_photos():
    photos = ['coins', 'astronaut', 'chelsea']
    t = mixup(
        dict(
            type='NaturalPhotoPool',
            photos=photos,
            length=30,
            with_label=True,
            pipeline=RESIZE),
        aux_pipeline=None)
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
            cv2.imwrite(
                str(d / f'{i}.png'), np.full((40, 48, 3), colour, np.uint8))
    return str(root)


def test_folder_pool_is_labelled_by_sub_folder(tmp_path):
    colours = (20, 120, 220)
    root = write_class_folders(tmp_path / 'aux', colours)
    t = mixup(root)
    assert t.aux_num_classes == 3
    np.random.seed(0)
    seen = set()
    for _ in range(20):
        out = t(target())
        assert (out['img'][1] == colours[out['aux_label']]).all()
        seen.add(out['aux_label'])
    assert seen == {0, 1, 2}
    pack = TRANSFORMS.build(
        dict(type='PackInputs', algorithm_keys=list(t.PACK_KEYS)))
    sample = pack(t(target()))['data_samples']
    assert sample.aux_label in (0, 1, 2) and sample.aux_num_classes == 3


def test_unlabelled_pools_add_no_label(tmp_path):
    t = mixup(
        dict(type='NaturalPhotoPool', length=4, pipeline=RESIZE),
        aux_pipeline=None)
    assert t.aux_num_classes is None
    out = t(target())
    assert 'aux_label' not in out and 'aux_num_classes' not in out
    # a folder with images at its top level is not a class layout
    root = tmp_path / 'flat'
    root.mkdir()
    cv2.imwrite(str(root / 'top.png'), np.zeros((40, 40, 3), np.uint8))
    os.makedirs(root / 'more')
    cv2.imwrite(str(root / 'more' / 'x.png'), np.zeros((40, 40, 3), np.uint8))
    t = mixup(str(root))
    assert t.aux_num_classes is None and len(t.aux_dataset) == 2
    assert 'aux_label' not in t(target())
    # an explicitly unlabelled CustomDataset stays unlabelled
    t = mixup(
        dict(
            type='CustomDataset',
            data_root=write_class_folders(tmp_path / 'classes', (1, 2)),
            with_label=False))
    assert t.aux_num_classes is None and 'aux_label' not in t(target())


def test_labels_draw_nothing_the_unlabelled_pool_would_not():
    # the main config labels its pool for R+A; R+T must see the same images
    outs = []
    for with_label in (False, True):
        t = mixup(
            dict(
                type='NaturalPhotoPool',
                length=50,
                with_label=with_label,
                pipeline=[dict(type='RandomResizedCrop', scale=32)]),
            aux_pipeline=None)
        np.random.seed(7)
        outs.append([t(target()) for _ in range(5)])
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a['img'][1], b['img'][1])


def test_bad_labels_are_named(tmp_path):
    ann = tmp_path / 'ann.txt'
    root = write_class_folders(tmp_path / 'aux', (10, 90))
    ann.write_text('class_0/0.png 0\nclass_1/0.png 5\n')
    t = mixup(
        dict(
            type='CustomDataset',
            data_root=root,
            ann_file=str(ann),
            metainfo=dict(classes=('a', 'b'))))
    assert t.aux_num_classes == 2
    with pytest.raises(
            ValueError, match=r"label 5 lies outside the pool's 2 "
            'classes'):
        for _ in range(50):
            t(target())


def test_labels_reach_the_model_through_the_pipeline():
    """Pool -> CrossDomainMixup -> PackInputs -> MixSSLAux: the
    class count check passes for a matching head and names the fix for a
    wrong one."""
    pipeline = [
        mixup(
            dict(
                type='NaturalPhotoPool',
                photos=['coins', 'rocket'],
                length=8,
                with_label=True,
                pipeline=RESIZE),
            aux_pipeline=None),
        TRANSFORMS.build(
            dict(
                type='PackInputs',
                algorithm_keys=['aux_label', 'aux_num_classes'])),
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
        return build_model(
            MIXSSL_R18,
            type='MixSSLAux',
            use_trans=False,
            aux_head=dict(
                type='LinearClsHead',
                num_classes=num_classes,
                in_channels=512,
                loss=dict(type='CrossEntropyLoss')),
            data_preprocessor=dict(
                type='SelfSupDataPreprocessor',
                mean=[0, 0, 0],
                std=[255, 255, 255]))

    good = model(2)
    data = good.data_preprocessor(batch(), True)
    losses = good(**data, mode='loss')
    assert torch.isfinite(losses['loss_aux'])
    with pytest.raises(ValueError, match='num_classes=2'):
        model(5)(**data, mode='loss')


# -- bad input ----------------------------------------------------------------
def test_unreadable_auxiliary_files_are_named_when_built(image_folders):
    _, aux = image_folders
    empty = osp.join(aux, 'x', '001.jpg')
    open(empty, 'wb').close()
    text = osp.join(aux, 'x', '004.jpg')
    with open(text, 'w') as f:
        f.write('not an image')
    with pytest.raises(
            ValueError,
            match=r'2 auxiliary image file\(s\) '
            r'cannot be read(?s:.*)001.jpg(?s:.*)004.jpg'
            r'(?s:.*)skip_corrupt=True'):
        mixup(aux)
    with pytest.warns(UserWarning, match=r'skipping 2 unreadable'):
        t = mixup(aux, skip_corrupt=True)
    np.random.seed(0)
    seen = {t(dict(img=rgb()))['img'][1].tobytes() for _ in range(40)}
    assert len(seen) == 3  # the three readable images, nothing else


def test_a_file_that_breaks_during_training_is_named_or_skipped(image_folders):
    _, aux = image_folders
    strict, lenient = mixup(aux), mixup(aux, skip_corrupt=True)
    gone = osp.join(aux, 'x', '002.jpg')
    os.remove(gone)  # e.g. a network share that lost it mid-run
    np.random.seed(0)
    with pytest.raises(
            ValueError,
            match=f'auxiliary image {gone} cannot be '
            r'read \(file not found(?s:.*)skip_corrupt=True'):
        for _ in range(40):
            strict(dict(img=rgb()))
    np.random.seed(0)
    with pytest.warns(
            UserWarning, match='skipping unreadable auxiliary '
            f'image {gone}'):
        for _ in range(40):
            assert lenient(dict(img=rgb()))['img'][1].shape == (32, 32, 3)
    assert len(lenient._aux_indices) == 4


def test_gray_auxiliary_with_colour_target(image_folders):
    _, aux = image_folders
    t = mixup(aux, load=dict(color_type='grayscale'))
    x_t = rgb()
    x_t_out, x_a = t(dict(img=x_t.copy()))['img']
    np.testing.assert_array_equal(x_t_out, x_t)  # colour kept
    assert x_a.shape == (32, 32, 3)
    assert (x_a[..., 0] == x_a[..., 1]).all() and (x_a[..., 1]
                                                   == x_a[..., 2]).all()
