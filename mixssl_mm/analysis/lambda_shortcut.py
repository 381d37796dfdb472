# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Does the transparency head read λ from BatchNorm's batch statistics?

Trains a MixSSL config twice for ``--iters`` iterations with the real Runner
and pipeline, once with one λ per batch (``model.lam_mode='batch'``, the
paper's reading) and once with one λ per sample (the default), then
measures the held-out L1 error of λ̂ (issue 18's table):

    | λ̂ trained with | tested on | BN in train mode | BN in eval mode |

on batches of the held-out split (``--eval-split``, BloodMNIST's ``val``)
mixed with one λ for the batch, or one λ per sample, and with BatchNorm
normalising by the batch's statistics (train mode, as in training) or by
its running statistics (eval mode). λ for the tests is drawn by a generator
of this tool (``--seed``), the same for both trained models; always
predicting 0.5 scores E|λ - 0.5| (0.25 for α = 1), given as a reference.

Example (the ``cpu-small`` budget: ResNet-18, 64 px, batch 32, 2048 train
images x 3 epochs = 192 iterations, Adam lr 1e-3; objective T alone as in
the issue)::

    python tools/analysis_tools/lambda_shortcut.py \\
        configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py \\
        --iters 192 --depth 18 --img-size 64 --batch-size 32 \\
        --train-subset 2048 --lr 1e-3 --objective T \\
        --work-dir work_dirs/lambda_shortcut_cpu-small

Writes ``<work-dir>/lambda_shortcut.json`` and prints the table.
"""
import argparse
import copy
import json
import os
import os.path as osp
import time
from typing import Dict, List, Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mixssl_mm.analysis.shrink import model_options
from mixssl_mm.benchmark.methods import largest_size, resolution_options
from mixssl_mm.models.utils import sample_beta
from mixssl_mm.utils.cli_help import HelpFormatter
from mixssl_mm.utils.paths import file_in_the_way

LAM_MODES = ('batch', 'sample')
TESTS = ('one', 'sample')  # one λ per batch / per sample
BN_BUFFERS = ('running_mean', 'running_var', 'num_batches_tracked')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        formatter_class=HelpFormatter,
        description='Held-out L1 error of the λ regressor with BatchNorm in '
        'train and eval mode, for MixSSL trained with one λ per batch and '
        'one λ per sample (issue 18).')
    p.add_argument('config', help='a MixSSL pretraining config')
    p.add_argument(
        '--iters',
        type=int,
        default=150,
        help='training iterations per model (default 150)')
    p.add_argument(
        '--objective',
        choices=['T', 'RT'],
        default='T',
        help='T: the transparency head alone (the issue\'s '
        'setting, no decoder); RT: the config\'s R + T')
    p.add_argument(
        '--modes',
        nargs='+',
        choices=LAM_MODES,
        default=list(LAM_MODES),
        help='λ modes to train')
    p.add_argument('--depth', type=int, help='ResNet depth of the encoder')
    p.add_argument(
        '--width',
        type=int,
        default=64,
        help='ResNet base width with --depth (default 64)')
    p.add_argument('--img-size', type=int, help='input size in px')
    p.add_argument('--batch-size', type=int, help='batch size')
    p.add_argument(
        '--train-subset',
        type=int,
        help='train on the first N training samples')
    p.add_argument('--lr', type=float, help='the optimizer\'s lr')
    p.add_argument(
        '--eval-split',
        default='val',
        help='dataset split of the held-out batches (datasets '
        'with a `split` key, e.g. MedMNIST; default val)')
    p.add_argument(
        '--eval-batches',
        type=int,
        default=8,
        help='held-out batches per test (default 8)')
    p.add_argument(
        '--seed',
        type=int,
        default=0,
        help='training seed and seed of the test λs')
    p.add_argument(
        '--work-dir',
        default='work_dirs/lambda_shortcut',
        help='where the runs and lambda_shortcut.json are written')
    p.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='further config overrides, as tools/train.py\'s '
        '(default: none)')
    args = p.parse_args(argv)
    in_the_way = file_in_the_way(args.work_dir)
    if in_the_way is not None:
        p.error(f'--work-dir {args.work_dir}: {in_the_way} is a file, not a '
                'folder')
    return args


def train_config(args, mode: str) -> Config:
    """The config of one training run: the given one with the λ mode, the
    size options, ``--iters`` iterations at a constant lr, no checkpoints
    and no custom hooks."""
    cfg = Config.fromfile(args.config)
    opts = {}
    if args.depth:
        opts.update(model_options(cfg, args.depth, args.width))
    if args.img_size:
        opts.update(
            resolution_options(cfg, args.img_size, full=largest_size(cfg)))
    if args.batch_size:
        opts['train_dataloader.batch_size'] = args.batch_size
    if args.train_subset:
        opts['train_dataloader.dataset.indices'] = args.train_subset
    if args.lr:
        opts['optim_wrapper.optimizer.lr'] = args.lr
    opts.update(args.cfg_options)
    opts['model.lam_mode'] = mode
    if args.objective == 'T':
        opts['model.use_rec'] = False
        opts['model.use_trans'] = True
    cfg.merge_from_dict(opts)
    cfg.train_cfg = dict(by_epoch=False, max_iters=args.iters)
    cfg.param_scheduler = []
    cfg.custom_hooks = []
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=50)
    cfg.randomness = dict(seed=args.seed)
    cfg.compile = False
    cfg.work_dir = osp.join(args.work_dir, f'lam_{mode}')
    # mmengine keys the logger and message hub by the experiment name (a
    # timestamp to the second by default): the two modes' Runners in this
    # process must not share them.
    cfg.experiment_name = f"lam_{mode}_{time.strftime('%Y%m%d_%H%M%S')}"
    return cfg


def held_out_loader(cfg: Config, split: str):
    """The training dataloader on ``split`` (when the dataset has one), in
    order, without the training subset."""
    loader = copy.deepcopy(cfg.train_dataloader.to_dict(
    ) if hasattr(cfg.train_dataloader, 'to_dict') else cfg.train_dataloader)
    dataset = loader['dataset']
    if 'split' in dataset:
        dataset['split'] = split
    dataset.pop('indices', None)
    loader.update(
        sampler=dict(type='DefaultSampler', shuffle=False),
        num_workers=0,
        persistent_workers=False,
        drop_last=True)
    return Runner.build_dataloader(loader, seed=0)


def predict(model, x_t, x_a, lam, bn_train: bool) -> torch.Tensor:
    """λ̂ of ``(1 - λ)·x_t + λ·x_a`` with BN in train or eval mode (BN's
    running statistics are restored after a train-mode pass)."""
    saved = {
        n: b.clone()
        for n, b in model.named_buffers() if n.rsplit('.', 1)[-1] in BN_BUFFERS
    }
    model.train(bn_train)
    try:
        with torch.no_grad():
            return model.head(model.backbone(model.mix(x_t, x_a, lam)))
    finally:
        buffers = dict(model.named_buffers())
        with torch.no_grad():
            for n, b in saved.items():
                buffers[n].copy_(b)


def evaluate(model, loader, batches: int, seed: int) -> Dict[str, float]:
    """Mean |λ̂ - λ| per ``<test>/<bn mode>``, and of the constant 0.5."""
    alpha = model.lam_sampler.alpha
    g = torch.Generator().manual_seed(seed)
    sums: Dict[str, float] = {}
    count = 0
    for i, data in enumerate(loader):
        if i == batches:
            break
        x_t, x_a = model.data_preprocessor(data, False)['inputs']
        n = x_t.size(0)
        lams = dict(
            one=sample_beta(alpha, 1, g, torch.device('cpu')).expand(n),
            sample=sample_beta(alpha, n, g, torch.device('cpu')))
        for test, lam in lams.items():
            lam = lam.to(x_t.device)
            for bn in ('train', 'eval'):
                err = (predict(model, x_t, x_a, lam, bn == 'train') -
                       lam).abs().sum().item()
                key = f'{test}/{bn}'
                sums[key] = sums.get(key, 0.0) + err
            sums[f'{test}/const'] = sums.get(f'{test}/const', 0.0) + float(
                (lam - 0.5).abs().sum())
        count += n
    if not count:
        raise RuntimeError('lambda_shortcut: the held-out loader gave no '
                           'full batch; lower --batch-size.')
    return {k: v / count for k, v in sums.items()}


def table(results: Dict[str, Dict[str, float]]) -> str:
    names = dict(batch='one λ per batch', sample='λ per sample')
    tests = dict(one='one-λ batches', sample='per-sample-λ batches')
    rows = [
        '| λ̂ trained with | tested on | BN in train mode | '
        'BN in eval mode | constant 0.5 |', '|---|---|---:|---:|---:|'
    ]
    for mode, res in results.items():
        for test in TESTS:
            rows.append(f'| {names[mode]} | {tests[test]} | '
                        f"{res[f'{test}/train']:.3f} | "
                        f"{res[f'{test}/eval']:.3f} | "
                        f"{res[f'{test}/const']:.3f} |")
    return '\n'.join(rows)


def main(argv: Optional[List[str]] = None) -> Dict[str, Dict[str, float]]:
    from mixssl_mm.compat import apply_compat_fixes
    args = parse_args(argv)
    apply_compat_fixes()  # after the arguments: -h prints only the help
    results = {}
    for mode in args.modes:
        cfg = train_config(args, mode)
        runner = Runner.from_cfg(cfg)
        runner.train()
        model = runner.model.module if hasattr(runner.model, 'module') \
            else runner.model
        results[mode] = evaluate(model, held_out_loader(cfg, args.eval_split),
                                 args.eval_batches, args.seed)
    os.makedirs(args.work_dir, exist_ok=True)
    with open(osp.join(args.work_dir, 'lambda_shortcut.json'), 'w') as f:
        json.dump(
            dict(args=vars(args), results=results), f, indent=1, default=str)
    print(f'held-out L1 error of λ̂ ({args.config}, objective '
          f'{args.objective}, {args.iters} iterations, seed {args.seed})')
    print(table(results))
    return results
