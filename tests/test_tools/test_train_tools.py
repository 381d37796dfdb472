"""tools/train.py, tools/test.py, --resume, fine-tuning and mmpretrain's own
train.py, all on a small generated image folder. Two processes under
torchrun: every shipped config in tests/test_distributed/test_launch_matrix.py
(identical parameters on both ranks) and
tests/test_tools/test_distributed_consistency.py (two ranks train as one
process)."""
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mixssl_mm.utils import mmpretrain_tool_path
from tests._helpers.tmp_dirs import shared_tmp
from tests._helpers.training import (CLASSIFIER_EVAL, RANDOM_CROP_32, REPO,
                                     RESNET18_MODEL, classifier_config,
                                     mixssl_config, mmpretrain_tool,
                                     subprocess_env)


def write_pretrain(tmp_path,
                   folders,
                   epochs=2,
                   imports=('mixssl_mm', ),
                   hooks='[]',
                   name='pretrain.py'):
    path = tmp_path / name
    path.write_text(
        mixssl_config(
            *folders,
            model=RESNET18_MODEL,
            imports=imports,
            view=RANDOM_CROP_32,
            shuffle=True,
            epochs=epochs,
            custom_hooks=hooks,
            optimizer="dict(type='Adam', lr=1e-4, weight_decay=1e-4)"))
    return str(path)


def run(args, cwd, env=None, timeout=600):
    out = subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def train(cfg, work_dir, *extra):
    return run([
        sys.executable,
        osp.join(REPO, 'tools/train.py'), cfg, '--work-dir',
        str(work_dir), *extra
    ],
               cwd=osp.dirname(cfg))


def meta(path):
    return torch.load(path, map_location='cpu')['meta']


@pytest.fixture(scope='module')
def pretrained(request, tmp_path_factory):
    """One real MixSSL pretraining run shared by the tests below."""
    from tests.conftest import write_image_folder
    tmp = shared_tmp(request, tmp_path_factory, 'pre')
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
    # lr 0: the fine-tuned backbone must still equal the pretrained one
    cfg.write_text(
        classifier_config(
            target, ckpt, tiny=False, lr='0.0', extra=CLASSIFIER_EVAL))
    train(str(cfg), tmp / 'ft')
    pre = torch.load(ckpt, map_location='cpu')['state_dict']
    ft = torch.load(tmp / 'ft' / 'epoch_1.pth', map_location='cpu')
    ft = ft['state_dict']
    conv = 'backbone.layer4.1.conv2.weight'
    torch.testing.assert_close(ft[conv], pre[conv])
    log = run([
        sys.executable,
        osp.join(REPO, 'tools/test.py'),
        str(cfg),
        str(tmp / 'ft' / 'epoch_1.pth'), '--work-dir',
        str(tmp / 'ft_test')
    ],
              cwd=str(tmp))
    assert 'accuracy/top1' in log and 'per_class_accuracy/a' in log
    assert 'roc_auc' in log


def test_mmpretrain_own_train_py_runs_the_preflight(image_folders, tmp_path):
    """Through the opt-in, mmpretrain's train.py refuses a run that would
    train nothing (issue 22: fewer images than a batch with drop_last)
    before the Runner, as tools/train.py does."""
    cfg = write_pretrain(tmp_path, image_folders, epochs=1)
    out = mmpretrain_tool(
        'train',
        cfg,
        '--work-dir',
        str(tmp_path / 'mm'),
        '--cfg-options',
        'train_dataloader.batch_size=64',
        'train_dataloader.drop_last=True',
        cwd=tmp_path)
    assert out.returncode != 0
    assert 'give no batch of batch_size=64 with drop_last=True' in out.stderr
    assert not list((tmp_path / 'mm').glob('**/*.pth'))


def test_same_config_through_mmpretrain_own_train_py(image_folders, tmp_path):
    """The documented opt-in for mmpretrain's own tools: its train.py runs a
    MixSSL config (an ``mmpretrain::`` base, ``custom_imports``) after
    ``apply_compat_fixes``; without it, stock mmengine cannot even read the
    config here (no pkg_resources in setuptools >= 81)."""
    cfg = write_pretrain(tmp_path, image_folders, epochs=1)
    log = run([
        sys.executable, '-m', 'mixssl_mm.apis.mmpretrain_tool', 'train', cfg,
        '--work-dir',
        str(tmp_path / 'mm')
    ],
              cwd=str(tmp_path),
              env=subprocess_env())
    assert meta(tmp_path / 'mm' / 'epoch_1.pth')['iter'] == 2
    assert 'mixssl_mm.compat: pkg-resources' in log
    assert 'mixssl_mm.compat: weights-only' in log
    try:
        import pkg_resources  # noqa: F401
    except ImportError:  # the stock tool, as it fails on today's stack
        out = subprocess.run([
            sys.executable,
            mmpretrain_tool_path('train.py'), cfg, '--work-dir',
            str(tmp_path / 'stock')
        ],
                             cwd=str(tmp_path),
                             capture_output=True,
                             text=True,
                             timeout=300,
                             env=subprocess_env())
        assert out.returncode != 0 and 'pkg_resources' in out.stderr
