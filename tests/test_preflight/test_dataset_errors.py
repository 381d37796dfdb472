"""mixssl_mm.preflight.dataset_errors (issue 22, kind 5): dataset errors of
mmpretrain/mmengine with a known cause are re-raised with the cause and the
fix, for every dataset config the entry points build (the catalogue is in
docs/reliability.md)."""
import pytest

from mixssl_mm.preflight import ConfigError, build_dataset
from tests._helpers.dist_launch import TINY_NPZ, write_tiny_medmnist
from tests.conftest import write_image_folder

PATHS_ONLY = """dict(
        type='CustomDataset', data_root='{root}', ann_file='list.txt',
        pipeline=[*view, dict(type='CrossDomainMixup', aux_dataset='{aux}',
                              aux_pipeline=aux_view), pack])"""


def test_paths_without_labels_name_with_label_false(tmp_path,
                                                    train_in_process):
    # the reported case (mmselfsup#745): ValueError: not enough values to
    # unpack (expected 2, got 1) from mmpretrain's custom.py
    root = write_image_folder(tmp_path / 'target', 4, seed=1)
    aux = write_image_folder(tmp_path / 'aux', 3, classes=('x', ), seed=2)
    (tmp_path / 'target' /
     'list.txt').write_text('a/000.jpg\nb/001.jpg\na/002.jpg\nb/003.jpg\n')
    cfg = train_in_process.config(
        (root, aux), dataset=PATHS_ONLY.format(root=root, aux=aux))
    work = tmp_path / 'work'
    with pytest.raises(ConfigError) as info:
        train_in_process(cfg, work)
    msg = str(info.value)
    assert "the annotation file 'list.txt' lists image paths without " \
           'labels' in msg
    assert 'set train_dataloader.dataset.with_label=False' in msg
    assert 'not enough values to unpack' in msg  # the original, quoted
    assert not work.exists()
    # with the fix it trains
    train_in_process(cfg, work, '--cfg-options',
                     'train_dataloader.dataset.with_label=False')
    assert (work / 'epoch_1.pth').exists()


def test_a_misspelt_key_names_the_closest_valid_one(tmp_path):
    root = write_tiny_medmnist(tmp_path / 'npz', n=(8, 8, 8))
    with pytest.raises(ConfigError) as info:
        build_dataset(
            dict(
                type='MedMNIST',
                data_root=root,
                ann_file=TINY_NPZ,
                split='test',
                class_subset=[0, 1]), 'test_dataloader.dataset')
    msg = str(info.value)
    assert "a key MedMNIST does not take: 'class_subset'. Did you mean " \
           "'classes_subset'?" in msg
    # keys of the base classes count (mmengine's BaseDataset)
    with pytest.raises(ConfigError, match="Did you mean 'serialize_data'"):
        build_dataset(
            dict(type='CustomDataset', data_root=root, serialise_data=False),
            'val_dataloader.dataset')


def test_a_misspelt_key_of_the_test_split_is_explained_by_test_py(
        tmp_path, train_in_process):
    from tests._helpers.dist_launch import write_backbone_checkpoint
    from tests._helpers.training import CLASSIFIER_EVAL, classifier_config
    root = write_image_folder(tmp_path / 'target', 4, seed=1)
    ckpt = write_backbone_checkpoint(tmp_path / 'pretrain.pth')
    cfg = train_in_process.write(
        classifier_config(
            root,
            ckpt,
            extra=CLASSIFIER_EVAL.replace(
                'test_dataloader = train_dataloader',
                'test_dataloader = dict(train_dataloader, dataset=dict('
                'train_dataloader["dataset"], with_labels=True))')))
    with pytest.raises(
            ConfigError, match="'with_labels'. Did you mean "
            "'with_label'"):
        train_in_process.test(cfg, ckpt, tmp_path / 'work')


@pytest.mark.parametrize('case,expected', [
    (dict(type='CustomDatset'), "Did you mean 'CustomDataset'"),
    (dict(type='CustomDataset',
          data_root='{tmp}/nothere'), 'nothere/ does not exist'),
    (dict(type='CustomDataset',
          data_root='{tmp}/empty'), 'no image file of a supported extension'),
    (dict(
        type='CustomDataset',
        data_root='{tmp}/target',
        classes=['a', 'b', 'c'
                 ]), 'names 3 classes, but the split has 2 class folders'),
])
def test_other_known_causes(tmp_path, case, expected):
    write_image_folder(tmp_path / 'target', 2)
    (tmp_path / 'empty' / 'a').mkdir(parents=True)
    case = {
        k: v.format(tmp=tmp_path) if isinstance(v, str) else v
        for k, v in case.items()
    }
    with pytest.raises(ConfigError, match=expected):
        build_dataset(case, 'train_dataloader.dataset')


def test_an_unknown_error_is_raised_as_it_is(tmp_path):
    root = write_image_folder(tmp_path / 'target', 2)
    with pytest.raises(TypeError, match="'int' object is not iterable"):
        build_dataset(
            dict(type='CustomDataset', data_root=root, extensions=5),
            'train_dataloader.dataset')
