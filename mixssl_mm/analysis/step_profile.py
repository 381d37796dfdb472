# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Where MixSSL's training step spends its time: encoder, decoder, head,
optimizer, against the whole ``train_step``
(``tools/analysis_tools/profile_mixssl_step.py``).

Builds MixSSL exactly as the throughput tool does (:mod:`.throughput`: same
config, ``--depth``, ``--batch``, ``--size``, ``--mixssl-options``, levers)
and times, on one synthetic batch, each part's forward + backward on its
own:

* encoder: ``backbone(x_mix)`` and the backward of its features,
* decoder: ``neck(feats)`` + reconstruction loss and its backward (the
  gradient w.r.t. the features included, which training needs),
* head: ``head.loss(feats, λ)`` and its backward,
* optimizer: ``optim_wrapper.step()`` (Adam; ``--fused`` for the fused one),
* train_step: the whole ``model.train_step`` (data preprocessor included).

Median over ``--iters`` after ``--warmup``; plus the parts' GFLOP.
"""
import time
from typing import List, Optional, Tuple

import torch
from mmengine.registry import init_default_scope
from torch.utils.flop_counter import FlopCounterMode

from .throughput import (build, load_config, parse_throughput_args,
                         synthetic_batch)
from .throughput_report import median_min_max


def _timed(fn, args, sync) -> float:
    """Median ms of ``fn()`` over ``args.iters`` calls after
    ``args.warmup`` untimed ones."""
    times = []
    for i in range(args.warmup + args.iters):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    return 1e3 * median_min_max(times)[0]


def _gflop(fn) -> float:
    """GFLOP of one ``fn()`` call."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def main(argv: Optional[List[str]] = None) -> List[Tuple[str, float, float]]:
    """``profile_mixssl_step.py``: print the table; its rows ``(part,
    median ms, GFLOP)``."""
    from mixssl_mm.compat import apply_compat_fixes
    args = parse_throughput_args(argv)
    apply_compat_fixes()  # after the arguments: -h prints only the help
    if args.threads:
        torch.set_num_threads(args.threads)
    init_default_scope('mmpretrain')
    cfg = load_config('mixssl', args)
    torch.manual_seed(args.seed)
    model, optim_wrapper, _ = build(cfg, args)
    data = synthetic_batch('mixssl', cfg, args)
    batch = model.data_preprocessor(data, True)
    # one step first: optimizer state
    model.train_step(data, optim_wrapper)
    x_t, x_a = batch['inputs']
    lam = model.lam_sampler(x_t.size(0), x_t.device)
    x_mix = model.mix(x_t, x_a, lam)
    feats = [f.detach().requires_grad_() for f in model.backbone(x_mix)]

    def encoder():
        out = model.backbone(x_mix)
        torch.autograd.backward(out, [torch.ones_like(o) for o in out])

    def decoder():
        rec = model.neck(feats)[0]
        model.rec_head.loss(rec, x_t,
                            model.pixel_stats(x_t))['loss_rec'].backward()

    def head():
        sum(model.head.loss(feats, lam).values()).backward()

    def step():
        model.train_step(data, optim_wrapper)

    sync = (
        torch.cuda.synchronize if args.device == 'cuda' else (lambda: None))
    parts = dict(encoder=encoder, decoder=decoder, head=head)
    rows = []
    for name, fn in parts.items():
        rows.append((name, _timed(fn, args, sync), _gflop(fn)))
    optim_wrapper.optimizer.zero_grad(set_to_none=False)
    rows.append(('optimizer', _timed(optim_wrapper.step, args, sync), 0.0))
    rows.append(('train_step', _timed(step, args, sync), _gflop(step)))
    total = rows[-1][1]
    print(f"MixSSL ResNet-{args.depth}, batch {args.batch}, {args.size} px, "
          f"{args.device}, decoder {dict(cfg.model.neck)}, fused="
          f"{bool(cfg.optim_wrapper.optimizer.get('fused', False))}, "
          f"channels_last={model.channels_last}\n")
    print('| part (fwd+bwd) | median (ms) | share of train_step | GFLOP |')
    print('|---|---:|---:|---:|')
    for name, ms, gflop in rows:
        print(f'| {name} | {ms:.0f} | {100 * ms / total:.0f}% | '
              f'{gflop:.1f} |')
    return rows
