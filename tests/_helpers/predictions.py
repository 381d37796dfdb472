"""Per-image predictions and the metrics a benchmark test stage reports on
them, computed by the real metric classes through an mmengine Evaluator
(optionally dumped by mmengine's DumpResults, as a test stage does)."""
import numpy as np
import torch
from mmengine.evaluator import DumpResults, Evaluator
from mmpretrain.structures import DataSample

import mixssl_mm  # noqa: F401  (registers the metrics)

# the test stages' metrics (configs/_base_/datasets/bloodmnist_cls.py)
STAGE_METRICS = [
    dict(type='Accuracy', topk=(1, )),
    dict(type='SingleLabelMetric', average='macro'),
    dict(type='PerClassAccuracy'),
    dict(type='ROCAUC')
]


def random_predictions(n, c, seed, signal=1.5):
    """``(scores (n, c), labels (n, ))``: softmax scores rounded to 2
    decimals (so tied scores occur), the true class raised by ``signal``."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)) + signal * np.eye(c)[labels]
    scores = torch.softmax(torch.tensor(logits), 1).numpy()
    return np.round(scores, 2), labels


def evaluate(scores, labels, classes, metrics=STAGE_METRICS, dump=None):
    """The metrics dict of an Evaluator over the samples; with ``dump`` (a
    .pkl path) DumpResults writes the predictions there too."""
    evaluator = Evaluator([*metrics] + ([DumpResults(dump)] if dump else []))
    evaluator.dataset_meta = {'classes': classes}
    samples = [
        DataSample(metainfo=dict(sample_idx=i)).set_pred_score(
            torch.tensor(s)).set_gt_label(int(y))
        for i, (s, y) in enumerate(zip(scores, labels))
    ]
    evaluator.process(samples)
    return evaluator.evaluate(len(samples))
