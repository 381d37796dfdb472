"""Every shipped config parses (mmpretrain:: bases included) and builds."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import DATASETS, MODELS

from mixssl_mm.preflight.channels import check_feature_channels
from tests._helpers.config_walk import find_transforms
from tests._helpers.run_names import run_name

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
FAST = osp.join(
    REPO, 'configs/mixssl/mixssl_resnet50_1xb256-20e_bloodmnist-fast.py')
PAPER = osp.join(REPO,
                 'configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py')
CONFIGS = sorted(
    p for p in glob.glob(
        osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_config_builds_its_model(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports['imports'] == ['mixssl_mm']
    check_feature_channels(cfg)  # the pre-flight passes every shipped config
    model_cfg = cfg.model.copy()
    # the data preprocessor is a top-level key in mmpretrain configs
    if 'data_preprocessor' in cfg and 'data_preprocessor' not in model_cfg:
        model_cfg['data_preprocessor'] = cfg.data_preprocessor
    model_cfg.pop('init_cfg', None)
    if 'init_cfg' in model_cfg.get('backbone', {}):
        model_cfg['backbone'] = dict(model_cfg['backbone'], init_cfg=None)
    model = MODELS.build(model_cfg)
    assert model is not None


def test_mixssl_configs_follow_the_paper_recipe():
    cfg = Config.fromfile(
        osp.join(REPO,
                 'configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py'))
    assert cfg.optim_wrapper.optimizer == dict(
        type='Adam', lr=1e-4, weight_decay=1e-4)
    assert cfg.train_dataloader.batch_size == 64
    assert cfg.train_cfg.max_epochs == 20
    names = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert names[0] == 'RandomResizedCrop' and 'CrossDomainMixup' in names
    assert {'RandomFlip', 'RandomApply', 'RandomGrayscale',
            'GaussianBlur'} <= set(names)
    assert cfg.model.head.loss.loss_weight == 1.0  # γ


def test_dino_config_freezes_the_last_layer_for_a_fraction_of_the_run():
    """DINO's one frozen epoch of the 20-epoch recipe as a fraction, so that
    shorter runs (the benchmark presets) freeze proportionally less."""
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/dino/dino_resnet50_1xb64-20e_bloodmnist.py'))
    assert cfg.custom_hooks == [
        dict(type='DINOLastLayerFreezeHook', freeze_ratio=0.05)
    ]
    assert 'freeze_last_layer_iters' not in cfg.model.neck
    # 11,959 train images / 64 (drop_last) = 186 iterations per epoch
    max_iters = 11959 // cfg.train_dataloader.batch_size * \
        cfg.train_cfg.max_epochs
    assert int(0.05 * max_iters + 0.5) == 186


def test_bloodmnist_pretraining_dataset_yields_mixssl_inputs():
    assert osp.exists(osp.join(REPO, 'data/medmnist/bloodmnist.npz')), \
        'fetch the data first: python tools/data/fetch_bloodmnist.py'
    cfg = Config.fromfile(
        osp.join(REPO,
                 'configs/mixssl/mixssl_resnet18_1xb64-1e_bloodmnist-64px.py'))
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.data_root = osp.join(REPO, ds_cfg.data_root)
    sample = DATASETS.build(ds_cfg)[0]
    assert [tuple(x.shape) for x in sample['inputs']] == [(3, 64, 64)] * 2
    # the pipeline only pairs: λ is the model's
    assert 'mix_alpha' not in sample['data_samples']


def _tiny_runner_cfg(path, tmp_path, **options):
    """ResNet-18, 32 px, batch 4, one iteration on real BloodMNIST."""
    cfg = Config.fromfile(path)
    cfg.merge_from_dict({
        'model.backbone.depth':
        18,
        'model.neck.in_channels':
        512,
        'model.neck.n_blocks':
        1,
        'model.head.in_channels':
        512,
        'train_dataloader.batch_size':
        4,
        'train_dataloader.num_workers':
        0,
        'train_dataloader.persistent_workers':
        False,
        'train_dataloader.pin_memory':
        False,
        'train_dataloader.dataset.indices':
        4,
        'train_dataloader.dataset.data_root':
        osp.join(REPO, 'data/medmnist'),
        'train_cfg.max_epochs':
        1,
        'default_hooks.checkpoint.interval':
        100,
        'work_dir':
        str(tmp_path),
        'experiment_name':
        run_name('tiny_config'),
        **options
    })
    for crop in find_transforms(cfg.train_dataloader.dataset.pipeline,
                                'RandomResizedCrop'):
        crop['scale'] = 32
    return cfg


def test_mmengine_compile_runs_mixssl_with_the_fast_levers(tmp_path):
    """The fast config on CPU: mmengine's ``compile`` of train_step, fused
    Adam and channels_last, one Runner iteration.

    bf16 autocast is swapped for the plain OptimWrapper (mmengine's
    AmpOptimWrapper needs CUDA). The compile backend is ``'eager'``: it runs
    the same mmengine path (``Runner._maybe_compile`` -> ``torch.compile``,
    TorchDynamo capture, graph breaks, guards) without inductor's C++ code
    generation, which takes minutes on a 2-core CPU (measured: see
    docs/performance.md).
    """
    assert osp.exists(osp.join(REPO, 'data/medmnist/bloodmnist.npz')), \
        'fetch the data first: python tools/data/fetch_bloodmnist.py'
    cfg = _tiny_runner_cfg(FAST, tmp_path)
    assert cfg.compile is True and cfg.model.channels_last is True
    assert cfg.optim_wrapper.optimizer.fused is True
    cfg.optim_wrapper = dict(
        type='OptimWrapper', optimizer=dict(cfg.optim_wrapper.optimizer))
    cfg.compile = dict(backend='eager')
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model
    # Runner._maybe_compile replaced train_step by the compiled function
    assert hasattr(model.train_step, '_torchdynamo_orig_callable')
    assert runner.optim_wrapper.optimizer.defaults['fused'] is True
    assert all(
        p.is_contiguous(memory_format=torch.channels_last)
        for p in model.parameters() if p.dim() == 4)
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert torch.isfinite(torch.tensor(loss))
    assert runner.iter == 1


def test_fast_config_is_the_paper_recipe_plus_levers():
    paper, fast = Config.fromfile(PAPER), Config.fromfile(FAST)
    assert fast.model.channels_last is True and 'channels_last' not in \
        paper.model
    assert fast.compile is True
    ow = fast.optim_wrapper
    assert ow.type == 'AmpOptimWrapper' and ow.dtype == 'bfloat16'
    assert ow.optimizer.fused is True
    assert fast.train_dataloader.batch_size == 256
    # mmengine's linear rule from the paper's lr at batch 64
    assert ow.optimizer.lr == pytest.approx(
        paper.optim_wrapper.optimizer.lr * 256 /
        paper.auto_scale_lr.base_batch_size)
    assert fast.auto_scale_lr.base_batch_size == 256
    assert fast.train_dataloader.persistent_workers
    assert fast.train_dataloader.pin_memory
    # everything else is the paper's
    for key in ('neck', 'head', 'backbone', 'rec_head', 'alpha', 'lam_mode'):
        assert fast.model[key] == paper.model[key]
    assert fast.train_dataloader.dataset == paper.train_dataloader.dataset
    assert fast.train_cfg == paper.train_cfg
