"""mixssl_mm.preflight.evaluation: config parts the model cannot honour are
refused before any work (the reported case: a MixSSL config with val_* parts
used to train a whole epoch, save epoch_1.pth and only then die with
RuntimeError: Invalid mode "predict")."""
import os.path as osp

import pytest
from mmengine.config import Config

from mixssl_mm.preflight import ConfigError
from mixssl_mm.preflight.evaluation import check_evaluation_parts
from tests._helpers.training import REPO, classifier_config

# a labelled evaluation on the target folder, as a user would add it
_EVAL = """
{split}_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root='{target}',
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='Resize', scale=(32, 32)),
                           dict(type='PackInputs')]))
{split}_evaluator = dict(type='Accuracy', topk=(1, ))
{split}_cfg = dict()
"""
FINETUNE_4CLS = osp.join(
    REPO, 'configs/mixssl/benchmarks/resnet50_1xb64-20e_bloodmnist-4cls_'
    'finetune.py')


def test_validation_in_an_ssl_config_is_refused_before_training(
        tmp_path, image_folders, train_in_process):
    text = open(train_in_process.config(image_folders)).read()
    cfg = train_in_process.write(
        text + _EVAL.format(split='val', target=image_folders[0]))
    work = tmp_path / 'work'
    with pytest.raises(ConfigError) as info:
        train_in_process(cfg, work)
    msg = str(info.value)
    assert 'MixSSL is a self-supervised pretraining algorithm' in msg
    assert 'cannot honour val_dataloader, val_evaluator, val_cfg' in msg
    assert 'Invalid mode "predict"' in msg and '--no-validate' in msg
    assert 'KNNEvalHook' in msg and 'docs/online_eval.md' in msg
    assert not work.exists()  # refused before anything was written
    # the fix it names trains
    train_in_process(cfg, work, '--no-validate')
    assert (work / 'epoch_1.pth').is_file()
    # and tools/test.py refuses to test the pretraining checkpoint
    with pytest.raises(ConfigError) as info:
        train_in_process.test(cfg, work / 'epoch_1.pth', tmp_path / 'test')
    msg = str(info.value)
    assert msg.startswith('tools/test.py tests a model that predicts')
    assert "model.type='MixSSL'" in msg and 'KNNEvalHook' in msg
    assert not (tmp_path / 'test').exists()


def test_test_parts_in_an_ssl_config_are_refused(tmp_path, image_folders,
                                                 train_in_process):
    text = open(train_in_process.config(image_folders)).read()
    cfg = train_in_process.write(
        text + _EVAL.format(split='test', target=image_folders[0]))
    with pytest.raises(ConfigError) as info:
        train_in_process(cfg, tmp_path / 'work')
    msg = str(info.value)
    assert 'cannot honour test_dataloader, test_evaluator, test_cfg' in msg
    assert 'when tools/test.py runs it' in msg
    assert '--no-validate' not in msg  # it would not drop test_*
    assert not (tmp_path / 'work').exists()


@pytest.mark.parametrize(
    'model',
    [
        dict(type='SimCLR'),  # mmpretrain's own SSL algorithms too
        dict(type='mmpretrain.MoCo'),
        dict(type='AverageClsScoreTTA', module=dict(type='BYOL')),
    ])
def test_every_model_without_predict_mode_is_refused(model):
    cfg = Config(
        dict(
            model=model,
            val_dataloader=dict(),
            val_evaluator={},
            val_cfg=dict()))
    with pytest.raises(ConfigError, match='no predict mode'):
        check_evaluation_parts(cfg, 'train')
    with pytest.raises(ConfigError, match='tools/test.py tests a model'):
        check_evaluation_parts(cfg, 'test')


def test_classifiers_keep_their_evaluation():
    for model in (dict(type='ImageClassifier'),
                  dict(
                      type='AverageClsScoreTTA',
                      module=dict(type='ImageClassifier'))):
        cfg = Config(
            dict(
                model=model,
                val_dataloader=dict(),
                val_evaluator={},
                val_cfg=dict(),
                test_dataloader=dict(),
                test_evaluator={},
                test_cfg=dict()))
        check_evaluation_parts(cfg, 'train')
        check_evaluation_parts(cfg, 'test')


def test_save_best_without_validation_is_turned_off(tmp_path, image_folders,
                                                    train_in_process, capsys):
    # e.g. the shipped 4-class fine-tune config (save_best='accuracy/top1')
    # with --no-validate: mmengine would silently never save a best_*.pth
    assert "save_best='accuracy/top1'" in open(FINETUNE_4CLS).read()
    cfg = train_in_process.write(
        classifier_config(image_folders[0], 'unused.pth'))
    work = tmp_path / 'work'
    runner = train_in_process(cfg, work, '--no-validate', '--cfg-options',
                              'model.backbone.init_cfg=None',
                              "default_hooks.checkpoint.save_best=auto")
    assert "tools/train.py: no validation in this run, so default_hooks." \
        "checkpoint.save_best='auto' is turned off" in capsys.readouterr().err
    assert runner.cfg.default_hooks.checkpoint.save_best is None
    assert sorted(p.name for p in work.glob('*.pth')) == ['epoch_1.pth']


def test_test_tool_needs_the_test_parts(tmp_path, image_folders,
                                        train_in_process):
    cfg = train_in_process.write(
        classifier_config(image_folders[0], tmp_path / 'ft.pth'))
    with pytest.raises(ConfigError) as info:
        train_in_process.test(cfg, tmp_path / 'ft.pth', tmp_path / 'work')
    msg = str(info.value)
    assert 'tools/test.py needs test_dataloader, test_evaluator and ' \
        'test_cfg' in msg
    assert 'lacks test_dataloader, test_evaluator, test_cfg' in msg
    assert not (tmp_path / 'work').exists()
