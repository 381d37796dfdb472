"""Small real MixSSL training runs for the tests: one config builder, and a
fixture that trains in this process through ``mixssl_mm.apis.train.main``
(what ``tools/train.py`` runs) to save interpreter start-ups.

Everything here drives real mmpretrain/mixssl_mm components; nothing is
replaced. Configs import ``reliability_helpers`` (test-only hooks and a
poisoning transform, ``tests/_helpers/reliability_helpers.py``) through
``custom_imports``; :data:`HELPERS` must be importable for that (the
fixture puts it on ``sys.path``; subprocesses get it through
``PYTHONPATH``, see :func:`subprocess_env`).
"""
import os
import os.path as osp
import re
import subprocess
import sys
import time

import pytest
import torch

HELPERS = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HELPERS))

# ResNet-18 at 1/4 width: the smallest encoder that keeps ResNet-18's layout
TINY_MODEL = """model = dict(
    backbone=dict(depth=18, stem_channels=16, base_channels=16),
    neck=dict(in_channels=128, n_blocks=1, res_channels=64, ngf=16),
    head=dict(in_channels=128, hid_channels=32))"""
# full-width ResNet-18, one residual block in the decoder
RESNET18_MODEL = """model = dict(
    backbone=dict(depth=18), neck=dict(in_channels=512, n_blocks=1),
    head=dict(in_channels=512))"""
RESIZE_32 = ("[dict(type='LoadImageFromFile'), "
             "dict(type='Resize', scale=(32, 32))]")
RANDOM_CROP_32 = ("[dict(type='LoadImageFromFile'), "
                  "dict(type='RandomResizedCrop', scale=32)]")

_CONFIG = """
_base_ = ['{repo}/configs/_base_/models/mixssl_resnet50.py',
          'mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports={imports}, allow_failed_imports=False)
{model}
data_preprocessor = dict(type='SelfSupDataPreprocessor',
                         mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)
view = {view}
aux_view = {aux_view}
pack = dict(type='PackInputs',
            algorithm_keys=['aux_label', 'aux_num_classes'])
train_dataloader = dict(
    batch_size={batch_size}, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle={shuffle}),
    collate_fn=dict(type='default_collate'),
    dataset={dataset})
optim_wrapper = dict(type='OptimWrapper', optimizer={optimizer})
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs={epochs})
default_hooks = {default_hooks}
custom_hooks = {custom_hooks}
randomness = {randomness}
"""

# an image folder of targets, mixed with an image folder of auxiliary images
_FOLDER_DATASET = """dict(
        type='CustomDataset', data_root='{target}', with_label=False,
        pipeline=[*view, {before_mixup}
                  dict(type='CrossDomainMixup', aux_dataset='{aux}',
                       aux_pipeline=aux_view{mixup}), pack])"""


def mixssl_config(target: str,
                  aux: str,
                  *,
                  model: str = TINY_MODEL,
                  dataset: str = None,
                  imports=('mixssl_mm', 'reliability_helpers'),
                  view: str = RESIZE_32,
                  aux_view: str = 'view',
                  batch_size: int = 4,
                  shuffle: bool = False,
                  before_mixup: str = '',
                  mixup: str = '',
                  optimizer: str = "dict(type='Adam', lr=1e-4)",
                  epochs: int = 1,
                  default_hooks: str = (
                      "dict(logger=dict(type='LoggerHook', interval=1), "
                      "checkpoint=dict(type='CheckpointHook', interval=1))"),
                  custom_hooks: str = '[]',
                  randomness: str = 'dict(seed=0)') -> str:
    """The text of a MixSSL pretraining config on an image folder
    ``target`` with the auxiliary folder ``aux``.

    Every argument but the folders is Python source pasted into the config
    (``view`` a pipeline list, ``mixup`` extra ``CrossDomainMixup``
    arguments starting with a comma, ``before_mixup`` transforms ending with
    a comma, ``optimizer`` a dict, ...). ``dataset`` replaces the folder
    dataset (the config defines ``view``, ``aux_view`` and ``pack``, the
    final ``PackInputs``, for it to use).
    """
    if dataset is None:
        dataset = _FOLDER_DATASET.format(
            target=target, aux=aux, before_mixup=before_mixup, mixup=mixup)
    return _CONFIG.format(
        repo=REPO,
        model=model,
        imports=list(imports),
        dataset=dataset,
        view=view,
        aux_view=aux_view,
        batch_size=batch_size,
        shuffle=shuffle,
        optimizer=optimizer,
        epochs=epochs,
        default_hooks=default_hooks,
        custom_hooks=custom_hooks,
        randomness=randomness)


_CLASSIFIER = """
_base_ = ['mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['mixssl_mm'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth={depth}, {widths}init_cfg=dict(
        type='Pretrained', checkpoint='{ckpt}', prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=2, in_channels={channels},
              loss=dict(type='CrossEntropyLoss'), topk=(1, )))
data_preprocessor = dict(num_classes=2, mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)
pipeline = [dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(32, 32)), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root='{target}',
                 pipeline=pipeline))
optim_wrapper = dict(optimizer=dict(type='Adam', lr={lr}))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
{extra}"""

# ``extra`` of classifier_config: test on the training folder with
# mmpretrain's accuracy and the plugin's metrics
CLASSIFIER_EVAL = """
test_dataloader = train_dataloader
test_evaluator = [dict(type='Accuracy', topk=(1, )),
                  dict(type='PerClassAccuracy'), dict(type='ROCAUC')]
test_cfg = dict()
"""


def classifier_config(target: str,
                      ckpt,
                      *,
                      depth: int = 18,
                      tiny: bool = True,
                      lr: str = '1e-4',
                      extra: str = '') -> str:
    """The text of a fine-tuning config: a 2-class ``ImageClassifier`` on
    the labelled image folder ``target`` whose ResNet (1/4 width when
    ``tiny``) starts from the ``backbone.`` keys of ``ckpt``. ``extra`` is
    appended (e.g. a test dataloader and evaluator)."""
    return _CLASSIFIER.format(
        depth=depth,
        ckpt=ckpt,
        target=target,
        lr=lr,
        extra=extra,
        widths='stem_channels=16, base_channels=16, ' if tiny else '',
        channels=128 if tiny else 512)


def subprocess_env(**extra) -> dict:
    """Environment for a training subprocess: one OpenMP thread (the runs are
    tiny; threads only compete on a shared machine) and the test helpers
    importable."""
    return dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PYTHONPATH=os.pathsep.join(
            [HELPERS, REPO, os.environ.get('PYTHONPATH', '')]),
        **extra)


def mmpretrain_tool(tool: str, *args, cwd) -> subprocess.CompletedProcess:
    """``python -m mixssl_mm.apis.mmpretrain_tool TOOL ARGS`` (the plugin's
    opt-in for mmpretrain's own tools) in ``cwd``; the output captured, the
    exit status left to the caller."""
    return subprocess.run(
        [sys.executable, '-m', 'mixssl_mm.apis.mmpretrain_tool', tool, *args],
        cwd=str(cwd),
        capture_output=True,
        text=True,
        timeout=300,
        env=subprocess_env())


def corrupt(path, data: bytes = b'this is not an image') -> str:
    """Overwrite ``path`` with bytes that are no image; return the path."""
    with open(path, 'wb') as f:
        f.write(data)
    return str(path)


def iters_of(work) -> int:
    """The iteration of the work dir's last checkpoint."""
    with open(osp.join(work, 'last_checkpoint')) as f:
        last = f.read().strip()
    return torch.load(osp.join(work, last))['meta']['iter']


class InProcessTrainer:
    """Writes configs under ``tmp_path`` with names unique to the test and
    trains them with ``mixssl_mm.apis.train.main`` (tests them with
    ``mixssl_mm.apis.test.main``)."""

    def __init__(self, tmp_path, request) -> None:
        self.tmp_path = tmp_path
        self.request = request

    def write(self, text: str) -> str:
        # a unique file name: mmengine names the run's logger, message hub
        # and visualizer instances after it
        name = re.sub(r'\W', '_', self.request.node.name)
        count = len(list(self.tmp_path.glob('*.py')))
        path = self.tmp_path / f'{name}_{count}.py'
        path.write_text(text)
        return str(path)

    def config(self, folders, **options) -> str:
        """:func:`mixssl_config` on ``folders = (target, aux)``, written."""
        return self.write(mixssl_config(*folders, **options))

    def __call__(self, cfg: str, work, *extra):
        from mixssl_mm.apis.train import main
        return _one_runner_per_second(
            main, [cfg, '--work-dir', str(work), *extra])

    def test(self, cfg: str, ckpt, work, *extra):
        """``mixssl_mm.apis.test.main`` (what ``tools/test.py`` runs) on
        ``cfg`` and the checkpoint ``ckpt``; returns the metrics."""
        from mixssl_mm.apis.test import main
        return _one_runner_per_second(
            main, [cfg, str(ckpt), '--work-dir',
                   str(work), *extra])


# when the last in-process call built a Runner (time.time())
_LAST_RUNNER = [0.0]


def _one_runner_per_second(main, argv):
    """``main(argv)``, started at least 1.1 s after the last call that built
    a Runner: mmengine names a run (and its global logger and Visualizer
    instances) by the second it starts, so in-process runs within one
    second would share the log dir that a failed run's clean-up removed.
    A call refused before its Runner (no new logger instance) costs no
    wait."""
    from mmengine.logging import MMLogger
    wait = 1.1 - (time.time() - _LAST_RUNNER[0])
    if wait > 0:
        time.sleep(wait)
    loggers = len(MMLogger._instance_dict)
    try:
        return main(argv)
    finally:
        if len(MMLogger._instance_dict) != loggers:
            _LAST_RUNNER[0] = time.time()


@pytest.fixture
def train_in_process(tmp_path, request, monkeypatch, one_thread):
    """An :class:`InProcessTrainer`; the test helpers are importable and the
    default scope is mmpretrain's again afterwards (every Runner makes its
    own scope the current one)."""
    monkeypatch.syspath_prepend(HELPERS)
    yield InProcessTrainer(tmp_path, request)
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
