"""Every shipped config parses (mmpretrain:: bases included) and builds."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from mmpretrain.registry import DATASETS, MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                         recursive=True) if '_base_' not in p)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_config_builds_its_model(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports['imports'] == ['mixssl_mm']
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
        osp.join(REPO, 'configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py'))
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
    cfg = Config.fromfile(osp.join(
        REPO, 'configs/benchmarks/dino_resnet50_1xb64-20e_bloodmnist.py'))
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
    assert sample['data_samples'].mix_alpha == 1.0
