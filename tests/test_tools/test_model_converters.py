"""tools/model_converters/resnet_to_mmpretrain.py on generated torchvision
and DINO checkpoints: the output loads strictly into mmpretrain's ResNet and
computes what torchvision's network computes; every refusal writes nothing;
the converted file fine-tunes and initialises MixSSL through tools/train.py.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torchvision

from mixssl_mm.utils.resnet_converter import DINO_R50_URL, \
    TORCHVISION_R50_URL, check_against_mmpretrain, extract_backbone, main

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'model_converters', 'resnet_to_mmpretrain.py')
DATA = osp.join(REPO, 'data', 'medmnist', 'bloodmnist.npz')


pytestmark = pytest.mark.usefixtures('one_thread')


def torchvision_resnet(depth, seed=0):
    """A torchvision ResNet with random weights *and* random BN statistics,
    so that a swapped or missed buffer changes the output."""
    torch.manual_seed(seed)
    net = getattr(torchvision.models, f'resnet{depth}')(weights=None)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
            m.num_batches_tracked.fill_(7)
    return net.eval()


def convert(*args):
    """The tool in this process (saves interpreter start-ups); returns
    ``(exit status, stdout + stderr)``."""
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        rc = main([str(a) for a in args])
    return rc, out.getvalue()


def mm_resnet(depth, path):
    """mmpretrain's ResNet with the converted checkpoint loaded strictly."""
    from mmpretrain.models import ResNet
    state = torch.load(path)['state_dict']  # weights_only=True by default
    assert all(k.startswith('backbone.') for k in state)
    net = ResNet(depth=depth)
    net.load_state_dict({k[9:]: v for k, v in state.items()}, strict=True)
    net.eval()  # mmpretrain's ResNet.train() returns None
    return net


def assert_same_features(tv_net, mm_net, size=64):
    tv_net.fc = torch.nn.Identity()  # pooled features
    x = torch.randn(2, 3, size, size,
                    generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = tv_net(x)
        out = mm_net(x)[-1].mean(dim=(2, 3))  # + global average pooling
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


# -- conversions -------------------------------------------------------------
def test_torchvision_resnet18_through_the_cli(tmp_path):
    net = torchvision_resnet(18)
    src = tmp_path / 'resnet18.pth'
    torch.save(net.state_dict(), src)
    dst = tmp_path / 'out' / 'resnet18_mm.pth'  # the folder is created
    out = subprocess.run([sys.executable, TOOL, str(src), str(dst)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'ResNet-18' in out.stdout and "prefix='backbone.'" in out.stdout
    ckpt = torch.load(dst)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(
        str(dst)) == []
    meta = ckpt['meta']
    assert meta['src_format'] == 'torchvision' and meta['depth'] == 18
    assert meta['dropped_keys'] == ['fc.bias', 'fc.weight']
    source = net.state_dict()
    for key, value in ckpt['state_dict'].items():
        assert torch.equal(value, source[key[len('backbone.'):]]), key
    assert_same_features(net, mm_resnet(18, dst))
    assert not [n for n in os.listdir(dst.parent) if '.part' in n]


def test_torchvision_resnet50_bottlenecks_match(tmp_path):
    # Bottleneck: mmpretrain's style='pytorch' puts the stride on the 3x3
    # conv as torchvision does; the forward pass checks it
    net = torchvision_resnet(50)
    src, dst = tmp_path / 'r50.pth', tmp_path / 'r50_mm.pth'
    torch.save(net.state_dict(), src)
    rc, log = convert(src, dst, '--depth', '50')
    assert rc == 0, log
    assert_same_features(net, mm_resnet(50, dst))


def test_dino_release_and_training_checkpoint(tmp_path):
    teacher, student = torchvision_resnet(18, 0), torchvision_resnet(18, 1)
    # the backbone release: no fc (DINO's is Identity) and, like old
    # torchvision files, no num_batches_tracked
    release = {k: v for k, v in teacher.state_dict().items()
               if not k.startswith('fc.') and 'num_batches' not in k}
    torch.save(release, tmp_path / 'dino_resnet18_pretrain.pth')
    rc, log = convert(tmp_path / 'dino_resnet18_pretrain.pth',
                      tmp_path / 'release.pth', '--src-format', 'dino')
    assert rc == 0, log
    meta = torch.load(tmp_path / 'release.pth')['meta']
    assert meta['src_format'] == 'dino' and meta['dropped_keys'] == []
    assert meta['filled_num_batches_tracked'] == 20
    assert_same_features(teacher, mm_resnet(18, tmp_path / 'release.pth'))

    # the training checkpoint: DDP's module. + MultiCropWrapper's backbone.
    # (or backbone. only), the projection head, the args Namespace
    head = {'head.mlp.0.weight': torch.randn(8, 512),
            'head.last_layer.weight_g': torch.ones(16, 1)}
    full = {
        'teacher': {**{f'module.backbone.{k}': v
                       for k, v in teacher.state_dict().items()
                       if not k.startswith('fc.')},
                    **{f'module.{k}': v for k, v in head.items()}},
        'student': {**{f'backbone.{k}': v
                       for k, v in student.state_dict().items()
                       if not k.startswith('fc.')}, **head},
        'args': argparse.Namespace(arch='resnet18', lr=0.03),
        'epoch': 100, 'dino_loss': {'center': torch.zeros(1, 16)},
    }
    torch.save(full, tmp_path / 'checkpoint.pth')
    for key, net in (('teacher', teacher), ('student', student)):
        dst = tmp_path / f'{key}.pth'
        args = [tmp_path / 'checkpoint.pth', dst]
        rc, log = convert(*args, *(['--dino-key', key]
                                   if key == 'student' else []))
        assert rc == 0, log
        meta = torch.load(dst)['meta']
        assert meta['dino_key'] == key and meta['src_format'] == 'dino'
        assert meta['dropped_keys'] == sorted(head)
        assert_same_features(net, mm_resnet(18, dst))


@pytest.mark.parametrize('depth', [18, 34, 50, 101, 152])
def test_every_resnet_depth_is_recognised(depth):
    # keys and shapes only: a meta-device network allocates nothing
    with torch.device('meta'):
        net = getattr(torchvision.models, f'resnet{depth}')(weights=None)
    state, fmt, dropped = extract_backbone(net.state_dict(), 'src')
    out, found, filled = check_against_mmpretrain(state, 'src')
    assert (found, fmt, dropped, filled) == (depth, 'torchvision',
                                             ['fc.bias', 'fc.weight'], 0)
    assert len(out) == len(net.state_dict()) - 2


# -- refusals: a message with the cause and the fix, nothing written -------
def refused(src, dst, *options):
    """Run the tool; it must fail with a message and write nothing: no new
    DST, an existing one unchanged, no temporary file left."""
    before = dst.read_bytes() if dst.is_file() else None
    rc, log = convert(src, dst, *options)
    assert rc == 1 and log.startswith('error: ') and \
        'Nothing was written.' in log, log
    if before is None:
        assert not dst.exists()
    else:
        assert dst.read_bytes() == before
    folder = dst.parent if dst.parent.is_dir() else dst.parent.parent
    assert not [n for n in os.listdir(folder) if '.part' in n]
    return log


@pytest.fixture
def resnet18_file(tmp_path):
    path = tmp_path / 'resnet18.pth'
    torch.save(torchvision_resnet(18).state_dict(), path)
    return path


def test_missing_source_names_where_to_get_weights(tmp_path):
    log = refused(tmp_path / 'dino_resnet50_pretrain.pth',
                  tmp_path / 'dst.pth')
    assert f'SRC {tmp_path}/dino_resnet50_pretrain.pth: no such file' in log
    assert TORCHVISION_R50_URL in log and DINO_R50_URL in log
    assert 'ResNet50_Weights.IMAGENET1K_V1' in log


def test_existing_destination_needs_force(tmp_path, resnet18_file):
    dst = tmp_path / 'dst.pth'
    dst.write_bytes(b'keep me')
    assert 'already exists; pass --force' in refused(resnet18_file, dst)
    assert 'is SRC' in refused(resnet18_file, resnet18_file, '--force')
    rc, log = convert(resnet18_file, dst, '--force')
    assert rc == 0, log
    assert torch.load(dst)['meta']['depth'] == 18


def test_a_write_that_fails_leaves_nothing(tmp_path, resnet18_file):
    (tmp_path / 'a_file').write_text('')
    log = refused(resnet18_file, tmp_path / 'a_file' / 'out.pth')
    assert 'cannot write DST' in log


@pytest.mark.parametrize('obj,message', [
    (torch.ones(3), 'is not a state dict: it holds a Tensor'),
    ({'epoch': 3, 'lr': 0.1}, "it holds a dict {'epoch': int, 'lr': float}"),
])
def test_not_a_state_dict(tmp_path, obj, message):
    torch.save(obj, tmp_path / 'src.pth')
    assert message in refused(tmp_path / 'src.pth', tmp_path / 'dst.pth')


def test_pickled_module_is_refused_unloaded(tmp_path):
    torch.save(torchvision.models.resnet18(weights=None), tmp_path / 'm.pth')
    log = refused(tmp_path / 'm.pth', tmp_path / 'dst.pth')
    assert 'torchvision.models.resnet.ResNet' in log
    assert 'pickled module, not a state dict' in log
    assert 'model.state_dict()' in log


def test_text_file_is_refused(tmp_path):
    (tmp_path / 'notes.pth').write_text('not a checkpoint')
    assert 'cannot be read as a torch checkpoint' in refused(
        tmp_path / 'notes.pth', tmp_path / 'dst.pth')


@pytest.mark.parametrize('keys,cause', [
    (['cls_token', 'pos_embed', 'patch_embed.proj.weight',
      'blocks.0.attn.qkv.weight', 'norm.weight'], 'looks like a ViT'),
    (['stem.0.weight', 'stem.1.weight', 'layer1.0.conv1.weight'],
     'deep-stem ResNet'),
    (['encoder_q.conv1.weight', 'encoder_q.layer1.0.conv1.weight'],
     "under the prefix 'encoder_q.'"),
    (['features.0.weight', 'classifier.weight'], 'VGG/DenseNet/MobileNet'),
])
def test_other_architectures_are_named(tmp_path, keys, cause):
    torch.save({k: torch.zeros(1) for k in keys}, tmp_path / 'src.pth')
    log = refused(tmp_path / 'src.pth', tmp_path / 'dst.pth')
    assert 'does not hold a ResNet' in log and cause in log
    assert keys[0] in log or sorted(keys)[0] in log


def test_wrong_depth_extra_keys_and_shapes(tmp_path, resnet18_file):
    dst = tmp_path / 'dst.pth'
    log = refused(resnet18_file, dst, '--depth', '50')
    assert 'BasicBlock blocks (2, 2, 2, 2) per stage (ResNet-18)' in log
    assert '--depth 50 needs Bottleneck blocks (3, 4, 6, 3)' in log
    assert 'Pass --depth 18' in log

    state = torch.load(resnet18_file)
    state['layer4.1.se.fc.weight'] = torch.zeros(4)
    del state['layer2.0.downsample.1.running_var']
    torch.save(state, tmp_path / 'extra.pth')
    log = refused(tmp_path / 'extra.pth', dst)
    assert 'does not match mmpretrain ResNet-18' in log
    assert 'unexpected keys: layer4.1.se.fc.weight' in log
    assert 'missing keys: layer2.0.downsample.1.running_var' in log

    state = torch.load(resnet18_file)
    state['conv1.weight'] = torch.zeros(64, 3, 3, 3)
    torch.save(state, tmp_path / 'shape.pth')
    log = refused(tmp_path / 'shape.pth', dst)
    assert 'conv1.weight (64, 3, 3, 3) vs (64, 3, 7, 7)' in log
    assert 'Wide ResNet or ResNeXt' in log


def test_dino_options_that_do_not_fit(tmp_path, resnet18_file):
    state = torch.load(resnet18_file)
    torch.save({'teacher': {f'backbone.{k}': v for k, v in state.items()}},
               tmp_path / 'checkpoint.pth')
    src, dst = tmp_path / 'checkpoint.pth', tmp_path / 'dst.pth'
    log = refused(src, dst, '--src-format', 'torchvision')
    assert 'DINO training checkpoint' in log and '--src-format dino' in log
    log = refused(src, dst, '--dino-key', 'student')
    assert "no 'student' entry (it has ['teacher'])" in log


# -- the converted file in training runs -----------------------------------
def train(cfg, work_dir, *options):
    out = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), cfg,
         '--work-dir', str(work_dir), '--cfg-options', *options],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


# a few BloodMNIST images at 32/64 px, one process, no validation
SMALL = ['train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
         'train_dataloader.persistent_workers=False',
         'train_dataloader.pin_memory=False', 'train_cfg.max_epochs=1']


@pytest.fixture(scope='module')
def converted_resnet18(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('conv')
    net = torchvision_resnet(18)
    torch.save(net.state_dict(), tmp / 'resnet18.pth')
    rc, log = convert(tmp / 'resnet18.pth', tmp / 'resnet18_mm.pth')
    assert rc == 0, log
    return tmp / 'resnet18_mm.pth'


@pytest.mark.skipif(not osp.exists(DATA), reason='fetch the data first: '
                    'python tools/data/fetch_bloodmnist.py')
def test_imagenet_self_config_fine_tunes_from_the_converted_file(
        tmp_path, converted_resnet18):
    cfg = osp.join(REPO, 'configs', 'mixssl', 'benchmarks',
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


@pytest.mark.skipif(not osp.exists(DATA), reason='fetch the data first: '
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
