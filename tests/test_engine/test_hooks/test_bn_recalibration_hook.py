"""BNRecalibrationHook in a real Runner (a 0-epoch run of a frozen
ImageClassifier, as the benchmark's k-NN stage and the start of its linear
probe): the re-estimated statistics equal mmpretrain's precise-BN
``update_bn_stats`` on the same batches; modes, momenta and weights are
left as they were."""
import copy

import pytest
import torch
from mmengine.dataset import default_collate
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmpretrain.engine.hooks.precise_bn_hook import update_bn_stats
from mmpretrain.registry import DATASETS
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader

import mixssl_mm  # noqa: F401 (registers the hook)
from mixssl_mm.engine.hooks import BNRecalibrationHook
from tests._helpers.image_folders import write_split_folders
from tests._helpers.run_names import run_name

CLEAN = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32)),
    dict(type='PackInputs')
]


def _clean_set(tmp_path):
    return dict(
        type='CustomDataset', data_root=str(tmp_path / 'data'), pipeline=CLEAN)


def _runner(tmp_path, hooks, pipeline=CLEAN):
    root = write_split_folders(tmp_path / 'data', ['a', 'b'], {'.': 6})
    return Runner(
        model=dict(
            type='ImageClassifier',
            data_preprocessor=dict(
                type='ClsDataPreprocessor',
                num_classes=2,
                mean=[120.] * 3,
                std=[60.] * 3),
            backbone=dict(
                type='ResNet',
                depth=18,
                base_channels=16,
                stem_channels=16,
                frozen_stages=4,
                norm_eval=True),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=2, in_channels=128)),
        work_dir=str(tmp_path / 'work'),
        experiment_name=run_name('bn_recalibration'),
        train_dataloader=dict(
            batch_size=4,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(
                type='CustomDataset', data_root=root, pipeline=pipeline)),
        train_cfg=dict(by_epoch=True, max_epochs=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        custom_hooks=hooks,
        default_scope='mmpretrain',
        default_hooks=dict(checkpoint=None, logger=None),
        randomness=dict(seed=0))


class StaleStatistics(Hook):
    """Runs first in before_train, after the Runner initialised the weights:
    makes the stored statistics stale (as pretraining on mixes leaves them)
    and keeps the model as the recalibration finds it."""
    priority = 'HIGHEST'

    def before_train(self, runner):
        for bn in runner.model.backbone.modules():
            if isinstance(bn, _BatchNorm):
                bn.running_mean.fill_(3.0)
                bn.running_var.fill_(7.0)
        self.model = copy.deepcopy(runner.model)
        self.modes = {n: m.training for n, m in runner.model.named_modules()}


@pytest.mark.parametrize('num_samples,clean', [(None, False), (8, False),
                                               (None, True)])
def test_statistics_equal_mmpretrain_precise_bn(tmp_path, num_samples, clean):
    stale = StaleStatistics()
    if clean:  # random crops to train on, clean images for the statistics
        hook = BNRecalibrationHook(num_samples, dataset=_clean_set(tmp_path))
        runner = _runner(
            tmp_path, [stale, hook],
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='RandomResizedCrop', scale=32),
                dict(type='PackInputs')
            ])
        loader = DataLoader(
            DATASETS.build(_clean_set(tmp_path)),
            batch_size=4,
            collate_fn=default_collate)
    else:
        runner = _runner(tmp_path, [stale, BNRecalibrationHook(num_samples)])
        loader = None
    runner.train()  # 0 epochs: only before_train runs
    hook, = [h for h in runner.hooks if isinstance(h, BNRecalibrationHook)]
    assert hook.images_seen == (num_samples or 12)

    # reference: mmpretrain's precise BN on the backbone's BNs alone
    ref = stale.model
    ref.eval()
    for bn in ref.backbone.modules():
        if isinstance(bn, _BatchNorm):
            bn.reset_running_stats()
            bn.train()
    update_bn_stats(
        ref,
        loader or runner.build_dataloader(runner._train_dataloader),
        num_samples or 12,
        logger='silent')

    model, refs = runner.model, dict(ref.backbone.named_modules())
    n = 0
    for name, bn in model.backbone.named_modules():
        if isinstance(bn, _BatchNorm):
            torch.testing.assert_close(bn.running_mean,
                                       refs[name].running_mean)
            torch.testing.assert_close(bn.running_var, refs[name].running_var)
            assert bn.momentum == 0.1
            n += 1
    assert n == 20
    assert {n: m.training for n, m in model.named_modules()} == stale.modes
    weights = stale.model.state_dict()
    for k, v in model.state_dict().items():
        if 'running_' not in k and 'num_batches' not in k:
            assert torch.equal(v, weights[k]), k


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='num_samples'):
        BNRecalibrationHook(num_samples=0)
    with pytest.raises(ValueError, match='batch_size'):
        BNRecalibrationHook(batch_size=0)
