# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The measurement behind the benchmark recipe's optimizer choice
(docs/benchmark.md, "Recipe"): how much the residual-branch conv weights
of each ResNet stage shrink over the first steps of pretraining, under
Adam with L2 weight decay (the paper's) and AdamW (decoupled decay), with
and without ``zero_init_residual``.

BatchNorm makes those weights scale-free, so a norm ratio r < 1 means an
effective step 1/r^2 times larger than the nominal one (Hoffer et al.
2018, "Norm matters"). Run::

    python -m mixssl_mm.analysis.residual_norms --steps 100 --method mixssl

It builds the config's model, optimizer and dataloader with the
registries (no Runner: the loop only calls ``model.train_step``), at the
CPU presets' setting (ResNet-18, 64 px, batch 32, lr 1e-3, BloodMNIST).
"""
import argparse
import copy

import torch

VARIANTS = {
    'Adam+L2 1e-4': dict(type='Adam', lr=1e-3, weight_decay=1e-4),
    'AdamW 0.05': dict(type='AdamW', lr=1e-3, weight_decay=0.05),
}
NO_DECAY = dict(norm_decay_mult=0.0, bias_decay_mult=0.0)


def branch_norms(backbone) -> list:
    """Frobenius norm of every stage's residual-branch convs (downsample
    shortcuts excluded), stage 1..4."""
    out = []
    for i in range(1, 5):
        sq = sum(
            float(p.detach().pow(2).sum())
            for n, p in getattr(backbone, f'layer{i}').named_parameters()
            if 'conv' in n and 'downsample' not in n)
        out.append(sq**0.5)
    return out


def measure(method: str,
            optimizer: dict,
            zero_init: bool,
            steps: int,
            seed: int = 0) -> list:
    """Norm ratios (after/before) of :func:`branch_norms` after ``steps``
    pretraining steps of ``method`` (a benchmark METHODS key)."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner, set_random_seed
    from mmpretrain.registry import MODELS

    import mixssl_mm  # noqa: F401
    from mixssl_mm.benchmark.methods import METHODS, resolution_options
    from mixssl_mm.utils import runner_model_cfg
    init_default_scope('mmpretrain')
    set_random_seed(seed)
    cfg = Config.fromfile(METHODS[method]['config'])
    cfg.merge_from_dict(
        dict(
            {
                'model.backbone.depth': 18,
                'model.backbone.zero_init_residual': zero_init,
                'train_dataloader.batch_size': 32,
                'train_dataloader.num_workers': 0,
                'train_dataloader.persistent_workers': False,
                'train_dataloader.pin_memory': False,
                'train_dataloader.dataset.indices': 32 * (steps + 1),
            }, **METHODS[method]['channels'](512),
            **resolution_options(cfg, 64, ['train_dataloader'])),
        allow_list_keys=True)
    # normalised inputs, as in training (the Runner merges the preprocessor)
    model = MODELS.build(runner_model_cfg(cfg))
    model.init_weights()
    before = branch_norms(model.backbone)
    optim = build_optim_wrapper(
        model,
        dict(
            type='OptimWrapper',
            optimizer=copy.deepcopy(optimizer),
            paramwise_cfg=NO_DECAY if optimizer['type'] == 'AdamW' else None))
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=seed)
    model.train()
    for step, batch in enumerate(loader):
        if step == steps:
            break
        model.train_step(batch, optim)
    after = branch_norms(model.backbone)
    return [a / b for a, b in zip(after, before)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--method', default='mixssl')
    parser.add_argument('--steps', type=int, default=100)
    args = parser.parse_args()
    from mixssl_mm.compat import apply_compat_fixes
    apply_compat_fixes()  # an entry point of its own (docs/compat.md)
    torch.set_num_threads(1)
    print('| Optimizer | zero_init_residual | layer1 | layer2 | layer3 | '
          'layer4 |\n|---|:-:|:-:|:-:|:-:|:-:|')
    for name, opt in VARIANTS.items():
        for zero_init in (True, False):
            r = measure(args.method, opt, zero_init, args.steps)
            print(
                f'| {name} | {zero_init} | ' + ' | '.join(f'×{x:.2f}'
                                                          for x in r) + ' |',
                flush=True)


if __name__ == '__main__':
    main()
