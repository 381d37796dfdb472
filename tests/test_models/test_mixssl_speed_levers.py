"""Speed levers of MixSSL keep the maths: channels_last gives the same loss,
gradients and update as the default memory format; mmengine's ``compile``
runs MixSSL's train_step (with the fast config's other CPU-capable levers);
the fast config is the paper config plus the levers."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.runner import Runner

from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FAST = osp.join(REPO,
                'configs/mixssl/mixssl_resnet50_1xb256-20e_bloodmnist-fast.py')
PAPER = osp.join(REPO,
                 'configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py')
CL = torch.channels_last


def build(**kwargs):
    return MODELS.build(
        dict(
            type='MixSSL',
            backbone=dict(type='ResNet', depth=18),
            neck=dict(type='ResnetGenerator', in_channels=512, n_blocks=1),
            head=dict(type='TransparencyHead', in_channels=512),
            data_preprocessor=dict(
                type='SelfSupDataPreprocessor',
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                to_rgb=True),
            **kwargs))


def samples(lams):
    out = []
    for lam in lams:
        s = DataSample()
        s.set_field(1.0, 'mix_alpha')
        s.set_field(float(lam), 'mix_lam')
        out.append(s)
    return out


def rel_err(a, b):
    """||a - b|| / ||b||: float32 rounding through the whole network
    (BN over a few values, reflect pads, transposed convs) moves single
    elements by more than an elementwise tolerance allows."""
    return ((a.double() - b.double()).norm() /
            b.double().norm().clamp_min(1e-12)).item()


def conv_weights(model):
    return [p for p in model.parameters() if p.dim() == 4]


def test_channels_last_is_off_by_default_and_converts_at_first_use():
    model = build()
    assert model.channels_last is False
    x = torch.randn(2, 3, 64, 64)
    model.forward_mix([x, x], samples([0.3, 0.7]))
    assert all(p.is_contiguous() for p in conv_weights(model))

    model = build(channels_last=True)
    params = list(model.parameters())
    assert all(p.is_contiguous() for p in conv_weights(model))
    out = model.forward_mix([x, x], samples([0.3, 0.7]))
    # converted in place: the same Parameter objects, now channels_last
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    assert all(
        p.is_contiguous(memory_format=CL) for p in conv_weights(model))
    assert out['mixed'].is_contiguous(memory_format=CL)
    assert out['rec'].shape == (2, 3, 64, 64)


def test_channels_last_gives_the_same_loss_gradients_and_update():
    torch.manual_seed(0)
    ref = build()
    fast = build(channels_last=True)
    fast.load_state_dict(ref.state_dict())
    # 64 px: 2x2 features, so the decoder's reflect padding is exercised
    g = torch.Generator().manual_seed(1)
    data = dict(
        inputs=[
            torch.randint(0, 256, (4, 3, 64, 64), generator=g,
                          dtype=torch.uint8) for _ in range(2)
        ],
        data_samples=samples([0.1, 0.4, 0.6, 0.9]))
    # optimizers built before the first use (as the Runner does) must keep
    # updating the converted parameters. SGD: its step is linear in the
    # gradient (Adam's first step is lr·sign(g), which rounding may flip).
    wrappers = [
        build_optim_wrapper(m, dict(optimizer=dict(type='SGD', lr=0.1)))
        for m in (ref, fast)
    ]
    # 1) loss and gradients
    losses, grads = [], []
    for m in (ref, fast):
        batch = m.data_preprocessor(copy.deepcopy(data), True)
        loss = m.loss(**batch)
        sum(loss.values()).backward()
        losses.append(loss)
        grads.append({n: p.grad.clone() for n, p in m.named_parameters()})
        m.zero_grad()
    for key in ('loss_rec', 'loss_trans'):
        torch.testing.assert_close(
            losses[1][key], losses[0][key], rtol=1e-4, atol=1e-5)
    assert grads[0].keys() == grads[1].keys()
    # the default layout itself is ~1e-3 off a float64 run of this model
    for name in grads[0]:
        assert rel_err(grads[1][name], grads[0][name]) < 2e-2, name
    # 2) one train_step from the same weights: p <- p - 0.1·grad
    before = {n: p.detach().clone() for n, p in ref.named_parameters()}
    logs = [
        m.train_step(copy.deepcopy(data), w)
        for m, w in zip((ref, fast), wrappers)
    ]
    torch.testing.assert_close(
        logs[1]['loss'], logs[0]['loss'], rtol=1e-4, atol=1e-5)
    for m, g in zip((ref, fast), grads):
        for name, p in m.named_parameters():
            assert rel_err(p.detach() - before[name], -0.1 * g[name]) < 1e-3
    assert all(p.is_contiguous(memory_format=CL) for p in conv_weights(fast))


def _tiny_runner_cfg(path, tmp_path, **options):
    """ResNet-18, 32 px, batch 4, one iteration on real BloodMNIST."""
    cfg = Config.fromfile(path)
    cfg.merge_from_dict({
        'model.backbone.depth': 18,
        'model.neck.in_channels': 512,
        'model.neck.n_blocks': 1,
        'model.head.in_channels': 512,
        'train_dataloader.batch_size': 4,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.pin_memory': False,
        'train_dataloader.dataset.indices': 4,
        'train_dataloader.dataset.data_root': osp.join(REPO, 'data/medmnist'),
        'train_cfg.max_epochs': 1,
        'default_hooks.checkpoint.interval': 100,
        'work_dir': str(tmp_path),
        **options
    })

    def crop32(node):
        if isinstance(node, dict):
            if node.get('type') == 'RandomResizedCrop':
                node['scale'] = 32
            for v in node.values():
                crop32(v)
        elif isinstance(node, list):
            for v in node:
                crop32(v)

    crop32(cfg.train_dataloader.dataset.pipeline)
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
    if not osp.exists(osp.join(REPO, 'data/medmnist/bloodmnist.npz')):
        pytest.skip('fetch the data first: '
                    'python tools/data/fetch_bloodmnist.py')
    cfg = _tiny_runner_cfg(FAST, tmp_path)
    assert cfg.compile is True and cfg.model.channels_last is True
    assert cfg.optim_wrapper.optimizer.fused is True
    cfg.optim_wrapper = dict(
        type='OptimWrapper',
        optimizer=dict(cfg.optim_wrapper.optimizer))
    cfg.compile = dict(backend='eager')
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model
    # Runner._maybe_compile replaced train_step by the compiled function
    assert hasattr(model.train_step, '_torchdynamo_orig_callable')
    assert runner.optim_wrapper.optimizer.defaults['fused'] is True
    assert all(p.is_contiguous(memory_format=CL) for p in conv_weights(model))
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
    for key in ('neck', 'head', 'backbone', 'loss_rec'):
        assert fast.model[key] == paper.model[key]
    assert fast.train_dataloader.dataset == paper.train_dataloader.dataset
    assert fast.train_cfg == paper.train_cfg
