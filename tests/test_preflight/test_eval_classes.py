"""mixssl_mm.preflight.eval_classes (issue 22, kind 4): an evaluation split
whose class folders are not the training classes, or not the model's
num_classes, is refused before any work by tools/test.py (and so
dist_test.sh and the benchmark's test stages) and by a training run that
validates; a class without a sample is named, not refused."""
import shutil

import pytest
import torch

from mixssl_mm.preflight import ConfigError
from mixssl_mm.preflight.eval_classes import check_split_classes
from tests._helpers.dist_launch import write_backbone_checkpoint
from tests._helpers.image_folders import write_split_folders
from tests._helpers.training import classifier_config, mmpretrain_tool

CLASSES = ('a', 'b', 'c')
TEST_SPLIT = """
test_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root='{root}/test',
                 pipeline=pipeline))
test_evaluator = dict(type='Accuracy', topk=(1, ))
test_cfg = dict()
"""
VAL_SPLIT = TEST_SPLIT.replace('test_', 'val_').replace('/test', '/val')


def _config(trainer, tmp_path, extra, splits):
    root = write_split_folders(
        tmp_path / 'data', CLASSES, dict(train=2, **splits), size=16)
    ckpt = write_backbone_checkpoint(tmp_path / 'pretrain.pth')
    text = classifier_config(
        f'{root}/train', ckpt, extra=extra.format(root=root))
    return trainer.write(text.replace('num_classes=2', 'num_classes=3')), root


def test_a_test_split_missing_a_class_folder_is_refused_before_testing(
        tmp_path, train_in_process):
    # the reported case (mmpretrain#174): label ids of c shifted, or
    # "dataset_meta has 2 classes but the predictions have 3" after the pass
    cfg, root = _config(train_in_process, tmp_path, TEST_SPLIT, dict(test=2))
    shutil.rmtree(f'{root}/test/b')
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': {}}, ckpt)
    work = tmp_path / 'work'
    with pytest.raises(ConfigError) as info:
        train_in_process.test(cfg, ckpt, work)
    msg = str(info.value)
    assert 'has the classes a, c, not the training classes a, b, c' in msg
    assert 'missing (training classes without a folder here): b' in msg
    assert 'Create the missing class folder(s)' in msg
    assert not work.exists()


def test_a_validation_split_with_an_extra_class_is_refused_before_training(
        tmp_path, train_in_process):
    cfg, root = _config(train_in_process, tmp_path, VAL_SPLIT, dict(val=2))
    shutil.copytree(f'{root}/val/c', f'{root}/val/d')
    work = tmp_path / 'work'
    with pytest.raises(
            ConfigError,
            match='extra \\(folders here the training split has '
            'not\\): d'):
        train_in_process(cfg, work)
    assert not work.exists()


def test_a_split_with_other_num_classes_than_the_model_is_refused(tmp_path):
    from mmpretrain.datasets import CustomDataset
    root = write_split_folders(
        tmp_path / 'data', CLASSES, dict(test=1), size=8)
    dataset = CustomDataset(data_root=f'{root}/test', pipeline=[])
    with pytest.raises(
            ConfigError,
            match="has 3 classes \\(a, b, c\\) but "
            "the model's head has num_classes=2"):
        check_split_classes(dataset, 'test_dataloader.dataset', 2)


def test_a_class_without_a_sample_is_named_not_refused(tmp_path):
    from mmpretrain.datasets import CustomDataset
    root = write_split_folders(tmp_path / 'data', CLASSES, dict(val=1), size=8)
    for f in (tmp_path / 'data' / 'val' / 'b').iterdir():
        f.unlink()
    dataset = CustomDataset(data_root=f'{root}/val', pipeline=[])
    said = []
    check_split_classes(dataset, 'val_dataloader.dataset', 3, CLASSES,
                        said.append)
    assert len(said) == 1 and 'no sample of the class(es) b' in said[0]


def test_mmpretrain_own_test_py_refuses_a_split_the_model_cannot_score(
        tmp_path):
    """Through the opt-in (``python -m mixssl_mm.apis.mmpretrain_tool
    test``), mmpretrain's own test.py refuses, before any work, a test split
    of 3 classes for a head of num_classes=2, as tools/test.py does."""
    root = write_split_folders(
        tmp_path / 'data', CLASSES, dict(train=1, test=1), size=16)
    ckpt = write_backbone_checkpoint(tmp_path / 'pretrain.pth')
    cfg = tmp_path / 'finetune.py'
    cfg.write_text(
        classifier_config(
            f'{root}/train', ckpt, extra=TEST_SPLIT.format(root=root)))
    model = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': {}}, model)
    work = tmp_path / 'work'
    out = mmpretrain_tool(
        'test', str(cfg), str(model), '--work-dir', str(work), cwd=tmp_path)
    assert out.returncode != 0
    assert f'test_dataloader.dataset ({root}/test' in out.stderr, \
        out.stderr[-3000:]
    assert ("has 3 classes (a, b, c) but the model's head has "
            'num_classes=2') in out.stderr
    assert not work.exists()
