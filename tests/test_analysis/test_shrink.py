"""mixssl_mm.analysis.shrink: configs classified and shrunk by content
(the launch matrix runs the result: tests/test_distributed/)."""
import pytest
from mmengine.config import Config

from mixssl_mm.analysis.shrink import (config_kind, data_options,
                                       model_options, shipped_configs,
                                       shrink_options)

DINO = 'configs/dino/dino_resnet50_1xb64-20e_bloodmnist.py'
BYOL = 'configs/byol/byol_resnet50_1xb64-20e_bloodmnist.py'
PROBE = ('configs/mixssl/benchmarks/'
         'resnet50_1xb64-20e_bloodmnist_linear-probe.py')
CELLS = 'configs/mixssl/mixssl_resnet50_1xb64-20e_bloodcell.py'
QUICK = 'configs/mixssl/mixssl_resnet18_1xb64-1e_bloodmnist-64px.py'


@pytest.fixture(autouse=True)
def _cwd(repo_cwd):
    return repo_cwd


def test_shipped_configs_are_the_config_files():
    configs = shipped_configs()
    assert DINO in configs and PROBE in configs
    assert not [c for c in configs if '_base_' in c]


def test_config_kind_by_what_the_model_builds():
    assert config_kind(Config.fromfile(DINO)) == 'pretrain'
    assert config_kind(Config.fromfile(PROBE)) == 'downstream'
    other = Config(dict(model=dict(type='ResNet', depth=18)))
    with pytest.raises(ValueError, match='neither a self-supervised'):
        config_kind(other)


def test_widths_that_follow_the_encoder_are_scaled():
    opts = model_options(Config.fromfile(DINO), depth=18, width=16)
    assert opts['model.backbone.depth'] == 18
    assert opts['model.backbone.base_channels'] == 16
    # 2048 -> 128 (ResNet-50 -> ResNet-18 of width 16), 65536 -> 4096
    assert opts['model.neck.in_channels'] == 128
    assert opts['model.neck.hid_channels'] == 128
    assert opts['model.neck.out_channels'] == \
        opts['model.head.out_channels'] == 4096
    assert 'model.neck.bottleneck_channels' not in opts  # 256: untouched
    byol = model_options(Config.fromfile(BYOL))
    # the predictor reads the projection (256, untouched); hidden 4096 -> 256
    assert byol['model.head.predictor.hid_channels'] == 256
    assert 'model.head.predictor.in_channels' not in byol
    probe = model_options(Config.fromfile(PROBE))
    assert probe['model.neck.1.input_features'] == 128
    # a ResNet-18 config of width 64 is narrowed from its own 512
    assert model_options(Config.fromfile(QUICK))['model.neck.in_channels'] \
        == 128


def test_non_resnet_encoders_are_refused():
    cfg = Config(
        dict(
            model=dict(type='MixSSL', backbone=dict(
                type='VisionTransformer'))))
    with pytest.raises(ValueError, match='not a ResNet'):
        model_options(cfg)


def test_data_is_redirected_everywhere():
    opts = data_options(
        Config.fromfile(CELLS), samples=16, batch_size=4, folder='/tmp/images')
    assert opts['train_dataloader.dataset.data_root'] == '/tmp/images'
    assert opts['train_dataloader.dataset.data_prefix'] == ''
    aux = [k for k in opts if k.endswith('aux_dataset.data_root')]
    assert aux and opts[aux[0]] == '/tmp/images'  # the auxiliary set too
    assert opts['train_dataloader.dataset.indices'] == 16
    assert opts['train_dataloader.persistent_workers'] is False
    probe = data_options(
        Config.fromfile(PROBE), 16, 4, medmnist=('/tmp/m', 'tiny.npz'))
    for loader in ('train', 'val', 'test'):
        assert probe[f'{loader}_dataloader.dataset.ann_file'] == 'tiny.npz'


def test_shrink_options_resolution_epochs_and_cpu_settings():
    fast = Config.fromfile(
        'configs/mixssl/mixssl_resnet50_1xb256-20e_bloodmnist-fast.py')
    opts = shrink_options(fast, size=32)
    assert opts['compile'] is False  # a CPU cannot compile in test time
    assert 'compile' not in shrink_options(fast, cuda=True)
    assert opts['train_cfg.max_epochs'] == 1
    sizes = [v for k, v in opts.items() if k.endswith('.scale')]
    assert sizes and set(sizes) == {32}
    # DINO's 96-px local crops keep their ratio to the 224-px global ones
    dino = shrink_options(Config.fromfile(DINO), size=32)
    assert sorted({v for k, v in dino.items() if k.endswith('.scale')}) \
        == [14, 32]
    # a 64-px config is scaled from its own largest crop
    quick = shrink_options(Config.fromfile(QUICK), size=32)
    assert {v for k, v in quick.items() if k.endswith('.scale')} == {32}
