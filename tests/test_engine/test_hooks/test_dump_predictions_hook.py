"""DumpPredictionsHook in a real mmengine test run: the metrics as usual
plus the per-image predictions of tools/test.py --out FILE.pkl."""
import mmengine
import numpy as np
import pytest
from mmengine.runner import Runner

import mixssl_mm  # noqa: F401
from mixssl_mm.benchmark.comparison import load_predictions
from mixssl_mm.engine.hooks import DumpPredictionsHook
from tests._helpers.dist_launch import TINY_NPZ, write_tiny_medmnist
from tests._helpers.run_names import run_name


def _test_runner(work_dir, data_root, out_file):
    return Runner(
        model=dict(
            type='ImageClassifier',
            backbone=dict(
                type='ResNet',
                depth=18,
                base_channels=8,
                norm_cfg=dict(type='BN')),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=8, in_channels=64)),
        work_dir=str(work_dir),
        experiment_name=run_name('dump_predictions'),
        test_dataloader=dict(
            batch_size=5,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(
                type='MedMNIST',
                data_root=data_root,
                ann_file=TINY_NPZ,
                split='test',
                pipeline=[dict(type='PackInputs')])),
        test_evaluator=[
            dict(type='Accuracy', topk=(1, )),
            dict(type='PerClassAccuracy')
        ],
        test_cfg=dict(),
        default_hooks=dict(
            dump_predictions=dict(
                type='DumpPredictionsHook', out_file=out_file)),
        default_scope='mmpretrain')


def test_a_test_run_writes_metrics_and_predictions(tmp_path):
    data = write_tiny_medmnist(tmp_path / 'data', n=(8, 8, 13))
    out = str(tmp_path / 'predictions.pkl')
    metrics = _test_runner(tmp_path / 'work', data, out).test()
    assert set(metrics) >= {'accuracy/top1', 'per_class_accuracy/mean'}
    records = mmengine.load(out)
    assert isinstance(records[0]['pred_score'], np.ndarray)  # not tensors
    scores, labels = load_predictions(out)
    assert scores.shape == (13, 8)
    assert np.array_equal(labels, np.arange(13) % 8)  # the test split order
    top1 = (scores.argmax(1) == labels).mean() * 100
    assert top1 == pytest.approx(metrics['accuracy/top1'], abs=1e-4)


def test_the_file_name_is_checked_when_built():
    with pytest.raises(ValueError, match='pkl'):
        DumpPredictionsHook(out_file='predictions.json')
