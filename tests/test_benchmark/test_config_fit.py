"""mixssl_mm.benchmark.config_fit: any SSL config fitted to a run. Every
mmpretrain ResNet method of the `mmpretrain` group, from mmpretrain's own
installed configs, is fitted by a real Plan and trains two iterations in
mmengine's Runner (a ResNet-18 of width 16, tiny generated data); configs
that cannot be fitted are refused before any stage."""
import copy

import pytest
from mmengine.config import Config

from mixssl_mm.analysis.shrink import model_options
from mixssl_mm.benchmark.cli import parse_benchmark_args
from mixssl_mm.benchmark.config_fit import channel_keys, refusals
from mixssl_mm.benchmark.methods import (METHOD_GROUPS, METHODS,
                                         MMPRETRAIN_CONFIGS,
                                         mmpretrain_config_dir)
from mixssl_mm.benchmark.planning import Plan
from mixssl_mm.benchmark.recipe import PAPER_LR
from mixssl_mm.benchmark.stage_configs import load_config
from tests._helpers.image_folders import write_npz
from tests._helpers.run_names import run_name
from tests._helpers.training import REPO

MM = mmpretrain_config_dir()
WIDTH = 16  # the test encoder's base width: ResNet-18 of 128 channels


@pytest.fixture
def methods_table():
    """METHODS as it was: configs given to --methods are added to it."""
    saved = copy.copy(METHODS)
    yield METHODS
    METHODS.clear()
    METHODS.update(saved)


@pytest.fixture(scope='module')
def npz(tmp_path_factory):
    # 64 train images: two batches of the presets' 32
    path = tmp_path_factory.mktemp('data') / 'tiny.npz'
    return write_npz(path, dict(train=[0, 1] * 32, test=[0, 1] * 4))


def _plan(npz, *argv):
    return Plan(
        parse_benchmark_args([
            '--data-root',
            str(npz.rsplit('/', 1)[0]), '--ann-file', 'tiny.npz', *argv
        ]))


def test_the_mmpretrain_group_is_every_resnet_method_from_its_own_configs():
    assert METHOD_GROUPS['mmpretrain'] == [
        'mm_simclr', 'mm_mocov2', 'mm_mocov3', 'mm_byol', 'mm_simsiam',
        'mm_barlowtwins', 'mm_swav', 'mm_densecl', 'mm_spark'
    ]
    for key in METHOD_GROUPS['mmpretrain']:
        assert METHODS[key]['config'].startswith(MM), key  # no copies
        assert not set(METHOD_GROUPS['mmpretrain']) & set(METHOD_GROUPS['all'])


def test_channel_keys_are_found_in_the_config():

    def keys(name):
        return channel_keys(load_config(f'{MM}/{MMPRETRAIN_CONFIGS[name][1]}'))

    assert keys('simclr') == ['model.neck.in_channels']
    assert keys('densecl') == ['model.neck.in_channels']  # the dense neck
    assert keys('swav') == ['model.neck.in_channels']
    # the head reads the neck (8192), not the encoder
    assert keys('barlowtwins') == ['model.neck.in_channels']
    # SparK: the decoder's input norms and projections, not the decoder
    assert keys('spark') == ['model.enc_dec_norm_dim']


@pytest.mark.parametrize('name', list(MMPRETRAIN_CONFIGS))
def test_every_mmpretrain_method_fits_and_trains(name, npz, tmp_path, repo_cwd,
                                                 methods_table):
    """The fitted pretraining stage (wrapper config + cfg-options) of a real
    plan, with a narrower encoder, trains 2 iterations in the Runner."""
    from mmengine.runner import Runner
    key = f'mm_{name}'
    # SparK masks a grid of 32-px patches: 64 px is its smallest
    preset = 'cpu-small' if name == 'spark' else 'tiny'
    plan = _plan(npz, '--preset', preset, '--methods', key, '--work-dir',
                 str(tmp_path / 'bench'), '--seeds', '0')
    path = plan.pretrain_config(key)
    plan.write_files()
    opts = plan.pretrain_options(key, 0)
    # the run's policy, whatever the config had (LARS, SGD, Lamb, AMP)
    cfg = Config.fromfile(path)
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.param_scheduler[1].type == 'CosineAnnealingLR'
    assert cfg.train_dataloader.dataset.type == 'MedMNIST'
    assert opts['optim_wrapper.optimizer.lr'] == 1e-3
    cfg.merge_from_dict(opts)
    # a narrower encoder for the test's speed: every setting that reads it
    # follows (the same channel keys the run sets)
    cfg.merge_from_dict(model_options(cfg, 18, WIDTH))
    cfg.merge_from_dict(METHODS[key]['channels'](8 * WIDTH))
    cfg.merge_from_dict({
        'train_dataloader.dataset.indices': None,
        'work_dir': str(tmp_path / 'run'),
        'experiment_name': run_name('config_fit'),
        'default_hooks.logger.interval': 1
    })
    cfg.train_cfg.max_epochs = 1
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2  # 64 images, batches of 32, drop_last
    losses = [
        v for k, v in runner.message_hub.log_scalars.items()
        if k.startswith('train/loss')
    ]
    assert losses and all(b.current() == b.current() for b in losses)


def test_swav_multi_crop_and_its_hook_follow_the_run(npz, tmp_path, repo_cwd,
                                                     methods_table):
    plan = _plan(npz, '--preset', 'tiny', '--methods', 'mm-swav', '--work-dir',
                 str(tmp_path))
    o = plan.pretrain_options('mm_swav', 0)
    # 2 x 224 px and 6 x 96 px -> 32 and 14 px (the ratio kept)
    assert o['train_dataloader.dataset.pipeline.0.transforms.0.0.scale'] == 32
    assert o['train_dataloader.dataset.pipeline.0.transforms.1.0.scale'] == 14
    cfg = plan.configs.config(plan.pretrain_config('mm_swav'))
    assert cfg.train_dataloader.dataset.pipeline[0].num_views == [2, 6]
    assert o['custom_hooks.0.batch_size'] == 32
    # one ImageNet epoch of frozen prototypes -> one epoch of the run
    assert o['custom_hooks.0.frozen_layers_cfg.prototypes'] == 2


def test_spark_gets_the_resolution_and_single_process_sparse_norms(
        npz, tmp_path, repo_cwd, methods_table):
    plan = _plan(npz, '--preset', 'cpu-small', '--methods', 'mm-spark',
                 '--work-dir', str(tmp_path))
    o = plan.pretrain_options('mm_spark', 0)
    assert o['model.input_size'] == 64
    assert o['model.enc_dec_norm_dim'] == 512
    assert o['model.enc_dec_norm_cfg.type'] == 'SparseBatchNorm2d'
    assert o['model.backbone.norm_cfg.type'] == 'SparseBatchNorm2d'


def test_spark_is_refused_at_32_px_by_name_and_left_out_of_a_group(
        npz, tmp_path, repo_cwd, methods_table, capsys):
    with pytest.raises(
            SystemExit,
            match=r'mm-spark .*model.input_size 32 '
            r'px gives a mask grid of 1x1 .*img_size >= 64'):
        _plan(npz, '--preset', 'tiny', '--methods', 'mm-spark', '--work-dir',
              str(tmp_path))
    plan = _plan(npz, '--preset', 'tiny', '--methods', 'mixssl', 'mmpretrain',
                 '--work-dir', str(tmp_path))
    assert 'mm_spark' not in plan.methods and len(plan.methods) == 9
    assert list(plan.left_out) == ['mm_spark']
    assert 'left out' in capsys.readouterr().out


def _user_config(tmp_path, text):
    path = tmp_path / 'user_ssl.py'
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    'text, key, fix',
    [
        # a ViT encoder (mmpretrain's MoCo v3 ViT-S)
        ("_base_ = ['{mm}/mocov3/mocov3_vit-small-p16_16xb256-amp-coslr-"
         "300e_in1k.py']", 'model.backbone.type', 'ResNet'),
        # a classifier, not a self-supervised algorithm
        ("_base_ = ['{mm}/resnet/resnet18_8xb32_in1k.py']", 'model.type',
         'pretraining config'),
        # a neck that does not read its own encoder's 2048 channels
        ("_base_ = ['{mm}/simsiam/simsiam_resnet50_8xb32-coslr-100e_in1k.py']"
         '\nmodel = dict(neck=dict(in_channels=1024))',
         'model.neck.in_channels', 'set it to 2048'),
        # an iteration-based budget
        ("_base_ = ['{mm}/simsiam/simsiam_resnet50_8xb32-coslr-100e_in1k.py']"
         "\ntrain_cfg = dict(_delete_=True, type='IterBasedTrainLoop', "
         'max_iters=10)', 'train_cfg', 'EpochBasedTrainLoop'),
        # a queue that takes no whole number of batches of 32
        ("_base_ = ['{mm}/mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py']"
         '\nmodel = dict(queue_len=1000)', 'model.queue_len', 'multiple'),
        # MixSSL on a ConvNeXt that pools its output: the probe's refusal
        (f"_base_ = ['{REPO}/configs/mixssl/mixssl_convnext-tiny_1xb64-1e_"
         "bloodmnist-64px.py']\nmodel = dict(backbone=dict("
         'gap_before_final_norm=True))', 'model.backbone',
         'gap_before_final_norm=False'),
    ])
def test_configs_that_cannot_be_fitted_are_refused_before_any_stage(
        text, key, fix, npz, tmp_path, repo_cwd, methods_table):
    path = _user_config(tmp_path, text.format(mm=MM))
    with pytest.raises(SystemExit) as e:
        _plan(npz, '--preset', 'cpu-medium', '--methods', f'mine={path}',
              '--work-dir', str(tmp_path / 'bench'))
    assert f'method mine ({path}) cannot run' in str(e.value)
    assert key in str(e.value) and fix in str(e.value)
    assert not (tmp_path / 'bench').exists()


def test_config_tokens_names_and_their_errors(npz, tmp_path, repo_cwd,
                                              methods_table):
    spec = 'mmpretrain::simsiam/simsiam_resnet50_8xb32-coslr-100e_in1k.py'
    plan = _plan(npz, '--preset', 'tiny', '--methods', spec, 'sim=' + spec,
                 '--work-dir', str(tmp_path))
    # the key: the file name, `-` as `_` (the CLI spelling writes `-`)
    assert plan.methods == ['simsiam_resnet50_8xb32_coslr_100e_in1k', 'sim']
    assert METHODS['sim']['name'] == 'sim'
    assert METHODS['sim']['config'] == f'{MM}/{spec.split("::")[1]}'
    with pytest.raises(SystemExit, match='no config file .*nowhere.py'):
        _plan(npz, '--methods', 'mmpretrain::nowhere.py')
    with pytest.raises(SystemExit, match="name 'mixssl' is taken"):
        _plan(npz, '--methods', 'mixssl=' + spec)


def test_the_policy_replaces_a_foreign_optimizer_under_both_recipes(
        npz, tmp_path, repo_cwd, methods_table):
    for recipe, opt in (('fair', 'AdamW'), ('paper', 'Adam')):
        plan = _plan(npz, '--preset', 'gpu-paper', '--recipe', recipe,
                     '--methods', 'mm-simclr', '--work-dir', str(tmp_path))
        cfg = plan.configs.config(plan.pretrain_config('mm_simclr'))
        assert cfg.optim_wrapper.optimizer.to_dict() == dict(
            type=opt,
            lr=PAPER_LR,
            weight_decay=1e-4 if recipe == 'paper' else 0.05)
        assert 'paramwise_cfg' in cfg.optim_wrapper or recipe == 'paper'
        if recipe == 'paper':
            assert cfg.param_scheduler == []
        # the preset keeps the config's lr: none to set
        assert 'optim_wrapper.optimizer.lr' not in plan.pretrain_options(
            'mm_simclr', 0)


def test_the_table_fits_as_it_is(repo_cwd):
    for key, m in METHODS.items():
        if m['config']:
            size = 64 if key == 'mm_spark' else 32
            assert refusals(load_config(m['config']), size, 32, 128) == [], key


OWN_ENCODERS = [
    # config, backbone type, probed channels, stride, frozen_stages (linear)
    ('configs/mixssl/mixssl_convnext-tiny_1xb64-1e_bloodmnist-64px.py',
     'ConvNeXt', 768, 32, 4),
    ('configs/mixssl/mixssl_vit-small-p16_1xb64-1e_bloodmnist-64px.py',
     'VisionTransformer', 384, 16, 12),
]


@pytest.mark.parametrize('config, kind, channels, stride, frozen',
                         OWN_ENCODERS)
def test_mixssl_keeps_its_own_encoder_in_every_stage(config, kind, channels,
                                                     stride, frozen, npz,
                                                     tmp_path, repo_cwd,
                                                     methods_table):
    """A MixSSL config on ConvNeXt / ViT: no ResNet depth anywhere, every
    reader of the encoder at the probed channels, ViT at the preset's size;
    the downstream configs build that encoder from the pretraining
    checkpoint and classify a batch (head in_channels = its channels)."""
    import torch
    from mmpretrain.registry import MODELS
    plan = _plan(npz, '--preset', 'tiny', '--methods',
                 'mixssl', f'own={config}', '--work-dir',
                 str(tmp_path / 'bench'), '--seeds', '0')
    plan.write_files()
    pre = plan.pretrain_options('own', 0)
    assert 'model.backbone.depth' not in pre
    assert pre['model.neck.in_channels'] == channels
    assert pre['model.head.in_channels'] == channels
    assert 2**pre['model.neck.num_upsamples'] == stride
    assert pre.get('model.backbone.img_size') == (
        32 if kind == 'VisionTransformer' else None)
    # the ResNet method of the same run keeps the shared ResNet stages
    assert plan.pretrain_options('mixssl', 0)['model.backbone.depth'] == 18
    assert plan.protocol_config('finetune') != \
        plan.protocol_config('finetune', 'own')
    ckpt = str(tmp_path / 'epoch_1.pth')
    for proto in ('finetune', 'linear', 'knn'):
        path = plan.knn_config('own') if proto == 'knn' else \
            plan.train_config(proto, 0, 'own')
        opts = (
            plan.knn_options(0, ckpt, 'own') if proto == 'knn' else
            plan.downstream_train_options(proto, 0, ckpt, 'own'))
        assert 'model.backbone.depth' not in opts
        cfg = Config.fromfile(path)
        cfg.merge_from_dict(opts)
        backbone = cfg.model.backbone
        assert backbone.type == kind and 'depth' not in backbone
        assert backbone.init_cfg == dict(
            type='Pretrained', checkpoint=ckpt, prefix='backbone.')
        assert backbone.get('frozen_stages') == (
            frozen if proto == 'linear' else None)
        assert cfg.model.head.in_channels == channels
        if proto == 'linear':
            assert cfg.model.neck[1].input_features == channels
        model = MODELS.build(cfg.model)  # init_cfg is not applied here
        model.eval()
        with torch.no_grad():
            logits = model(torch.zeros(2, 3, 32, 32), mode='tensor')
        assert tuple(logits.shape) == (2, cfg.model.head.num_classes)
    test = plan.test_options('finetune', 0, 'own')
    assert 'model.backbone.depth' not in test
    assert test['model.head.in_channels'] == channels


def test_the_refusals_see_pretrain_cfg_options(npz, tmp_path, repo_cwd,
                                               methods_table):
    """The refusal names --pretrain-cfg-options as a fix, so the check runs
    on the config with them, as the pretraining stage does; a type, which
    no option fixes, is refused without that hint."""
    path = _user_config(
        tmp_path, f"_base_ = ['{MM}/mocov2/mocov2_resnet50_8xb32-coslr-"
        "200e_in1k.py']\nmodel = dict(queue_len=1000)")
    args = ('--preset', 'cpu-medium', '--methods', f'mine={path}',
            '--work-dir', str(tmp_path / 'bench'))
    with pytest.raises(SystemExit, match='--pretrain-cfg-options'):
        _plan(npz, *args)
    plan = _plan(npz, *args, '--pretrain-cfg-options', 'model.queue_len=1024')
    assert plan.methods == ['mine']
    # the user's queue wins over a preset's (cpu-small sets 1024), as in
    # the stage's command, which ends with the user's options
    with pytest.raises(SystemExit, match='model.queue_len 1000 is no'):
        _plan(npz, '--preset', 'cpu-small', '--methods', f'mine={path}',
              '--pretrain-cfg-options', 'model.queue_len=1000')
    # an option that does not apply to the raw config is checked without
    # (the stage's wrapper may have it: an index into a longer pipeline)
    plan = _plan(npz, *args, '--pretrain-cfg-options', 'model.queue_len=1024',
                 'train_dataloader.dataset.pipeline.9.x=1')
    assert plan.methods == ['mine']
    classifier = tmp_path / 'classifier.py'  # (configs are cached by path)
    classifier.write_text(f"_base_ = ['{MM}/resnet/resnet18_8xb32_in1k.py']")
    with pytest.raises(SystemExit) as e:
        _plan(npz, '--preset', 'cpu-medium', '--methods', f'c={classifier}')
    assert 'model.type' in str(e.value)
    assert '--pretrain-cfg-options' not in str(e.value)


def test_a_resolution_off_the_encoders_stride_is_refused(
        npz, tmp_path, repo_cwd, methods_table, monkeypatch):
    from mixssl_mm.benchmark.presets import PRESETS
    monkeypatch.setitem(PRESETS['tiny'], 'img_size', 48)
    config = OWN_ENCODERS[0][0]
    with pytest.raises(SystemExit) as e:
        _plan(npz, '--preset', 'tiny', '--methods', f'own={config}',
              '--work-dir', str(tmp_path / 'bench'))
    assert 'cannot run in preset tiny' in str(e.value)
    assert 'img_size 48 px is no multiple of' in str(e.value)
    assert 'stride, 32 px (ConvNeXt)' in str(e.value)
    assert not (tmp_path / 'bench').exists()
