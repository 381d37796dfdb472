"""mixssl_mm.benchmark.recipe: one recipe and one set of protocols for
every method, checked on the configs each stage would load (the generated
wrapper merged with the stage's cfg-options), for every method and preset;
the crop range per preset; Rand's start."""
import copy

import pytest
import torch

from mixssl_mm.benchmark.cli import parse_benchmark_args
from mixssl_mm.benchmark.methods import METHOD_GROUPS, METHODS
from mixssl_mm.benchmark.planning import Plan, to_cfg_options
from mixssl_mm.benchmark.presets import PRESETS, preset_names
from mixssl_mm.benchmark.recipe import (WARMUP_END_KEY, crop_scale_min,
                                        write_random_start)
from mixssl_mm.benchmark.stage_configs import parse_cfg_options

PRETRAINED = [
    m for m in METHODS
    if METHODS[m]['config'] and m not in METHOD_GROUPS['mmpretrain']
]


def _plan(*argv):
    return Plan(parse_benchmark_args(list(argv)))


def _stage_cfg(plan, config: str, options: dict):
    """The config a stage loads: its (wrapper) config, then its options
    as they travel on the command line."""
    cfg = copy.deepcopy(plan.configs.config(config))
    cfg.merge_from_dict(
        parse_cfg_options(to_cfg_options(options)), allow_list_keys=True)
    return cfg


def _crops(node):
    if isinstance(node, dict):
        if node.get('type') == 'RandomResizedCrop':
            yield tuple(node.get('crop_ratio_range', (0.08, 1.0)))
        for v in node.values():
            yield from _crops(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _crops(v)


def _check_fair(cfg, weight_decay, epochs_steps):
    opt = cfg.optim_wrapper
    assert opt.optimizer.type == 'AdamW'
    assert opt.optimizer.weight_decay == weight_decay
    assert opt.paramwise_cfg.norm_decay_mult == 0.0
    assert opt.paramwise_cfg.bias_decay_mult == 0.0
    warm, cos = cfg.param_scheduler
    assert (warm.type, warm.by_epoch, warm.begin) == ('LinearLR', False, 0)
    assert warm.end == max(1, round(0.1 * epochs_steps))
    assert (cos.type, cos.eta_min, cos.by_epoch, cos.convert_to_iter_based) \
        == ('CosineAnnealingLR', 0.0, True, True)
    assert 'end' not in cos  # mmengine ends it at train_cfg.max_epochs


@pytest.mark.parametrize('preset', preset_names())
def test_every_method_gets_the_same_recipe_and_crops(repo_cwd, tmp_path,
                                                     preset):
    # mmpretrain's methods by their group: one a preset cannot run (SparK
    # at 32 px) is left out
    plan = _plan('--preset', preset, '--methods', *PRETRAINED, 'mmpretrain',
                 'rand', '--work-dir', str(tmp_path))
    p = plan.preset
    crop_min = p['crop_scale_min']
    steps = -(-plan.train_images // p['batch_size'])
    assert len(plan.methods) == len(PRETRAINED) + 10 - (p['img_size'] == 32)
    for m in plan.methods[:-1]:
        cfg = _stage_cfg(plan, plan.pretrain_config(m),
                         plan.pretrain_options(m, 1))
        drop = cfg.train_dataloader.get('drop_last', False)
        per_epoch = plan.train_images // p['batch_size'] if drop else steps
        _check_fair(cfg, 0.05, p['pretrain_epochs'] * per_epoch)
        assert cfg.model.backbone.zero_init_residual is True, m
        assert cfg.optim_wrapper.optimizer.lr == (p['pretrain_lr'] or 1e-4)
        crops = list(_crops(cfg.train_dataloader.to_dict()))
        assert crops and all(lo >= crop_min for lo, _ in crops), (m, crops)
    for proto in ('finetune', 'linear'):
        for m, ckpt in (('mixssl', '/x/epoch_1.pth'), ('rand', None)):
            cfg = _stage_cfg(plan, plan.train_config(proto, 0),
                             plan.downstream_train_options(proto, 0, ckpt))
            epochs = p['finetune_epochs' if proto ==
                       'finetune' else 'linear_epochs']
            _check_fair(cfg, 0.05 if proto == 'finetune' else 0.0,
                        epochs * steps)
            init = cfg.model.backbone.init_cfg
            assert init.type == 'Pretrained'
            assert init.checkpoint == (ckpt or plan.random_start(0))
            crops = list(_crops(cfg.train_dataloader.to_dict()))
            if proto == 'linear':  # clean views: the test pipeline
                assert not crops
                assert cfg.train_dataloader.dataset.pipeline == \
                    cfg.test_dataloader.dataset.pipeline
                assert cfg.model.backbone.frozen_stages == 4
                assert cfg.model.backbone.norm_eval is True
            else:
                assert crops == [(crop_min, 1.0)]


def test_paper_recipe_keeps_the_configs(repo_cwd, tmp_path):
    plan = _plan('--preset', 'cpu-small', '--recipe', 'paper', '--methods',
                 'mixssl', 'simclr', 'rand', '--work-dir', str(tmp_path))
    for m in ('mixssl', 'simclr'):
        o = plan.pretrain_options(m, 0)
        assert 'optim_wrapper.optimizer.lr' not in o  # the paper's 1e-4
        assert WARMUP_END_KEY not in o
        cfg = _stage_cfg(plan, plan.pretrain_config(m), o)
        assert cfg.optim_wrapper.optimizer == dict(
            type='Adam', lr=1e-4, weight_decay=1e-4)
        assert cfg.param_scheduler == []
    cfg = _stage_cfg(plan, plan.train_config('finetune', 0),
                     plan.downstream_train_options('finetune', 0, None))
    assert cfg.optim_wrapper.optimizer.type == 'Adam'
    assert cfg.param_scheduler == []
    # the protocols do not depend on the recipe: Rand's start, crops
    assert cfg.model.backbone.init_cfg.checkpoint == plan.random_start(0)
    assert list(_crops(cfg.train_dataloader.to_dict())) == [(0.33, 1.0)]


def test_crop_range_per_preset():
    # a square crop keeps >= 16 of BloodMNIST's 28 px a side
    assert crop_scale_min(28, 16) == 0.33
    assert crop_scale_min(28, 28) == 1.0 and crop_scale_min(224, 16) == 0.01
    for name, p in PRESETS.items():
        assert p['crop_scale_min'] == 0.33, name
        assert (0.33 * 28**2)**0.5 >= 16


def test_label_fraction_warmup_and_knn_schedule(repo_cwd, tmp_path):
    plan = _plan('--preset', 'tiny', '--label-fractions', '0.1', '1.0',
                 '--work-dir', str(tmp_path))
    o = plan.downstream_train_options('finetune_10pct', 0, '/x/e.pth')
    n = len(plan.fraction_stages.subset('finetune_10pct', 0).indices)
    per_epoch = -(-n // plan.preset['batch_size'])
    assert o[WARMUP_END_KEY] == max(
        1, round(0.1 * o['train_cfg.max_epochs'] * per_epoch))
    knn = plan.knn_options(0, '/x/e.pth')
    assert WARMUP_END_KEY not in knn
    assert plan.configs.config(plan.knn_config()).param_scheduler == []


def test_ranking_presets_run_three_seeds():
    for name, p in PRESETS.items():
        if name != 'tiny':  # the smoke test ranks nothing
            assert len(p['seeds']) >= 3, name


def test_random_start_is_a_pretraining_start(tmp_path):
    path = str(tmp_path / 'start' / 'backbone.pth')
    assert write_random_start(path, 18, 3) == path
    assert write_random_start(path, 18, 3) is None  # kept
    state = torch.load(path, map_location='cpu')['state_dict']
    assert all(k.startswith('backbone.') for k in state)
    # zero-init residual BatchNorms, BN weight 1 elsewhere
    assert (state['backbone.layer1.0.bn2.weight'] == 0).all()
    assert (state['backbone.layer1.0.bn1.weight'] == 1).all()
    # Kaiming normal (fan_out, ReLU): std sqrt(2 / (64 * 3 * 3)), not
    # PyTorch's default uniform init (std 1 / sqrt(3 * fan_in) = 0.024)
    w = state['backbone.layer1.0.conv1.weight']
    assert w.std().item() == pytest.approx((2 / (64 * 9))**0.5, rel=0.05)
    other = str(tmp_path / 'other.pth')
    write_random_start(other, 18, 4)
    assert not torch.equal(
        w,
        torch.load(other, map_location='cpu')['state_dict']
        ['backbone.layer1.0.conv1.weight'])
