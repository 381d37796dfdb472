"""MixSSL on mmpretrain backbones other than ResNet: each family that gives
a feature map builds and trains two iterations through the entry point of
``tools/train.py`` (pre-flight included) at 32 px and tiny widths; the
pooled / token outputs of ConvNeXt's and ViT's defaults are refused there,
before anything is written, with the option that gives a feature map (it
used to be a bare ``ValueError: math domain error``)."""
import math
import os.path as osp
import re

import pytest
from mmengine.config import Config

from mixssl_mm.preflight import ConfigError
from mixssl_mm.preflight.channels import check_feature_channels
from tests._helpers.training import REPO, iters_of

# (backbone, its output channels, log2 of its output stride) at 32 px
BACKBONES = {
    'ResNet':
    (dict(type='ResNet', depth=18, stem_channels=16,
          base_channels=16), 128, 5),
    # 3x3 stem without max-pool: stride 8
    'ResNet_CIFAR':
    (dict(type='ResNet_CIFAR', depth=18, stem_channels=16,
          base_channels=16), 128, 3),
    'ConvNeXt': (dict(
        type='ConvNeXt',
        arch=dict(depths=[1, 1, 1, 1], channels=[16, 32, 64, 128]),
        gap_before_final_norm=False), 128, 5),
    # mmpretrain's smallest EfficientNet; its default output is the final
    # 1x1 conv's (1280 channels)
    'EfficientNet': (dict(type='EfficientNet', arch='b0'), 1280, 5),
    # DeiT-S's layout at 1/12 width and one layer; 8-px patches
    'VisionTransformer': (dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64),
        img_size=32,
        patch_size=8,
        out_type='featmap'), 32, 3),
}


def _model(backbone, channels, ups) -> str:
    """The ``model`` of a test config (over configs/_base_/models'
    ResNet-50 MixSSL) with ``backbone`` and a narrow decoder."""
    return (f'model = dict(backbone=dict(_delete_=True, **{backbone!r}), '
            f'neck=dict(in_channels={channels}, num_upsamples={ups}, '
            'n_blocks=1, res_channels=32, ngf=16), '
            f'head=dict(in_channels={channels}, hid_channels=16))')


@pytest.mark.parametrize('name', list(BACKBONES))
def test_mixssl_trains_on_the_backbone(name, train_in_process, image_folders,
                                       tmp_path):
    backbone, channels, ups = BACKBONES[name]
    cfg = train_in_process.config(
        image_folders, model=_model(backbone, channels, ups))
    work = tmp_path / 'work'
    runner = train_in_process(cfg, work)
    assert iters_of(work) == 2  # 8 images, batch 4, 1 epoch
    hub = runner.message_hub
    for key in ('train/loss_rec', 'train/loss_trans'):
        assert math.isfinite(hub.get_scalar(key).current()), key


CONVNEXT = 'configs/mixssl/mixssl_convnext-tiny_1xb64-20e_bloodmnist.py'
VIT = 'configs/mixssl/mixssl_vit-small-p16_1xb64-20e_bloodmnist.py'


@pytest.mark.parametrize('config, default, shape, option', [
    (CONVNEXT, 'model.backbone.gap_before_final_norm=True',
     'pooled vectors of shape (1, 768)',
     'model.backbone.gap_before_final_norm=False'),
    (VIT, 'model.backbone.out_type=cls_token',
     'pooled vectors of shape (1, 384)', "model.backbone.out_type='featmap'"),
    (VIT, 'model.backbone.out_type=raw', 'tokens of shape (1, 17, 384)',
     "model.backbone.out_type='featmap'"),
])
def test_train_refuses_pooled_or_token_outputs_naming_the_option(
        config, default, shape, option, tmp_path, monkeypatch):
    """The shipped configs with the backbone's default output, through
    ``tools/train.py``'s main: refused before the Runner, nothing written
    (the benchmark's stages and mmpretrain's own train.py with the opt-in
    run the same pre-flight)."""
    from mixssl_mm.apis.train import main
    monkeypatch.chdir(REPO)
    work = tmp_path / 'work'
    with pytest.raises(
            ConfigError,
            match=re.escape(shape) + '(?s:.*)Set ' + re.escape(option)):
        main([config, '--work-dir', str(work), '--cfg-options', default])
    assert not work.exists()


def test_channels_and_upsampling_are_refused_together():
    """The keys to set after a backbone swap, all in one message."""
    cfg = Config.fromfile(osp.join(REPO, CONVNEXT))
    cfg.model.backbone.arch = 'atto'  # 320 channels, stride 32
    cfg.model.neck.num_upsamples = 4
    with pytest.raises(
            ConfigError,
            match=re.escape(
                "model.backbone (ConvNeXt, arch='atto') outputs 320 "
                'channels, but these settings expect another number:\n'
                '  model.neck.in_channels=768\n'
                '  model.head.in_channels=768\nSet them to 320\n'
                "model.backbone (ConvNeXt, arch='atto') downsamples by 32 "
                'but the decoder upsamples by 16; set '
                'model.neck.num_upsamples=5 (log2 of the stride), e.g. '
                '--cfg-options model.neck.in_channels=320 '
                'model.head.in_channels=320 model.neck.num_upsamples=5')):
        check_feature_channels(cfg)


def test_a_stride_that_is_no_power_of_two_is_refused():
    backbone = dict(BACKBONES['VisionTransformer'][0], patch_size=12)
    cfg = Config(
        dict(
            model=dict(
                type='MixSSL',
                backbone=backbone,
                neck=dict(type='ResnetGenerator', in_channels=32),
                head=dict(type='TransparencyHead', in_channels=32))))
    with pytest.raises(ConfigError, match='its stride is not a power of two'):
        check_feature_channels(cfg)


def test_built_without_the_pre_flight_mixssl_names_the_option():
    """mmpretrain's own tools without the plugin's opt-in build the model
    straight from the config: the first step says what the pre-flight
    would."""
    import torch
    from mmpretrain.registry import MODELS
    convnext, channels, _ = BACKBONES['ConvNeXt']
    model = MODELS.build(
        dict(
            type='MixSSL',
            backbone=dict(convnext, gap_before_final_norm=True),
            neck=dict(
                type='ResnetGenerator', in_channels=channels, n_blocks=0),
            head=dict(type='TransparencyHead', in_channels=channels)))
    x = torch.zeros(2, 3, 32, 32)
    with pytest.raises(
            ValueError,
            match=re.escape('returns pooled vectors of shape (2, 128)') +
            '(?s:.*)' +
            re.escape('Set model.backbone.gap_before_final_norm=False')):
        model.loss([x, x], [])
