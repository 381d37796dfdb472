"""tools/train.py, tools/test.py, --resume, fine-tuning, mmpretrain's own
train.py and a 2-process torchrun, all on a small generated image folder."""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mixssl_mm.utils import mmpretrain_tool_path

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

PRETRAIN = """
_base_ = ['{repo}/configs/_base_/models/mixssl_resnet50.py',
          'mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports={imports}, allow_failed_imports=False)
model = dict(backbone=dict(depth=18), neck=dict(in_channels=512, n_blocks=1),
             head=dict(in_channels=512))
data_preprocessor = dict(type='SelfSupDataPreprocessor',
                         mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)
view = [dict(type='LoadImageFromFile'), dict(type='RandomResizedCrop', scale=32)]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CustomDataset', data_root='{target}', with_label=False,
                 pipeline=[*view,
                           dict(type='CrossDomainMixup', aux_dataset='{aux}',
                                aux_pipeline=view),
                           dict(type='PackInputs', algorithm_keys=[
                               'mix_alpha', 'mix_lam', 'aux_label'])]))
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='Adam', lr=1e-4, weight_decay=1e-4))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs={epochs})
default_hooks = dict(logger=dict(type='LoggerHook', interval=1),
                     checkpoint=dict(type='CheckpointHook', interval=1))
custom_hooks = {hooks}
randomness = dict(seed=0)
"""

FINETUNE = """
_base_ = ['mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['mixssl_mm'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, init_cfg=dict(
        type='Pretrained', checkpoint='{ckpt}', prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=2, in_channels=512,
              loss=dict(type='CrossEntropyLoss'), topk=(1, )))
data_preprocessor = dict(num_classes=2, mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)
pipeline = [dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(32, 32)), dict(type='PackInputs')]
loader = dict(batch_size=4, num_workers=0, persistent_workers=False,
              sampler=dict(type='DefaultSampler', shuffle=False),
              dataset=dict(type='CustomDataset', data_root='{target}',
                           pipeline=pipeline))
train_dataloader = loader
test_dataloader = loader
test_evaluator = [dict(type='Accuracy', topk=(1, )),
                  dict(type='PerClassAccuracy'), dict(type='ROCAUC')]
test_cfg = dict()
# lr 0: the fine-tuned backbone must still equal the pretrained one
optim_wrapper = dict(optimizer=dict(type='Adam', lr=0.0))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
"""


def write_pretrain(tmp_path, folders, epochs=2, imports=('mixssl_mm', ),
                   hooks=(), name='pretrain.py'):
    target, aux = folders
    path = tmp_path / name
    path.write_text(
        PRETRAIN.format(repo=REPO, target=target, aux=aux, epochs=epochs,
                        imports=list(imports), hooks=list(hooks)))
    return str(path)


def run(args, cwd, env=None, timeout=240):
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                         timeout=timeout, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def train(cfg, work_dir, *extra):
    return run([sys.executable, osp.join(REPO, 'tools/train.py'), cfg,
                '--work-dir', str(work_dir), *extra], cwd=osp.dirname(cfg))


def meta(path):
    return torch.load(path, map_location='cpu')['meta']


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
    """One real MixSSL pretraining run shared by the tests below."""
    from tests.conftest import write_image_folder
    tmp = tmp_path_factory.mktemp('pre')
    folders = (write_image_folder(tmp / 'target', 8, seed=1),
               write_image_folder(tmp / 'aux', 5, classes=('x', ), seed=2))
    cfg = write_pretrain(tmp, folders)
    log = train(cfg, tmp / 'work')
    return tmp, folders, cfg, log


def test_train_writes_checkpoints_loadable_with_weights_only(pretrained):
    tmp, _, _, log = pretrained
    assert 'loss_rec' in log and 'loss_trans' in log
    ckpt = tmp / 'work' / 'epoch_2.pth'
    assert ckpt.exists()
    state = torch.load(ckpt, map_location='cpu')  # weights_only default
    assert state['meta']['epoch'] == 2 and state['meta']['iter'] == 4
    assert any(k.startswith('neck.') for k in state['state_dict'])
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(ckpt))
    assert 'builtins.getattr' not in unsafe


def test_resume_continues_at_the_right_iteration(pretrained, tmp_path):
    _, folders, _, _ = pretrained
    work = tmp_path / 'work'
    train(write_pretrain(tmp_path, folders, epochs=1), work)
    assert meta(work / 'epoch_1.pth')['iter'] == 2
    log = train(write_pretrain(tmp_path, folders, epochs=2), work, '--resume')
    assert 'resumed epoch: 1, iter: 2' in log
    assert 'Epoch(train) [2][1/2]' in log
    assert 'Epoch(train) [1][' not in log  # nothing trained twice
    assert meta(work / 'epoch_2.pth')['iter'] == 4


def test_finetune_from_the_pretrained_backbone_then_test(pretrained):
    tmp, (target, _), _, _ = pretrained
    ckpt = tmp / 'work' / 'epoch_2.pth'
    cfg = tmp / 'finetune.py'
    cfg.write_text(FINETUNE.format(ckpt=ckpt, target=target))
    train(str(cfg), tmp / 'ft')
    pre = torch.load(ckpt, map_location='cpu')['state_dict']
    ft = torch.load(tmp / 'ft' / 'epoch_1.pth', map_location='cpu')
    ft = ft['state_dict']
    conv = 'backbone.layer4.1.conv2.weight'
    torch.testing.assert_close(ft[conv], pre[conv])
    log = run([sys.executable, osp.join(REPO, 'tools/test.py'), str(cfg),
               str(tmp / 'ft' / 'epoch_1.pth'), '--work-dir',
               str(tmp / 'ft_test')], cwd=str(tmp))
    assert 'accuracy/top1' in log and 'per_class_accuracy/a' in log
    assert 'roc_auc' in log


def test_same_config_through_mmpretrain_own_train_py(pretrained, tmp_path):
    _, folders, _, _ = pretrained
    cfg = write_pretrain(tmp_path, folders, epochs=1)
    # a fresh interpreter: only custom_imports brings mixssl_mm in
    run([sys.executable, mmpretrain_tool_path('train.py'), cfg, '--work-dir',
         str(tmp_path / 'mm')], cwd=str(tmp_path))
    assert meta(tmp_path / 'mm' / 'epoch_1.pth')['iter'] == 2


def test_torchrun_two_cpu_processes_keep_identical_parameters(
        pretrained, tmp_path):
    _, folders, _, _ = pretrained
    cfg = write_pretrain(
        tmp_path, folders, epochs=1,
        imports=('mixssl_mm', 'rank_params_hook'),
        hooks=(dict(type='RankParamsDumpHook'), ))
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join(
                   [osp.join(REPO, 'tests', '_helpers'),
                    os.environ.get('PYTHONPATH', '')]))
    work = tmp_path / 'dist'
    log = run([sys.executable, '-m', 'torch.distributed.run',
               '--nproc_per_node=2', '--master_port=29531',
               osp.join(REPO, 'tools/train.py'), cfg, '--launcher', 'pytorch',
               '--work-dir', str(work)], cwd=str(tmp_path), env=env)
    assert 'Distributed launcher: pytorch' in log or 'world_size: 2' in log
    p0 = torch.load(work / 'params_rank0.pth')
    p1 = torch.load(work / 'params_rank1.pth')
    assert p0.keys() == p1.keys() and len(p0) > 0
    for key in p0:
        torch.testing.assert_close(p0[key], p1[key], rtol=0, atol=0)
    assert meta(work / 'epoch_1.pth')['iter'] == 1  # 8 images / (2 x 4)
