"""tools/model_converters/resnet_to_mmpretrain.py end to end: its command
line and output, a refusal's exit status and message, and the converted file
fine-tuning and initialising MixSSL through tools/train.py. The conversion
logic itself is tested in tests/test_converters/test_resnet.py."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mixssl_mm.converters.resnet import convert
from tests._helpers.resnets import (assert_same_features, mm_resnet,
                                    torchvision_resnet)
from tests._helpers.tmp_dirs import shared_tmp

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'model_converters', 'resnet_to_mmpretrain.py')
DATA = osp.join(REPO, 'data', 'medmnist', 'bloodmnist.npz')

pytestmark = pytest.mark.usefixtures('one_thread')


def run_tool(*args):
    return subprocess.run([sys.executable, TOOL, *map(str, args)],
                          capture_output=True,
                          text=True,
                          timeout=120)


def test_torchvision_resnet18_through_the_cli(tmp_path):
    net = torchvision_resnet(18)
    src = tmp_path / 'resnet18.pth'
    torch.save(net.state_dict(), src)
    dst = tmp_path / 'out' / 'resnet18_mm.pth'  # the folder is created
    out = run_tool(src, dst)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f'Converted {src} (torchvision, ResNet-18) -> {dst}: 120 keys ' \
        'under backbone.; dropped 2 non-backbone key(s) (fc.bias, ' \
        'fc.weight).' in out.stdout
    assert "prefix='backbone.'" in out.stdout
    assert_same_features(net, mm_resnet(18, dst))


def test_a_refusal_exits_1_and_says_nothing_was_written(tmp_path):
    out = run_tool(tmp_path / 'nope.pth', tmp_path / 'dst.pth')
    assert out.returncode == 1
    assert f'error: SRC {tmp_path}/nope.pth: no such file' in out.stderr
    assert out.stderr.rstrip().endswith('Nothing was written.')
    assert not (tmp_path / 'dst.pth').exists()


# -- the converted file in training runs -----------------------------------
def train(cfg, work_dir, *options):
    out = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'train.py'), cfg, '--work-dir',
        str(work_dir), '--cfg-options', *options
    ],
                         cwd=REPO,
                         capture_output=True,
                         text=True,
                         timeout=300,
                         env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


# a few BloodMNIST images at 32/64 px, one process, no validation
SMALL = [
    'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'train_dataloader.pin_memory=False', 'train_cfg.max_epochs=1'
]


@pytest.fixture(scope='module')
def converted_resnet18(request, tmp_path_factory):
    tmp = shared_tmp(request, tmp_path_factory, 'conv')
    net = torchvision_resnet(18)
    torch.save(net.state_dict(), tmp / 'resnet18.pth')
    convert(str(tmp / 'resnet18.pth'), str(tmp / 'resnet18_mm.pth'))
    return tmp / 'resnet18_mm.pth'


@pytest.mark.skipif(
    not osp.exists(DATA),
    reason='fetch the data first: '
    'python tools/data/fetch_bloodmnist.py')
def test_imagenet_self_config_fine_tunes_from_the_converted_file(
        tmp_path, converted_resnet18):
    cfg = osp.join(
        REPO, 'configs', 'mixssl', 'benchmarks',
        'resnet50_imagenet-self_1xb64-20e_bloodmnist-4cls_'
        'finetune.py')
    # ResNet-18 stands in for ResNet-50; lr 0: the trained encoder must
    # still be exactly the converted one
    train(cfg, tmp_path / 'ft', *SMALL,
          f'model.backbone.init_cfg.checkpoint={converted_resnet18}',
          'model.backbone.depth=18', 'model.head.in_channels=512',
          'train_dataloader.dataset.indices=8',
          'train_dataloader.dataset.pipeline.0.scale=32',
          'optim_wrapper.optimizer.lr=0.0', 'val_cfg=None',
          'val_dataloader=None', 'val_evaluator=None')
    ft = torch.load(tmp_path / 'ft' / 'epoch_1.pth')
    assert ft['meta']['iter'] == 2
    pre = torch.load(converted_resnet18)['state_dict']
    for key in pre:
        if 'running' not in key and 'num_batches' not in key:
            assert torch.equal(ft['state_dict'][key], pre[key]), key


@pytest.mark.skipif(
    not osp.exists(DATA),
    reason='fetch the data first: '
    'python tools/data/fetch_bloodmnist.py')
def test_mixssl_pretraining_starts_from_the_converted_file(
        tmp_path, converted_resnet18):
    # the command of docs/model_converters.md, on the ResNet-18 config
    cfg = osp.join(REPO, 'configs', 'mixssl',
                   'mixssl_resnet18_1xb64-1e_bloodmnist-64px.py')
    log = train(cfg, tmp_path / 'pre', *SMALL,
                'model.backbone.init_cfg.type=Pretrained',
                f'model.backbone.init_cfg.checkpoint={converted_resnet18}',
                'model.backbone.init_cfg.prefix=backbone.',
                'train_dataloader.dataset.indices=4',
                'optim_wrapper.optimizer.lr=0.0')
    assert 'loss_rec' in log
    pre = torch.load(converted_resnet18)['state_dict']
    out = torch.load(tmp_path / 'pre' / 'epoch_1.pth')['state_dict']
    for key in pre:
        if 'running' not in key and 'num_batches' not in key:
            assert torch.equal(out[key], pre[key]), key
