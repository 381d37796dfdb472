"""The bad-input matrix of docs/reliability.md, through tools/train.py's own
entry point (``mixssl_mm.utils.train_tool.main``, run in this process to
save interpreter start-ups): each bad input is refused with a message that
names the problem and the fix, and leaves no work dir behind."""
import os
import os.path as osp
import re
import time

import numpy as np
import pytest
import torch

from mixssl_mm.engine.hooks import NonFiniteLossError
from mixssl_mm.apis.train import main
from mixssl_mm.utils.train_tool import IMPORT_LINE, ConfigError
from tests.conftest import write_image_folder

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HELPERS = osp.join(REPO, 'tests', '_helpers')

PRETRAIN = """
_base_ = ['{repo}/configs/_base_/models/mixssl_resnet50.py',
          'mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['mixssl_mm', 'reliability_helpers'],
                      allow_failed_imports=False)
model = dict(backbone=dict(depth=18, stem_channels=16, base_channels=16),
             neck=dict(in_channels=128, n_blocks=1, res_channels=64, ngf=16),
             head=dict(in_channels=128, hid_channels=32))
data_preprocessor = dict(type='SelfSupDataPreprocessor',
                         mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)
view = [dict(type='LoadImageFromFile', color_type='{target_color}'),
        dict(type='Resize', scale=({size}, {size}))]
aux_view = [dict(type='LoadImageFromFile', color_type='{aux_color}'),
            dict(type='Resize', scale=({size}, {size}))]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CustomDataset', data_root='{target}', with_label=False,
                 pipeline=[*view, {poison}
                           dict(type='CrossDomainMixup', aux_dataset='{aux}',
                                aux_pipeline=aux_view{mixup}),
                           dict(type='PackInputs', algorithm_keys=[
                               'mix_alpha', 'mix_lam', 'aux_label'])]))
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=1),
    non_finite=dict(type='NonFiniteLossHook'))
custom_hooks = [dict(type='RecordRunHook')]
randomness = dict(seed=0)
"""

FINETUNE = """
_base_ = ['mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['mixssl_mm'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth={depth}, stem_channels=16,
                  base_channels=16, init_cfg=dict(
                      type='Pretrained', checkpoint='{ckpt}',
                      prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=2, in_channels=128,
              loss=dict(type='CrossEntropyLoss'), topk=(1, )))
data_preprocessor = dict(num_classes=2, mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root='{target}',
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='Resize', scale=(32, 32)),
                           dict(type='PackInputs')]))
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
"""

MEDMNIST = """
_base_ = ['{repo}/configs/_base_/models/mixssl_resnet50.py',
          'mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['mixssl_mm'], allow_failed_imports=False)
model = dict(backbone=dict(depth=18, stem_channels=16, base_channels=16),
             neck=dict(in_channels=128, n_blocks=1, res_channels=64, ngf=16),
             head=dict(in_channels=128, hid_channels=32))
data_preprocessor = dict(type='SelfSupDataPreprocessor',
                         mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)
view = [dict(type='Resize', scale=(32, 32))]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='MedMNIST', data_root='{root}', ann_file='{name}',
                 split='train', with_label=False,
                 pipeline=[*view,
                           dict(type='CrossDomainMixup',
                                aux_dataset=dict(type='NaturalPhotoPool',
                                                 pipeline=view)),
                           dict(type='PackInputs', algorithm_keys=[
                               'mix_alpha', 'mix_lam', 'aux_label'])]))
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
"""


@pytest.fixture
def folders(tmp_path):
    return (write_image_folder(tmp_path / 'target', 8, seed=1),
            write_image_folder(tmp_path / 'aux', 5, classes=('x', ), seed=2))


@pytest.fixture(autouse=True)
def _helpers_importable(monkeypatch):
    monkeypatch.syspath_prepend(HELPERS)


@pytest.fixture(autouse=True, scope='module')
def _keep_the_suite_scope():
    # every Runner makes its scope the current one; leave mmpretrain's
    yield
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')


pytestmark = pytest.mark.usefixtures('one_thread')


def write_cfg(tmp_path, request, text, **fields):
    # a unique file name: mmengine names the run's logger, message hub and
    # visualizer instances after it
    name = re.sub(r'\W', '_', request.node.name)
    path = tmp_path / f'{name}_{len(list(tmp_path.glob("*.py")))}.py'
    path.write_text(text.format(repo=REPO, **fields))
    return str(path)


def pretrain_cfg(tmp_path, request, folders, size=32, target_color='color',
                 aux_color='color', mixup='', poison=''):
    target, aux = folders
    return write_cfg(tmp_path, request, PRETRAIN, target=target, aux=aux,
                     size=size, target_color=target_color,
                     aux_color=aux_color, mixup=mixup, poison=poison)


def train(cfg, work, *extra):
    # mmengine names a run (and its global Visualizer instance) by the
    # second it starts: in-process runs within one second would share the
    # log dir that a failed run's clean-up removed
    time.sleep(1.1)
    return main([cfg, '--work-dir', str(work), *extra])


def corrupt(path, data=b'this is not an image'):
    with open(path, 'wb') as f:
        f.write(data)
    return str(path)


def iters_of(work):
    return torch.load(osp.join(work, open(osp.join(
        work, 'last_checkpoint')).read().strip()))['meta']['iter']


# -- auxiliary and target data ---------------------------------------------
@pytest.mark.parametrize('kind', ['missing', 'empty'])
def test_missing_or_empty_auxiliary_folder(tmp_path, request, folders, kind):
    aux = tmp_path / f'{kind}_aux'
    if kind == 'empty':
        aux.mkdir()
    cfg = pretrain_cfg(tmp_path, request, (folders[0], str(aux)))
    work = tmp_path / 'work'
    with pytest.raises(ValueError, match=f'auxiliary dataset.*{kind}_aux.*'
                       r'(?s:.*)NaturalPhotoPool'):
        train(cfg, work)
    assert not work.exists()


def test_unreadable_auxiliary_image_is_named_or_skipped(
        tmp_path, request, folders):
    bad = corrupt(osp.join(folders[1], 'x', '003.jpg'), b'')
    work = tmp_path / 'work'
    with pytest.raises(ValueError, match=re.escape(bad) +
                       r'(?s:.*)skip_corrupt=True'):
        train(pretrain_cfg(tmp_path, request, folders), work)
    assert not work.exists()
    # told to skip: it trains on the readable four
    cfg = pretrain_cfg(tmp_path, request, folders,
                       mixup=', skip_corrupt=True')
    with pytest.warns(UserWarning, match=r'skipping 1 unreadable auxiliary '
                      r'image\(s\)(?s:.*)' + re.escape(bad)):
        train(cfg, work)
    assert iters_of(work) == 2


def test_unreadable_target_image_is_named_or_skipped(tmp_path, request,
                                                     folders):
    target, _ = folders
    write_image_folder(osp.join(target), 9, seed=3)  # 9 images: 3 batches
    bad = corrupt(osp.join(target, 'b', '005.jpg'))
    cfg = pretrain_cfg(tmp_path, request, folders)
    work = tmp_path / 'work'
    with pytest.raises(ConfigError, match=re.escape(bad) +
                       r'(?s:.*)data_check.skip_corrupt=True'):
        train(cfg, work)
    assert not work.exists()
    train(cfg, work, '--cfg-options', 'data_check.skip_corrupt=True')
    assert iters_of(work) == 2  # the 8 readable images


@pytest.mark.parametrize('target_color,aux_color', [('grayscale', 'color'),
                                                    ('color', 'grayscale')])
def test_gray_and_colour_mix_as_three_channels(tmp_path, request, folders,
                                               target_color, aux_color):
    cfg = pretrain_cfg(tmp_path, request, folders, target_color=target_color,
                       aux_color=aux_color)
    train(cfg, tmp_path / 'work')
    assert iters_of(tmp_path / 'work') == 2


# -- mixing parameters -----------------------------------------------------
@pytest.mark.parametrize('mixup,message', [
    (', alpha=0', 'alpha must be a finite number > 0'),
    (", alpha='one'", 'alpha must be a finite number > 0'),
    (', fixed_lam=1.5', r'fixed_lam must be a number in \[0, 1\]'),
    (', fixed_lam=-0.1', r'fixed_lam must be a number in \[0, 1\]'),
])
def test_bad_alpha_or_fixed_lambda(tmp_path, request, folders, mixup,
                                   message):
    work = tmp_path / 'work'
    with pytest.raises(ValueError, match=message):
        train(pretrain_cfg(tmp_path, request, folders, mixup=mixup), work)
    assert not work.exists()


def test_fixed_lambda_is_what_the_model_mixes_with(tmp_path, request,
                                                   folders):
    import json
    cfg = pretrain_cfg(tmp_path, request, folders, mixup=', fixed_lam=0.3')
    train(cfg, tmp_path / 'work')
    lams = json.load(open(tmp_path / 'work' / 'record_rank0.json'))['lams']
    assert len(lams) == 2
    assert all(v == pytest.approx(0.3) for batch in lams for v in batch)


def test_negative_gamma_keeps_an_existing_work_dir_as_it_was(
        tmp_path, request, folders):
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'notes.txt').write_text('mine')
    with pytest.raises(ValueError, match=r'loss_weight \(γ\) must be a '
                       'number >= 0'):
        train(pretrain_cfg(tmp_path, request, folders), work,
              '--cfg-options', 'model.head.loss.loss_weight=-1.0')
    assert os.listdir(work) == ['notes.txt']


# -- model -----------------------------------------------------------------
def test_decoder_channels_not_matching_the_encoder(tmp_path, request,
                                                   folders):
    work = tmp_path / 'work'
    with pytest.raises(ValueError, match='encoder outputs 128 channels but '
                       'neck.in_channels=2048; set model.neck.in_channels'):
        train(pretrain_cfg(tmp_path, request, folders), work,
              '--cfg-options', 'model.neck.in_channels=2048')
    assert not work.exists()


def test_input_size_the_decoder_cannot_restore(tmp_path, request, folders):
    work = tmp_path / 'work'
    with pytest.raises(ValueError, match='40x40 is not divisible by the '
                       'encoder stride 32'):
        train(pretrain_cfg(tmp_path, request, folders, size=40), work)
    assert not work.exists()  # failed in iteration 1: nothing kept


def test_config_without_custom_imports(tmp_path, request, folders):
    cfg = pretrain_cfg(tmp_path, request, folders)
    text = open(cfg).read()
    text = text[:text.index('custom_imports')] + text[text.index(
        'model = dict('):]
    with open(cfg, 'w') as f:
        f.write(text)
    work = tmp_path / 'work'
    with pytest.raises(ConfigError, match=re.escape(IMPORT_LINE)):
        train(cfg, work)
    assert not work.exists()


# -- MedMNIST files ----------------------------------------------------------
def test_medmnist_file_with_missing_keys_or_wrong_md5(tmp_path, request):
    root = tmp_path / 'medmnist'
    root.mkdir()
    images = np.zeros((8, 28, 28, 3), np.uint8)
    np.savez(root / 'cells.npz', val_images=images)
    work = tmp_path / 'work'
    with pytest.raises(KeyError, match=r"lacks \['train_images'\]"):
        train(write_cfg(tmp_path, request, MEDMNIST, root=root,
                        name='cells.npz'), work)
    assert not work.exists()
    # right keys, but not the official BloodMNIST content
    np.savez(root / 'bloodmnist.npz', train_images=images,
             train_labels=np.zeros((8, 1), np.uint8))
    with pytest.raises(ConfigError, match='not the official bloodmnist.npz'
                       r'(?s:.*)fetch_bloodmnist.py'):
        train(write_cfg(tmp_path, request, MEDMNIST, root=root,
                        name='bloodmnist.npz'), work)
    assert not work.exists()


# -- pretrained checkpoints (fine-tuning) ------------------------------------
@pytest.fixture
def resnet18_checkpoint(tmp_path):
    from mmpretrain.models import ResNet
    state = {f'backbone.{k}': v for k, v in ResNet(
        depth=18, stem_channels=16, base_channels=16).state_dict()
             .items()}
    path = tmp_path / 'pre.pth'
    torch.save({'meta': {}, 'state_dict': state}, path)
    return str(path)


def test_pretrained_checkpoint_missing_or_unreadable(tmp_path, request,
                                                     folders):
    work = tmp_path / 'work'
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(ConfigError, match=re.escape(
            f"model.backbone.init_cfg.checkpoint='{missing}': no such file")):
        train(write_cfg(tmp_path, request, FINETUNE, depth=18, ckpt=missing,
                        target=folders[0]), work)
    assert not work.exists()
    text = corrupt(tmp_path / 'text.pth')
    with pytest.raises(ConfigError, match='cannot be read as a checkpoint'):
        train(write_cfg(tmp_path, request, FINETUNE, depth=18, ckpt=text,
                        target=folders[0]), work)
    assert not work.exists()


def test_pretrained_checkpoint_that_does_not_fit(tmp_path, request, folders,
                                                 resnet18_checkpoint):
    work = tmp_path / 'work'
    cfg = write_cfg(tmp_path, request, FINETUNE, depth=34,
                    ckpt=resnet18_checkpoint, target=folders[0])
    with pytest.raises(ConfigError) as info:
        train(cfg, work)
    msg = str(info.value)
    assert 'model.backbone.init_cfg' in msg and 'missing keys: ' in msg
    assert 'layer1.2.' in msg  # ResNet-34 has 3 blocks there
    assert 'strict_pretrained=False' in msg
    assert not work.exists()
    # a wrong prefix is named too
    with pytest.raises(ConfigError, match="starts with prefix='neck.'"):
        train(cfg, work, '--cfg-options', 'model.backbone.depth=18',
              'model.backbone.init_cfg.prefix=neck.')
    # the same checkpoint on the right architecture fine-tunes
    train(cfg, work, '--cfg-options', 'model.backbone.depth=18')
    ft = torch.load(work / 'epoch_1.pth')['state_dict']
    pre = torch.load(resnet18_checkpoint)['state_dict']
    # 2 Adam steps of lr 1e-4 move a weight by at most ~2e-4
    torch.testing.assert_close(ft['backbone.conv1.weight'],
                               pre['backbone.conv1.weight'], atol=3e-4,
                               rtol=0)


# -- ImageNet weights that were not converted (docs/model_converters.md) -----
CONVERTER = 'python tools/model_converters/resnet_to_mmpretrain.py'


@pytest.fixture
def torchvision_layout_checkpoint(tmp_path):
    """What torchvision weights and DINO's backbone release look like: the
    ResNet's keys at the top level (no 'backbone.') and, for torchvision,
    the classifier."""
    from mmpretrain.models import ResNet
    state = dict(ResNet(depth=18, stem_channels=16,
                        base_channels=16).state_dict())
    state.update({'fc.weight': torch.zeros(2, 128), 'fc.bias': torch.zeros(2)})
    path = tmp_path / 'resnet18-imagenet.pth'
    torch.save(state, path)
    return str(path)


def test_unconverted_imagenet_weights_name_the_converter(
        tmp_path, request, folders, torchvision_layout_checkpoint):
    import argparse
    ckpt = torchvision_layout_checkpoint
    command = (f'{CONVERTER} {ckpt} '
               'checkpoints/resnet18-imagenet_mmpretrain.pth')
    cfg = write_cfg(tmp_path, request, FINETUNE, depth=18, ckpt=ckpt,
                    target=folders[0])
    work = tmp_path / 'work'
    # prefix='backbone.' selects nothing
    with pytest.raises(ConfigError) as info:
        train(cfg, work)
    msg = str(info.value)
    assert "starts with prefix='backbone.'" in msg
    assert 'unconverted torchvision-layout ResNet-18 state dict' in msg
    assert command in msg
    assert not work.exists()
    # no prefix: the keys fit but for torchvision's classifier
    with pytest.raises(ConfigError) as info:
        train(cfg, work, '--cfg-options',
              'model.backbone.init_cfg.prefix=None')
    msg = str(info.value)
    assert 'unexpected keys: fc.bias, fc.weight' in msg and command in msg
    # as load_from: not one key is the model's, nothing would be loaded
    with pytest.raises(ConfigError) as info:
        train(cfg, work, '--cfg-options', 'model.backbone.init_cfg=None',
              f'load_from={ckpt}')
    msg = str(info.value)
    assert f"load_from='{ckpt}': none of its keys is a key of the model " \
        '(ImageClassifier)' in msg and command in msg
    assert not work.exists()
    # a DINO training checkpoint: refused by weights-only loading for its
    # args, or (without them) a dict of teacher/student
    state = torch.load(ckpt)
    dino = {'teacher': {f'module.backbone.{k}': v for k, v in state.items()},
            'epoch': 100}
    with_args = {'args': argparse.Namespace(arch='resnet18')}
    for name, extra in (('checkpoint.pth', with_args), ('no_args.pth', {})):
        path = tmp_path / name
        torch.save({**dino, **extra}, path)
        with pytest.raises(ConfigError) as info:
            train(cfg, work, '--cfg-options',
                  f'model.backbone.init_cfg.checkpoint={path}')
        msg = str(info.value)
        assert 'DINO training checkpoint' in msg, msg
        assert f'{CONVERTER} {path} ' in msg
    assert not work.exists()


def test_missing_converted_checkpoint_or_load_from(tmp_path, request,
                                                   folders):
    missing = str(tmp_path / 'checkpoints' / 'dino_resnet50_mmpretrain.pth')
    cfg = write_cfg(tmp_path, request, FINETUNE, depth=18, ckpt=missing,
                    target=folders[0])
    work = tmp_path / 'work'
    with pytest.raises(ConfigError) as info:
        train(cfg, work)
    msg = str(info.value)
    assert f"model.backbone.init_cfg.checkpoint='{missing}': no such " \
        'file' in msg and f'{CONVERTER} SRC.pth {missing}' in msg
    with pytest.raises(ConfigError) as info:
        train(cfg, work, '--cfg-options', 'model.backbone.init_cfg=None',
              f'load_from={missing}')
    msg = str(info.value)
    assert f"load_from='{missing}': no such file" in msg
    assert f'{CONVERTER} SRC.pth {missing}' in msg
    with pytest.raises(ConfigError, match=re.escape(
            f"load_from='{missing}' (set by --resume PATH): no such file")):
        train(cfg, work, '--cfg-options', 'model.backbone.init_cfg=None',
              '--resume', missing)
    assert not work.exists()


def test_converted_weights_load_through_init_cfg_and_load_from(
        tmp_path, request, folders):
    import torchvision

    from mixssl_mm.utils.resnet_converter import main as convert
    src, dst = tmp_path / 'resnet18.pth', tmp_path / 'resnet18_mm.pth'
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), src)
    assert convert([str(src), str(dst)]) == 0
    pre = torch.load(dst)['state_dict']
    cfg = write_cfg(tmp_path, request, FINETUNE, depth=18, ckpt=dst,
                    target=folders[0])
    full_width = ['model.backbone.stem_channels=64',
                  'model.backbone.base_channels=64',
                  'model.head.in_channels=512']
    for name, options in (('init_cfg', []), (
            'load_from', ['model.backbone.init_cfg=None',
                          f'load_from={dst}'])):
        work = tmp_path / name
        train(cfg, work, '--cfg-options', *full_width, *options)
        ft = torch.load(work / 'epoch_1.pth')['state_dict']
        # 2 Adam steps of lr 1e-4 move a weight by at most ~2e-4
        for key in ('backbone.conv1.weight',
                    'backbone.layer4.1.conv2.weight'):
            torch.testing.assert_close(ft[key], pre[key], atol=3e-4, rtol=0)


# -- training itself ---------------------------------------------------------
def test_non_finite_loss_stops_before_the_bad_step_is_saved(
        tmp_path, request, folders):
    # b/005.jpg, whose pixels become NaN, is in the second batch
    cfg = pretrain_cfg(tmp_path, request, folders,
                       poison="dict(type='PoisonSample', name='005'),")
    work = tmp_path / 'work'
    with pytest.raises(NonFiniteLossError) as info:
        train(cfg, work, '--cfg-options',
              'default_hooks.checkpoint.by_epoch=False')
    msg = str(info.value)
    assert 'non-finite loss (loss=nan' in msg and 'iteration 2 ' in msg
    assert msg.count('iter_1.pth') == 1 and '--resume' in msg
    assert not (work / 'iter_2.pth').exists()
    good = torch.load(work / 'iter_1.pth')['state_dict']
    assert all(torch.isfinite(v).all() for v in good.values()
               if v.is_floating_point())


def test_work_dir_with_checkpoints_needs_resume_or_overwrite(
        tmp_path, request, folders):
    work = tmp_path / 'work'
    cfg = pretrain_cfg(tmp_path, request, folders)
    train(cfg, work)
    before = sorted(os.listdir(work))
    with pytest.raises(ConfigError, match=r'already holds checkpoints '
                       r'(?s:.*)--resume(?s:.*)--work-dir(?s:.*)--overwrite'):
        train(cfg, work)
    assert sorted(os.listdir(work)) == before
    stale = work / 'iter_9.pth'
    stale.write_bytes(b'from an older run')
    train(cfg, work, '--overwrite')
    assert not stale.exists() and iters_of(work) == 2


def test_resume_from_a_crafted_checkpoint_is_refused(tmp_path, request,
                                                     folders):
    import pickle

    class Evil:

        def __reduce__(self):
            return os.system, ('echo pwned',)

    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': Evil()}, evil)
    work = tmp_path / 'work'
    with pytest.raises(pickle.UnpicklingError) as info:
        train(pretrain_cfg(tmp_path, request, folders), work, '--resume',
              str(evil))
    msg = str(info.value)
    assert msg.startswith(f'refusing to load checkpoint {evil}: it needs `')
    assert 'system' in msg and 'Trust model' in msg
    assert len(msg) < 700  # not torch's page-long message
    assert not work.exists()
