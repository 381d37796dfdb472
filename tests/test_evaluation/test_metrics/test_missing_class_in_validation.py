"""Issue 22 (mmpretrain#174): an empty class folder in the validation split
of a fine-tune. The metrics that are undefined for that class report NaN
with a warning naming the class and the split, and the run goes on (a real
Runner, 2 epochs with validation after each); ``refuse_undefined`` turns the
same split into a clear error for a final test."""
import math
import os
import os.path as osp
import shutil

import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmpretrain.structures import DataSample

import mixssl_mm  # noqa: F401 (registers the metrics)
from mixssl_mm.evaluation.metrics.utils import refuse_undefined
from tests._helpers.image_folders import write_split_folders
from tests._helpers.run_names import run_name

METRICS = [
    dict(type='Accuracy', topk=(1, )),
    dict(type='SingleLabelMetric', average='macro'),
    dict(type='PerClassAccuracy'),
    dict(type='ROCAUC', average=None),
    dict(type='PerClassAccuracy', prefix='also_a_dict'),
]
PIPELINE = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]


def _folders(tmp_path):
    root = write_split_folders(
        tmp_path / 'data', ['a', 'b', 'c'], {
            'train': 4,
            'val': 2
        }, size=16)
    shutil.rmtree(osp.join(root, 'val', 'b'))
    os.makedirs(osp.join(root, 'val', 'b'))  # the empty class folder
    return root


def _loader(root, split):
    return dict(
        batch_size=4,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=split == 'train'),
        dataset=dict(
            type='CustomDataset',
            data_root=root,
            data_prefix=split,
            pipeline=PIPELINE))


def _runner(tmp_path, root, val_evaluator):
    return Runner(
        model=dict(
            type='ImageClassifier',
            data_preprocessor=dict(
                type='ClsDataPreprocessor',
                num_classes=3,
                mean=[120.] * 3,
                std=[60.] * 3),
            backbone=dict(
                type='ResNet', depth=18, base_channels=8, stem_channels=8),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=64)),
        work_dir=str(tmp_path / 'work'),
        experiment_name=run_name('missing_class'),
        train_dataloader=_loader(root, 'train'),
        val_dataloader=_loader(root, 'val'),
        val_evaluator=val_evaluator,
        train_cfg=dict(by_epoch=True, max_epochs=2, val_interval=1),
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_scope='mmpretrain',
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        randomness=dict(seed=0))


class _Recorder(Hook):
    """Keeps every validation's metrics."""

    def __init__(self):
        self.metrics = []

    def after_val_epoch(self, runner, metrics=None):
        self.metrics.append(dict(metrics))


def test_empty_class_folder_gives_nan_and_the_run_goes_on(tmp_path):
    root = _folders(tmp_path)
    runner = _runner(tmp_path, root, METRICS)
    recorder = _Recorder()
    runner.register_hook(recorder, priority='LOWEST')
    with pytest.warns(UserWarning) as record:
        runner.train()

    messages = [str(w.message) for w in record]
    split = osp.join(root, 'val')
    for owner, lacks in (('PerClassAccuracy', 'no samples'),
                         ('ROCAUC', 'no positive samples')):
        hits = [
            m for m in messages
            if m.startswith(owner) and f"class 'b' has {lacks}" in m
        ]
        assert hits, (owner, messages)
        # names the split by its folder, and says NaN
        assert f'(4 samples under {split})' in hits[0], hits[0]
        assert 'reporting NaN' in hits[0]

    # both epochs trained, validated and saved
    assert runner.epoch == 2
    for epoch in (1, 2):
        assert osp.isfile(osp.join(runner.work_dir, f'epoch_{epoch}.pth'))
    assert len(recorder.metrics) == 2
    for metrics in recorder.metrics:
        assert math.isnan(metrics['per_class_accuracy/b'])
        assert math.isnan(metrics['roc_auc/b'])
        assert math.isnan(metrics['also_a_dict/b'])
        for key in ('per_class_accuracy/a', 'per_class_accuracy/c',
                    'per_class_accuracy/mean', 'roc_auc/a', 'roc_auc/c',
                    'roc_auc', 'accuracy/top1'):
            assert not math.isnan(metrics[key]), key
        assert metrics['per_class_accuracy/mean'] == pytest.approx(
            (metrics['per_class_accuracy/a'] + metrics['per_class_accuracy/c'])
            / 2)
        assert metrics['roc_auc'] == pytest.approx(
            (metrics['roc_auc/a'] + metrics['roc_auc/c']) / 2)
    # the warning reached the run's log file too
    log = open(runner.logger.log_file).read()
    assert "ROCAUC: class 'b' has no positive samples" in log


def test_refuse_undefined_for_a_final_test():
    cfg = refuse_undefined([dict(m) for m in METRICS])
    assert [m.get('undefined')
            for m in cfg] == [None, None, 'raise', 'raise', 'raise']
    assert refuse_undefined(dict(type='mmpretrain.ROCAUC'))['undefined'] \
        == 'raise'
    nested = refuse_undefined(dict(metrics=[dict(type='PerClassAccuracy')]))
    assert nested['metrics'][0]['undefined'] == 'raise'

    samples = [
        DataSample().set_pred_score(torch.tensor([0.5, 0.2,
                                                  0.3])).set_gt_label(label)
        for label in (0, 0, 2, 2)
    ]
    for metric, lacks in ((cfg[2], 'no samples'), (cfg[3],
                                                   'no positive samples')):
        evaluator = Evaluator(metric)
        evaluator.dataset_meta = dict(classes=('a', 'b', 'c'))
        evaluator.process(samples)
        with pytest.raises(
                ValueError,
                match=f"class 'b' has {lacks} in the evaluation "
                r'split \(4 samples\)'):
            evaluator.evaluate(4)
