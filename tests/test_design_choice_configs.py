"""configs/mixssl/design_choices/: each of the paper's open choices is one
config key away from the main MixSSL config (the paper's reading), and each
key does what configs/mixssl/README.md ("Design choices") says: per-sample
λs, zoomed-in auxiliary crops, CycleGAN's decoder init, a warm-up + cosine
lr. The [0, 1] reconstruction target itself is tested on the model
(tests/test_models/test_algorithms/test_mixssl_design_choices.py)."""
import glob
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import DATASETS, MODELS, TRANSFORMS

from tests._helpers.config_walk import find_transforms
from tests.test_configs import REPO, _tiny_runner_cfg

MAIN = osp.join(REPO, 'configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py')
DIR = osp.join(REPO, 'configs/mixssl/design_choices')
CDM = 'train_dataloader.dataset.pipeline.5'
NORMAL_INIT = [
    dict(
        type='Normal',
        layer=['Conv2d', 'ConvTranspose2d'],
        mean=0.0,
        std=0.02,
        bias=0.0),
    dict(type='Normal', layer='_BatchNorm', mean=1.0, std=0.02, bias=0.0),
]
COSLR = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=0.0,
        by_epoch=True,
        begin=0,
        convert_to_iter_based=True),
]
# config -> the one cfg-options key (and value) that turns the main config
# into it
ONE_KEY = {
    'mixssl-pix01_resnet50_1xb64-20e_bloodmnist.py': {
        'model.rec_head.rec_space': 'unit'
    },
    'mixssl-cycleganinit_resnet50_1xb64-20e_bloodmnist.py': {
        'model.neck.init_cfg': NORMAL_INIT
    },
    'mixssl-lambatch_resnet50_1xb64-20e_bloodmnist.py': {
        'model.lam_mode': 'batch'
    },
    'mixssl-auxzoom_resnet50_1xb64-20e_bloodmnist.py': {
        f'{CDM}.aux_dataset.pipeline.0.crop_ratio_range': (0.05, 0.5)
    },
    'mixssl_resnet50_1xb64-coslr-20e_bloodmnist.py': {
        'param_scheduler': COSLR
    },
}
# config-file variables that only build the pipelines
HELPERS = ('view_pipeline', 'aux_view_pipeline', 'aux_dataset',
           'train_pipeline')


def design(name: str) -> str:
    return osp.join(DIR, name)


def runner_keys(cfg) -> dict:
    d = cfg.to_dict()
    for key in HELPERS:
        d.pop(key, None)
    return d


def test_every_design_config_is_listed_and_documented():
    shipped = sorted(osp.basename(p) for p in glob.glob(osp.join(DIR, '*.py')))
    assert shipped == sorted(ONE_KEY)
    with open(osp.join(DIR, 'README.md'), encoding='utf-8') as f:
        table = f.read()
    for name, change in ONE_KEY.items():
        key, = change
        assert name in table and f'`{key}' in table, (name, key)


@pytest.mark.parametrize('name', sorted(ONE_KEY))
def test_design_config_is_the_main_config_one_key_away(name):
    main = Config.fromfile(MAIN)
    main.merge_from_dict(ONE_KEY[name])
    assert runner_keys(Config.fromfile(design(name))) == runner_keys(main)


def test_main_config_holds_the_paper_reading():
    cfg = Config.fromfile(MAIN)
    assert cfg.model.rec_head.rec_space == 'normalized'
    assert cfg.model.neck.get('init_cfg') is None  # PyTorch's default
    # λ per sample is the default (issue 18), the paper's one λ per batch is
    # the lambatch design variant
    assert cfg.model.alpha == 1.0 and cfg.model.lam_mode == 'sample'
    mixup = cfg.train_dataloader.dataset.pipeline[5]
    assert mixup.type == 'CrossDomainMixup'
    assert not {'alpha', 'lam_mode', 'fixed_lam'} & set(mixup)
    assert mixup.aux_dataset.pipeline == cfg.view_pipeline  # same crops
    assert cfg.param_scheduler == []  # constant lr


def _dataset(name: str, n: int):
    cfg = Config.fromfile(name)
    ds = cfg.train_dataloader.dataset
    ds.data_root = osp.join(REPO, ds.data_root)
    ds.indices = n
    for crop in find_transforms(ds.pipeline, 'RandomResizedCrop'):
        crop['scale'] = 32
    return DATASETS.build(ds)


def test_lambda_configs_build_models_that_draw_per_sample_or_per_batch():
    for path, per_sample in ((MAIN, True), (
            design('mixssl-lambatch_resnet50_1xb64-20e_bloodmnist.py'),
            False)):
        cfg = Config.fromfile(path).model
        cfg.backbone.depth = 18
        cfg.neck.in_channels = cfg.head.in_channels = 512
        cfg.neck.n_blocks = 1
        model = MODELS.build(cfg)
        lam = model.forward_mix([torch.zeros(4, 3, 32, 32)] * 2)['lam']
        assert len(set(lam.tolist())) == (4 if per_sample else 1)


def _crop_areas(cfg_path: str, n: int = 500) -> np.ndarray:
    """Area fractions of the auxiliary RandomResizedCrop of a config on a
    512 x 512 photo."""
    mixup = Config.fromfile(cfg_path).train_dataloader.dataset.pipeline[5]
    crop = TRANSFORMS.build(mixup.aux_dataset.pipeline[0])
    img = np.zeros((512, 512, 3), np.uint8)
    np.random.seed(0)
    areas = []
    for _ in range(n):
        _, _, h, w = crop.rand_crop_params(img)
        areas.append(h * w / 512**2)
    return np.array(areas)


def test_auxzoom_config_cuts_smaller_auxiliary_patches():
    zoom = _crop_areas(
        design('mixssl-auxzoom_resnet50_1xb64-20e_bloodmnist.py'))
    paper = _crop_areas(MAIN)
    # 5-50 % of the photo's area (rounding of the crop sides: ±3 %)
    assert zoom.min() >= 0.05 * 0.97 and zoom.max() <= 0.5 * 1.03
    assert paper.min() >= 0.08 * 0.97 and paper.max() > 0.9
    assert zoom.mean() < 0.3 < paper.mean()


def test_cycleganinit_config_draws_the_decoder_from_n_0_002():

    def neck_after_init(path):
        cfg = Config.fromfile(path)
        model = dict(
            cfg.model,
            backbone=dict(cfg.model.backbone, depth=18),
            neck=dict(cfg.model.neck, in_channels=512, n_blocks=2),
            head=dict(cfg.model.head, in_channels=512))
        torch.manual_seed(0)
        m = MODELS.build(model)
        m.init_weights()
        return m

    cyc = neck_after_init(
        design('mixssl-cycleganinit_resnet50_1xb64-20e_bloodmnist.py'))
    paper = neck_after_init(MAIN)

    def params(model, kinds, attr):
        return torch.cat([
            getattr(m, attr).detach().reshape(-1)
            for m in model.neck.modules()
            if isinstance(m, kinds) and getattr(m, attr, None) is not None
        ])

    convs = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    bns = torch.nn.BatchNorm2d
    w = params(cyc, convs, 'weight')
    assert abs(w.mean().item()) < 1e-3 and w.std().item() == pytest.approx(
        0.02, rel=0.02)
    g = params(cyc, bns, 'weight')
    assert g.mean().item() == pytest.approx(1.0, abs=3e-3)
    assert g.std().item() == pytest.approx(0.02, rel=0.15)
    assert (params(cyc, convs + (bns, ), 'bias') == 0).all()
    # PyTorch's default: BN weight 1, each conv's kaiming-uniform scale,
    # and a non-zero bias on the output conv
    assert (params(paper, bns, 'weight') == 1).all()
    assert (params(paper, convs, 'bias') != 0).any()
    # the encoder's initialisation is untouched
    for (k, a), b in zip(cyc.backbone.state_dict().items(),
                         paper.backbone.state_dict().values()):
        assert torch.equal(a, b), k


def test_coslr_config_warms_up_then_decays_to_zero_in_a_runner(tmp_path):
    """A real mmengine Runner, 2 epochs x 3 iterations: the lr of each
    iteration is lr x warm-up x cosine, the cosine ending with the run
    (mmengine sets its `end` to train_cfg.max_epochs)."""
    assert osp.exists(osp.join(REPO, 'data/medmnist/bloodmnist.npz')), \
        'fetch the data first: python tools/data/fetch_bloodmnist.py'
    cfg = _tiny_runner_cfg(
        design('mixssl_resnet50_1xb64-coslr-20e_bloodmnist.py'), tmp_path, **{
            'train_cfg.max_epochs': 2,
            'train_dataloader.dataset.indices': 12
        })
    runner = Runner.from_cfg(cfg)
    runner.train()
    lrs = runner.message_hub.get_scalar('train/lr').data[0]
    base, epoch, total, f0 = cfg.optim_wrapper.optimizer.lr, 3, 6, 1e-3
    # mmengine's LinearLR reaches the full factor at its last iteration
    # (end - begin - 1 steps): the last iteration of the first epoch
    ramp = epoch - 1
    want = [
        base * (f0 + (1 - f0) * min(t, ramp) / ramp) *
        (1 + math.cos(math.pi * t / total)) / 2 for t in range(total)
    ]
    assert len(lrs) == total
    np.testing.assert_allclose(lrs, want, rtol=1e-6)
    assert lrs[0] == pytest.approx(base * f0)
    assert max(lrs) == lrs[ramp]
