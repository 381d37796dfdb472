"""mixssl_mm.converters.resnet on generated torchvision and DINO
checkpoints: the output loads strictly into mmpretrain's ResNet and computes
what torchvision's network computes; every refusal names the cause and the
fix and writes nothing."""
import argparse
import os

import pytest
import torch
import torchvision

from mixssl_mm.converters.resnet import (DINO_R50_URL, TORCHVISION_R50_URL,
                                         ConversionError,
                                         check_against_mmpretrain, convert,
                                         converter_command, extract_backbone,
                                         unconverted_source)
from tests._helpers.resnets import (assert_same_features, mm_resnet,
                                    torchvision_resnet)
from tests._helpers.tmp_dirs import shared_tmp

pytestmark = pytest.mark.usefixtures('one_thread')


# -- conversions -------------------------------------------------------------
def test_torchvision_resnet18(tmp_path):
    net = torchvision_resnet(18)
    src = tmp_path / 'resnet18.pth'
    torch.save(net.state_dict(), src)
    dst = tmp_path / 'out' / 'resnet18_mm.pth'  # the folder is created
    meta = convert(str(src), str(dst))
    assert meta['num_keys'] == len(net.state_dict()) - 2
    ckpt = torch.load(dst)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(dst)) == []
    assert ckpt['meta']['src_format'] == 'torchvision'
    assert ckpt['meta']['depth'] == 18
    assert ckpt['meta']['dropped_keys'] == ['fc.bias', 'fc.weight']
    assert len(ckpt['meta']['source_sha256']) == 64
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
    convert(str(src), str(dst), depth=50)
    assert_same_features(net, mm_resnet(50, dst))


def test_dino_release_and_training_checkpoint(tmp_path):
    teacher, student = torchvision_resnet(18, 0), torchvision_resnet(18, 1)
    # the backbone release: no fc (DINO's is Identity) and, like old
    # torchvision files, no num_batches_tracked
    release = {
        k: v
        for k, v in teacher.state_dict().items()
        if not k.startswith('fc.') and 'num_batches' not in k
    }
    torch.save(release, tmp_path / 'dino_resnet18_pretrain.pth')
    convert(
        str(tmp_path / 'dino_resnet18_pretrain.pth'),
        str(tmp_path / 'release.pth'),
        src_format='dino')
    meta = torch.load(tmp_path / 'release.pth')['meta']
    assert meta['src_format'] == 'dino' and meta['dropped_keys'] == []
    assert meta['filled_num_batches_tracked'] == 20
    assert_same_features(teacher, mm_resnet(18, tmp_path / 'release.pth'))

    # the training checkpoint: DDP's module. + MultiCropWrapper's backbone.
    # (or backbone. only), the projection head, the args Namespace
    head = {
        'head.mlp.0.weight': torch.randn(8, 512),
        'head.last_layer.weight_g': torch.ones(16, 1)
    }
    teacher_enc = {
        k: v
        for k, v in teacher.state_dict().items() if not k.startswith('fc.')
    }
    student_enc = {
        k: v
        for k, v in student.state_dict().items() if not k.startswith('fc.')
    }
    full = {
        'teacher': {
            **{
                f'module.backbone.{k}': v
                for k, v in teacher_enc.items()
            },
            **{
                f'module.{k}': v
                for k, v in head.items()
            }
        },
        'student': {
            **{
                f'backbone.{k}': v
                for k, v in student_enc.items()
            },
            **head
        },
        'args': argparse.Namespace(arch='resnet18', lr=0.03),
        'epoch': 100,
        'dino_loss': {
            'center': torch.zeros(1, 16)
        },
    }
    torch.save(full, tmp_path / 'checkpoint.pth')
    for key, net in (('teacher', teacher), ('student', student)):
        dst = tmp_path / f'{key}.pth'
        convert(str(tmp_path / 'checkpoint.pth'), str(dst), dino_key=key)
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


# -- hints for the training pre-flight ----------------------------------------
def test_unconverted_files_are_recognised():
    with torch.device('meta'):
        state = torchvision.models.resnet50(weights=None).state_dict()
    assert 'unconverted torchvision-layout ResNet-50' in unconverted_source(
        state)
    assert 'DINO training checkpoint' in unconverted_source({
        'teacher': {
            'backbone.conv1.weight': 1
        },
        'epoch': 3
    })
    converted = {'state_dict': {f'backbone.{k}': v for k, v in state.items()}}
    assert unconverted_source(converted) is None
    assert unconverted_source({'state_dict': {'x': 1}}) is None
    assert converter_command('dl/dino.pth') == (
        'python tools/model_converters/resnet_to_mmpretrain.py dl/dino.pth '
        'checkpoints/dino_mmpretrain.pth')


# -- refusals: a message with the cause and the fix, nothing written -------
def refused(src, dst, **options):
    """Convert; it must raise ConversionError and write nothing: no new DST,
    an existing one unchanged, no temporary file left. Returns the
    message."""
    before = dst.read_bytes() if dst.is_file() else None
    with pytest.raises(ConversionError) as info:
        convert(str(src), str(dst), **options)
    if before is None:
        assert not dst.exists()
    else:
        assert dst.read_bytes() == before
    folder = dst.parent if dst.parent.is_dir() else dst.parent.parent
    assert not [n for n in os.listdir(folder) if '.part' in n]
    return str(info.value)


@pytest.fixture(scope='module')
def resnet18_file(request, tmp_path_factory):
    """A torchvision ResNet-18 state dict (45 MB), written once for the
    tests that only read it."""
    path = shared_tmp(request, tmp_path_factory, 'resnet18') / 'resnet18.pth'
    torch.save(torchvision_resnet(18).state_dict(), path)
    return path


def test_missing_source_names_where_to_get_weights(tmp_path):
    msg = refused(tmp_path / 'dino_resnet50_pretrain.pth',
                  tmp_path / 'dst.pth')
    assert f'SRC {tmp_path}/dino_resnet50_pretrain.pth: no such file' in msg
    assert TORCHVISION_R50_URL in msg and DINO_R50_URL in msg
    assert 'ResNet50_Weights.IMAGENET1K_V1' in msg


def test_existing_destination_needs_force(tmp_path, resnet18_file):
    dst = tmp_path / 'dst.pth'
    dst.write_bytes(b'keep me')
    assert 'already exists; pass --force' in refused(resnet18_file, dst)
    assert 'is SRC' in refused(resnet18_file, resnet18_file, force=True)
    convert(str(resnet18_file), str(dst), force=True)
    assert torch.load(dst)['meta']['depth'] == 18


def test_a_write_that_fails_leaves_nothing(tmp_path, resnet18_file):
    (tmp_path / 'a_file').write_text('')
    msg = refused(resnet18_file, tmp_path / 'a_file' / 'out.pth')
    assert 'cannot write DST' in msg


@pytest.mark.parametrize('obj,message', [
    (torch.ones(3), 'is not a state dict: it holds a Tensor'),
    ({
        'epoch': 3,
        'lr': 0.1
    }, "it holds a dict {'epoch': int, 'lr': float}"),
])
def test_not_a_state_dict(tmp_path, obj, message):
    torch.save(obj, tmp_path / 'src.pth')
    assert message in refused(tmp_path / 'src.pth', tmp_path / 'dst.pth')


def test_pickled_module_is_refused_unloaded(tmp_path):
    torch.save(torchvision.models.resnet18(weights=None), tmp_path / 'm.pth')
    msg = refused(tmp_path / 'm.pth', tmp_path / 'dst.pth')
    assert 'torchvision.models.resnet.ResNet' in msg
    assert 'pickled module, not a state dict' in msg
    assert 'model.state_dict()' in msg


@pytest.mark.parametrize('text', ['not a checkpoint', 'text\n', ''])
def test_text_file_is_refused(tmp_path, text):
    # 'text' failed inside torch's unpickler with a raw IndexError
    (tmp_path / 'notes.pth').write_text(text)
    assert 'cannot be read as a torch checkpoint' in refused(
        tmp_path / 'notes.pth', tmp_path / 'dst.pth')
    assert not (tmp_path / 'dst.pth').exists()


@pytest.mark.parametrize('keys,cause', [
    ([
        'cls_token', 'pos_embed', 'patch_embed.proj.weight',
        'blocks.0.attn.qkv.weight', 'norm.weight'
    ], 'looks like a ViT'),
    (['stem.0.weight', 'stem.1.weight', 'layer1.0.conv1.weight'
      ], 'deep-stem ResNet'),
    (['encoder_q.conv1.weight', 'encoder_q.layer1.0.conv1.weight'
      ], "under the prefix 'encoder_q.'"),
    (['features.0.weight', 'classifier.weight'], 'VGG/DenseNet/MobileNet'),
])
def test_other_architectures_are_named(tmp_path, keys, cause):
    torch.save({k: torch.zeros(1) for k in keys}, tmp_path / 'src.pth')
    msg = refused(tmp_path / 'src.pth', tmp_path / 'dst.pth')
    assert 'does not hold a ResNet' in msg and cause in msg
    assert keys[0] in msg or sorted(keys)[0] in msg


def test_wrong_depth_extra_keys_and_shapes(tmp_path, resnet18_file):
    dst = tmp_path / 'dst.pth'
    msg = refused(resnet18_file, dst, depth=50)
    assert 'BasicBlock blocks (2, 2, 2, 2) per stage (ResNet-18)' in msg
    assert '--depth 50 needs Bottleneck blocks (3, 4, 6, 3)' in msg
    assert 'Pass --depth 18' in msg

    state = torch.load(resnet18_file)
    state['layer4.1.se.fc.weight'] = torch.zeros(4)
    del state['layer2.0.downsample.1.running_var']
    torch.save(state, tmp_path / 'extra.pth')
    msg = refused(tmp_path / 'extra.pth', dst)
    assert 'does not match mmpretrain ResNet-18' in msg
    # which side is the file and which the model
    assert 'unexpected keys (in SRC, not in mmpretrain ResNet-18): ' \
        'layer4.1.se.fc.weight' in msg
    assert 'missing keys (in mmpretrain ResNet-18, not in SRC): ' \
        'layer2.0.downsample.1.running_var' in msg

    state = torch.load(resnet18_file)
    state['conv1.weight'] = torch.zeros(64, 3, 3, 3)
    torch.save(state, tmp_path / 'shape.pth')
    msg = refused(tmp_path / 'shape.pth', dst)
    assert 'shape mismatches (SRC vs mmpretrain ResNet-18): conv1.weight ' \
        '(64, 3, 3, 3) vs (64, 3, 7, 7)' in msg
    assert 'Wide ResNet or ResNeXt' in msg


def test_dino_options_that_do_not_fit(tmp_path, resnet18_file):
    state = torch.load(resnet18_file)
    torch.save({'teacher': {
        f'backbone.{k}': v
        for k, v in state.items()
    }}, tmp_path / 'checkpoint.pth')
    src, dst = tmp_path / 'checkpoint.pth', tmp_path / 'dst.pth'
    msg = refused(src, dst, src_format='torchvision')
    assert 'DINO training checkpoint' in msg and '--src-format dino' in msg
    msg = refused(src, dst, dino_key='student')
    assert "no 'student' entry (it has ['teacher'])" in msg
