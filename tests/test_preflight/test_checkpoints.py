"""mixssl_mm.preflight.checkpoints: Pretrained init_cfg and load_from files
must exist and fit the model, or the run is refused before it starts (an
unconverted torchvision/DINO file is named with the converter command)."""
import argparse
import re

import pytest
import torch

from mixssl_mm.preflight import ConfigError
from tests._helpers.training import classifier_config

CONVERTER = 'python tools/model_converters/resnet_to_mmpretrain.py'


def _tiny_resnet18_state():
    from mmpretrain.models import ResNet
    return ResNet(depth=18, stem_channels=16, base_channels=16).state_dict()


@pytest.fixture
def resnet18_checkpoint(tmp_path):
    state = {f'backbone.{k}': v for k, v in _tiny_resnet18_state().items()}
    path = tmp_path / 'pre.pth'
    torch.save({'meta': {}, 'state_dict': state}, path)
    return str(path)


@pytest.fixture
def torchvision_layout_checkpoint(tmp_path):
    """What torchvision weights and DINO's backbone release look like: the
    ResNet's keys at the top level (no 'backbone.') and, for torchvision,
    the classifier."""
    state = dict(_tiny_resnet18_state())
    state.update({'fc.weight': torch.zeros(2, 128), 'fc.bias': torch.zeros(2)})
    path = tmp_path / 'resnet18-imagenet.pth'
    torch.save(state, path)
    return str(path)


def finetune(trainer, folders, ckpt, depth=18):
    return trainer.write(classifier_config(folders[0], ckpt, depth=depth))


def test_pretrained_checkpoint_missing_or_unreadable(tmp_path, image_folders,
                                                     train_in_process):
    work = tmp_path / 'work'
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(
            ConfigError,
            match=re.escape(
                f"model.backbone.init_cfg.checkpoint='{missing}': no such file"
            )):
        train_in_process(
            finetune(train_in_process, image_folders, missing), work)
    assert not work.exists()
    text = tmp_path / 'text.pth'
    text.write_bytes(b'this is not an image')
    with pytest.raises(ConfigError, match='cannot be read as a checkpoint'):
        train_in_process(finetune(train_in_process, image_folders, text), work)
    assert not work.exists()
    torch.save(torch.zeros(3), tmp_path / 'tensor.pth')
    with pytest.raises(ConfigError, match='holds a Tensor, not a checkpoint'):
        train_in_process(
            finetune(train_in_process, image_folders, tmp_path / 'tensor.pth'),
            work)


def test_pretrained_checkpoint_that_does_not_fit(tmp_path, image_folders,
                                                 resnet18_checkpoint,
                                                 train_in_process):
    work = tmp_path / 'work'
    cfg = finetune(
        train_in_process, image_folders, resnet18_checkpoint, depth=34)
    with pytest.raises(ConfigError) as info:
        train_in_process(cfg, work)
    msg = str(info.value)
    assert msg.startswith('model.backbone.init_cfg: the checkpoint '
                          f"{resnet18_checkpoint} does not fit the model's "
                          'backbone (ResNet)')
    assert 'missing keys (in the model, not in the checkpoint): ' in msg
    assert 'layer1.2.' in msg  # ResNet-34 has 3 blocks there
    assert 'strict_pretrained=False' in msg
    assert not work.exists()
    # a wrong prefix is named too
    with pytest.raises(ConfigError, match="starts with prefix='neck.'"):
        train_in_process(cfg, work, '--cfg-options', 'model.backbone.depth=18',
                         'model.backbone.init_cfg.prefix=neck.')
    # the same checkpoint on the right architecture fine-tunes
    train_in_process(cfg, work, '--cfg-options', 'model.backbone.depth=18')
    ft = torch.load(work / 'epoch_1.pth')['state_dict']
    pre = torch.load(resnet18_checkpoint)['state_dict']
    # 2 Adam steps of lr 1e-4 move a weight by at most ~2e-4
    torch.testing.assert_close(
        ft['backbone.conv1.weight'],
        pre['backbone.conv1.weight'],
        atol=3e-4,
        rtol=0)


def test_unconverted_imagenet_weights_name_the_converter(
        tmp_path, image_folders, torchvision_layout_checkpoint,
        train_in_process):
    ckpt = torchvision_layout_checkpoint
    command = (f'{CONVERTER} {ckpt} '
               'checkpoints/resnet18-imagenet_mmpretrain.pth')
    cfg = finetune(train_in_process, image_folders, ckpt)
    work = tmp_path / 'work'
    # prefix='backbone.' selects nothing
    with pytest.raises(ConfigError) as info:
        train_in_process(cfg, work)
    msg = str(info.value)
    assert "starts with prefix='backbone.'" in msg
    assert 'unconverted torchvision-layout ResNet-18 state dict' in msg
    assert command in msg
    assert not work.exists()
    # no prefix: the keys fit but for torchvision's classifier
    with pytest.raises(ConfigError) as info:
        train_in_process(cfg, work, '--cfg-options',
                         'model.backbone.init_cfg.prefix=None')
    msg = str(info.value)
    assert 'unexpected keys (in the checkpoint, not in the model): fc.bias, ' \
        'fc.weight' in msg and command in msg
    # as load_from: not one key is the model's, nothing would be loaded
    with pytest.raises(ConfigError) as info:
        train_in_process(cfg, work, '--cfg-options',
                         'model.backbone.init_cfg=None', f'load_from={ckpt}')
    msg = str(info.value)
    assert f"load_from='{ckpt}': none of its keys is a key of the model " \
        '(ImageClassifier)' in msg and command in msg
    assert not work.exists()
    # a DINO training checkpoint: refused by weights-only loading for its
    # args, or (without them) a dict of teacher/student
    state = torch.load(ckpt)
    dino = {
        'teacher': {
            f'module.backbone.{k}': v
            for k, v in state.items()
        },
        'epoch': 100
    }
    with_args = {'args': argparse.Namespace(arch='resnet18')}
    for name, extra in (('checkpoint.pth', with_args), ('no_args.pth', {})):
        path = tmp_path / name
        torch.save({**dino, **extra}, path)
        with pytest.raises(ConfigError) as info:
            train_in_process(cfg, work, '--cfg-options',
                             f'model.backbone.init_cfg.checkpoint={path}')
        msg = str(info.value)
        assert 'DINO training checkpoint' in msg, msg
        assert f'{CONVERTER} {path} ' in msg
    assert not work.exists()


def test_missing_converted_checkpoint_or_load_from(tmp_path, image_folders,
                                                   train_in_process):
    missing = str(tmp_path / 'checkpoints' / 'dino_resnet50_mmpretrain.pth')
    cfg = finetune(train_in_process, image_folders, missing)
    work = tmp_path / 'work'
    with pytest.raises(ConfigError) as info:
        train_in_process(cfg, work)
    msg = str(info.value)
    assert f"model.backbone.init_cfg.checkpoint='{missing}': no such " \
        'file' in msg and f'{CONVERTER} SRC.pth {missing}' in msg
    with pytest.raises(ConfigError) as info:
        train_in_process(cfg, work, '--cfg-options',
                         'model.backbone.init_cfg=None',
                         f'load_from={missing}')
    msg = str(info.value)
    assert f"load_from='{missing}': no such file" in msg
    assert f'{CONVERTER} SRC.pth {missing}' in msg
    with pytest.raises(
            ConfigError,
            match=re.escape(
                f"load_from='{missing}' (set by --resume PATH): no such file")
    ):
        train_in_process(cfg, work, '--cfg-options',
                         'model.backbone.init_cfg=None', '--resume', missing)
    assert not work.exists()


def test_converted_weights_load_through_init_cfg_and_load_from(
        tmp_path, image_folders, train_in_process):
    import torchvision

    from mixssl_mm.converters.resnet import convert
    src, dst = tmp_path / 'resnet18.pth', tmp_path / 'resnet18_mm.pth'
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), src)
    convert(str(src), str(dst))
    pre = torch.load(dst)['state_dict']
    cfg = finetune(train_in_process, image_folders, dst)
    full_width = [
        'model.backbone.stem_channels=64', 'model.backbone.base_channels=64',
        'model.head.in_channels=512'
    ]
    for name, options in (('init_cfg', []), ('load_from', [
            'model.backbone.init_cfg=None', f'load_from={dst}'
    ])):
        work = tmp_path / name
        train_in_process(cfg, work, '--cfg-options', *full_width, *options)
        ft = torch.load(work / 'epoch_1.pth')['state_dict']
        # 2 Adam steps of lr 1e-4 move a weight by at most ~2e-4
        for key in ('backbone.conv1.weight', 'backbone.layer4.1.conv2.weight'):
            torch.testing.assert_close(ft[key], pre[key], atol=3e-4, rtol=0)


def test_load_from_must_fit_in_the_parts_it_carries(tmp_path, image_folders,
                                                    resnet18_checkpoint,
                                                    train_in_process):
    """A ResNet-18 checkpoint as load_from of a ResNet-34 classifier: every
    key it has fits, but its backbone lacks the ResNet-34 blocks, which
    mmengine would leave random."""
    cfg = finetune(
        train_in_process, image_folders, resnet18_checkpoint, depth=34)
    work = tmp_path / 'work'
    with pytest.raises(ConfigError) as info:
        train_in_process(cfg, work, '--cfg-options',
                         'model.backbone.init_cfg=None',
                         f'load_from={resnet18_checkpoint}')
    msg = str(info.value)
    assert msg.startswith(f"load_from='{resnet18_checkpoint}': the "
                          'checkpoint does not fit the model '
                          '(ImageClassifier) in the parts it carries '
                          '(backbone)')
    assert 'missing keys (in the model, not in the checkpoint): ' \
        'backbone.layer1.2.' in msg
    assert "init_cfg=dict(type='Pretrained'" in msg
    assert not work.exists()


def test_resume_needs_a_training_checkpoint_of_this_model(
        tmp_path, image_folders, train_in_process):
    work = tmp_path / 'work'
    cfg = train_in_process.config(image_folders)
    train_in_process(cfg, work)
    before = sorted(p.name for p in work.iterdir())
    # the work dir's checkpoint (found by --resume alone) is of another
    # decoder than the config now builds
    with pytest.raises(ConfigError) as info:
        train_in_process(cfg, work, '--resume', '--cfg-options',
                         'model.neck.n_blocks=2')
    msg = str(info.value)
    assert msg.startswith(f'--resume: the checkpoint {work}/epoch_1.pth is '
                          'not one of the model (MixSSL)')
    assert 'missing keys (in the model, not in the checkpoint): ' \
        'neck.' in msg
    assert 'Resume with the config that run was trained with' in msg
    # a weights-only file has no epoch/iteration to resume from
    weights = tmp_path / 'weights.pth'
    torch.save({'state_dict': torch.load(work / 'epoch_1.pth')['state_dict']},
               weights)
    with pytest.raises(ConfigError) as info:
        train_in_process(cfg, work, '--resume', str(weights))
    msg = str(info.value)
    assert 'holds weights only (no meta with the epoch and iteration)' in msg
    assert f'drop --resume and pass --cfg-options load_from={weights}' in msg
    # a pretraining checkpoint as load_from of a classifier: the backbone
    # fits, the head is MixSSL's
    ft = finetune(train_in_process, image_folders, 'unused.pth')
    with pytest.raises(ConfigError) as info:
        train_in_process(ft, tmp_path / 'ft', '--cfg-options',
                         'model.backbone.init_cfg=None',
                         f'load_from={work}/epoch_1.pth')
    msg = str(info.value)
    assert 'in the parts it carries (backbone, head)' in msg
    assert "prefix='backbone.') instead of load_from" in msg
    assert sorted(p.name for p in work.iterdir()) == before
    assert not (tmp_path / 'ft').exists()
