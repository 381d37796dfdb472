"""mixssl_mm.preflight.channels: a depth change (or any channel setting) that
leaves a neck/head expecting another channel count than the ResNet encoder
gives is refused before anything is built, with every key to set."""
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

from mixssl_mm.preflight import ConfigError
from mixssl_mm.preflight.channels import (RESNET_TYPES, check_feature_channels,
                                          feature_channel_mismatches,
                                          resnet_out_channels)
from tests._helpers.training import REPO

FINETUNE_50 = osp.join(
    REPO, 'configs/mixssl/benchmarks/'
    'resnet50_1xb64-20e_bloodmnist-4cls_finetune.py')
PROBE_50 = osp.join(
    REPO, 'configs/mixssl/benchmarks/'
    'resnet50_1xb64-20e_bloodmnist-4cls_linear-probe.py')


def mm_config(name):
    """Path of one of mmpretrain's own configs."""
    import mmpretrain
    return osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs', name)


def with_depth(path, depth):
    cfg = Config.fromfile(path if osp.isabs(path) else osp.join(REPO, path))
    cfg.merge_from_dict({'model.backbone.depth': depth})
    return cfg


@pytest.mark.parametrize('type_name', RESNET_TYPES)
def test_computed_channels_equal_the_built_backbone(type_name):
    # narrow (base_channels=8) so that building them is cheap; the default
    # widths in one case
    cls = MODELS.get(type_name)
    depth = min(cls.arch_settings)
    cases = [dict(base_channels=8, out_indices=(1, 2))]
    if type_name == 'ResNet':
        cases += [dict(base_channels=8), dict()]
    for extra in cases:
        cfg = dict(type=type_name, depth=depth, **extra)
        backbone = MODELS.build(cfg)
        backbone.eval()  # mmpretrain's ResNet.train returns None
        with torch.no_grad():
            feats = backbone(torch.zeros(1, 3, 32, 32))
        assert resnet_out_channels(cfg) == feats[-1].shape[1], cfg


def test_other_backbones_are_not_judged():
    assert resnet_out_channels(dict(type='RegNet', arch='regnetx_400mf')) \
        is None
    assert resnet_out_channels(dict(type='ResNet', depth=19)) is None
    check_feature_channels(
        Config(
            dict(
                model=dict(
                    type='ImageClassifier',
                    backbone=dict(type='VisionTransformer'),
                    head=dict(type='LinearClsHead', in_channels=1)))))


def test_reported_case_finetune_config_with_depth_18():
    with pytest.raises(ConfigError) as e:
        check_feature_channels(with_depth(FINETUNE_50, 18))
    msg = str(e.value)
    assert msg.startswith('model.backbone (ResNet, depth=18) outputs 512 '
                          'channels, but these settings expect another '
                          'number:\n  model.head.in_channels=2048\n')
    assert '--cfg-options model.head.in_channels=512\n' in msg
    assert ('resnet18_1xb64-1e_bloodmnist-4cls-64px_'
            '{finetune,linear-probe}.py') in msg


def test_linear_probe_lists_every_key():
    with pytest.raises(
            ConfigError,
            match=re.escape('--cfg-options model.neck.1.input_features=512 '
                            'model.head.in_channels=512')):
        check_feature_channels(with_depth(PROBE_50, 34))


@pytest.mark.parametrize('config,keys', [
    ('configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py',
     ['model.neck.in_channels', 'model.head.in_channels']),
    ('configs/mixssl/ablations/mixssl-ra_resnet50_1xb64-20e_bloodmnist.py', [
        'model.neck.in_channels', 'model.head.in_channels',
        'model.aux_head.in_channels'
    ]),
    ('configs/mixssl/ablations/mixssl-rc_resnet50_1xb64-20e_bloodmnist.py', [
        'model.neck.in_channels', 'model.head.in_channels',
        'model.contrast_neck.in_channels'
    ]),
    ('configs/simclr/simclr_resnet50_1xb64-20e_bloodmnist.py',
     ['model.neck.in_channels']),
    ('configs/byol/byol_resnet50_1xb64-20e_bloodmnist.py',
     ['model.neck.in_channels']),
    ('configs/rotation/rotation_resnet50_1xb64-20e_bloodmnist.py',
     ['model.head.in_channels']),
    ('configs/dino/dino_resnet50_1xb64-20e_bloodmnist.py',
     ['model.neck.in_channels']),
    (mm_config('mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py'),
     ['model.neck.in_channels']),
])
def test_ssl_and_mixssl_parts_that_read_the_encoder(config, keys):
    cfg = with_depth(config, 18)
    assert [k for k, _ in feature_channel_mismatches(cfg.model, 512)] == keys
    with pytest.raises(ConfigError, match='outputs 512 channels'):
        check_feature_channels(cfg)


def test_a_left_out_channel_setting_counts_with_its_default():
    # TransparencyHead(in_channels=2048) by default
    model = dict(
        type='MixSSL',
        backbone=dict(type='ResNet', depth=18),
        neck=dict(type='ResnetGenerator', in_channels=512),
        head=dict(type='TransparencyHead'))
    assert feature_channel_mismatches(model, 512) == [
        ('model.head.in_channels', 2048)
    ]


def test_a_neck_with_out_channels_sets_what_the_head_reads():
    model = dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=18),
        neck=[
            dict(type='GlobalAveragePooling'),
            dict(type='LinearNeck', in_channels=512, out_channels=256)
        ],
        head=dict(type='LinearClsHead', num_classes=2, in_channels=256))
    assert feature_channel_mismatches(model, 512) == []
    model['head']['in_channels'] = 512
    assert feature_channel_mismatches(model,
                                      512) == [('model.head.in_channels', 512)]


def test_mmpretrain_resnet_configs_pass():
    # the shipped configs: tests/test_configs.py::test_config_builds_its_model
    for name in (
            'resnet/resnet18_8xb16_cifar10.py',
            'byol/byol_resnet50_16xb256-coslr-200e_in1k.py',
            'mocov2/benchmarks/resnet50_8xb32-linear-steplr-100e_in1k.py'):
        check_feature_channels(Config.fromfile(mm_config(name)))


def test_train_and_test_refuse_a_depth_change_before_anything_is_written(
        tmp_path, monkeypatch):
    """The reported case through the entry points (tools/train.py and
    tools/test.py run these mains): refused before the Runner, nothing
    written; it used to fail at the first step with torch's ``mat1 and
    mat2 shapes cannot be multiplied (64x512 and 2048x4)``."""
    from mixssl_mm.apis.test import main as test_main
    from mixssl_mm.apis.train import main as train_main
    monkeypatch.chdir(REPO)
    work = tmp_path / 'work'
    depth = ['--cfg-options', 'model.backbone.depth=18']
    expected = re.escape('outputs 512 channels, but these settings expect '
                         'another number:\n  model.head.in_channels=2048\n')
    with pytest.raises(ConfigError, match=expected):
        train_main([FINETUNE_50, '--work-dir', str(work), *depth])
    with pytest.raises(ConfigError, match=expected):
        test_main([
            FINETUNE_50,
            str(tmp_path / 'epoch_1.pth'), '--work-dir',
            str(work), *depth
        ])
    assert not work.exists()


# -- MixSSL: the encoder is probed once, here, instead of in MixSSL.__init__
def mixssl_cfg(backbone, channels=512, **model):
    return Config(
        dict(
            model=dict(
                type='MixSSL',
                backbone=backbone,
                neck=dict(
                    type='ResnetGenerator', in_channels=channels, n_blocks=1),
                head=dict(type='TransparencyHead', in_channels=channels),
                **model)))


R18 = dict(type='ResNet', depth=18)


def test_mixssl_misfits_are_refused_with_the_key_to_set():
    check_feature_channels(mixssl_cfg(R18))  # fits
    with pytest.raises(
            ConfigError,
            match=re.escape(
                'outputs 512 channels, but these settings expect another '
                'number:\n  model.neck.in_channels=2048\n  '
                'model.head.in_channels=2048\nSet them to 512')):
        check_feature_channels(mixssl_cfg(R18, channels=2048))
    cfg = mixssl_cfg(R18)
    cfg.model.neck.num_upsamples = 4
    with pytest.raises(
            ConfigError,
            match='downsamples by 32 but the decoder '
            'upsamples by 16; set model.neck.num_upsamples=5'):
        check_feature_channels(cfg)
    # without R there is no decoder to fit
    cfg.model.use_rec = False
    check_feature_channels(cfg)


def test_mixssl_probes_any_backbone_for_its_channels():
    # a ResNet the config arithmetic does not know (RegNet): probed
    backbone = dict(type='RegNet', arch='regnetx_400mf')
    check_feature_channels(mixssl_cfg(backbone, channels=384))
    with pytest.raises(ConfigError, match=r'outputs 384 channels'):
        check_feature_channels(mixssl_cfg(backbone, channels=512))


CONVNEXT = dict(type='ConvNeXt', arch='atto')
VIT = dict(
    type='VisionTransformer', arch='deit-tiny', img_size=64, patch_size=16)


@pytest.mark.parametrize('backbone, shape, option, fixed, ups', [
    (CONVNEXT, r'pooled vectors of shape \(1, 320\)',
     'gap_before_final_norm=False', dict(
         CONVNEXT, gap_before_final_norm=False), 5),
    (VIT, r'pooled vectors of shape \(1, 192\)', "out_type='featmap'",
     dict(VIT, out_type='featmap'), 4),
    (dict(VIT, out_type='raw'), r'tokens of shape \(1, 17, 192\)',
     "out_type='featmap'", dict(VIT, out_type='featmap'), 4),
])
def test_mixssl_refuses_pooled_or_token_encoders(backbone, shape, option,
                                                 fixed, ups):
    """Instead of ``ValueError: math domain error`` (the stride's log of a
    map that is not one), the option that gives feature maps; with it set
    the pre-flight passes."""
    channels = fixed_channels = 320 if fixed['type'] == 'ConvNeXt' else 192
    with pytest.raises(
            ConfigError, match=shape + '(?s:.*)' + re.escape(option)):
        check_feature_channels(mixssl_cfg(backbone, channels=channels))
    cfg = mixssl_cfg(fixed, channels=fixed_channels)
    cfg.model.neck.num_upsamples = ups
    check_feature_channels(cfg)
