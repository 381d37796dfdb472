# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Training-step throughput of MixSSL vs mmpretrain's SimCLR, MoCo v2 and
BYOL (``tools/analysis_tools/benchmark_throughput.py``).

Every method is built from its config (the benchmark's methods table)
through the mm machinery (``MODELS.build``, mmengine's
``build_optim_wrapper``, ``Runner.build_dataloader``) and timed on
``model.train_step(data, optim_wrapper)`` -- the call mmengine's train loop
makes -- with the same encoder depth, batch size and resolution, in one
process:

* ``synthetic``: uint8 batches in the collated format the data preprocessor
  expects (lists of views; for MixSSL ``inputs=[x_t, x_a]`` and data samples
  carrying ``mix_alpha``), built once, already on the device. Measures the
  model + optimizer alone.
* ``pipeline``: the config's own train dataloader (BloodMNIST, workers, the
  augmentations, ``CrossDomainMixup`` with the ``NaturalPhotoPool`` for
  MixSSL) feeds the step. The loader is also iterated alone first
  (``loader_samples_per_s``), so it is plain whether it keeps up.

Per method and mode: the per-step times of ``--iters`` steps after
``--warmup`` steps, the first step (compilation with ``--compile``) and the
peak memory (:mod:`.memory`); :mod:`.throughput_report` summarises them.
"""
import argparse
import copy
import gc
import logging
import os
import os.path as osp
import time
from collections import OrderedDict
from typing import Dict, List, Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mixssl_mm.benchmark.methods import (METHODS, feature_channels,
                                         largest_size, resolution_options)
from mixssl_mm.utils import runner_model_cfg
from mixssl_mm.utils.cli_help import HelpFormatter
from mixssl_mm.utils.paths import file_in_the_way
from .memory import PeakMemory
from .throughput_report import (environment, markdown, merge_repeats, ratios,
                                summarise, write_outputs)

# the methods of the shared table whose train_step takes two views
THROUGHPUT_METHODS = ['mixssl', 'simclr', 'mocov2', 'byol']
DEFAULT_METHODS = ['mixssl', 'simclr', 'mocov2']
MODES = ('synthetic', 'pipeline')


def parse_throughput_args(argv=None) -> argparse.Namespace:
    """``benchmark_throughput.py``'s (and ``profile_mixssl_step.py``'s)
    arguments.

    Raises:
        SystemExit: a size that is no multiple of 32, ``--device cuda``
            without CUDA, non-positive counts.
    """
    p = argparse.ArgumentParser(
        description='Time model.train_step of MixSSL, SimCLR and MoCo v2 '
        'with the same encoder, batch and resolution.',
        formatter_class=HelpFormatter)
    p.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        choices=['cpu', 'cuda'],
        help='where to run (default: cuda when available, else '
        'cpu)')
    p.add_argument(
        '--depth',
        type=int,
        default=50,
        choices=[18, 50],
        help='ResNet depth of every method\'s encoder')
    p.add_argument('--batch', type=int, default=32, help='images per step')
    p.add_argument(
        '--size',
        type=int,
        default=224,
        help='input resolution (a multiple of 32)')
    p.add_argument(
        '--modes',
        nargs='+',
        default=list(MODES),
        choices=MODES,
        help='what a step includes (see docs/benchmark.md)')
    p.add_argument(
        '--methods',
        nargs='+',
        default=DEFAULT_METHODS,
        choices=THROUGHPUT_METHODS,
        help='methods to time')
    p.add_argument('--iters', type=int, default=20, help='timed steps')
    p.add_argument(
        '--repeat',
        type=int,
        default=1,
        help='run the whole method sequence this many times and '
        'pool the timed steps (fairer on a shared machine)')
    p.add_argument(
        '--warmup',
        type=int,
        default=5,
        help='untimed steps first (compilation, allocator, '
        'worker start-up)')
    p.add_argument(
        '--num-workers',
        type=int,
        default=None,
        help='data-loader workers in pipeline mode (default: the '
        "config's)")
    p.add_argument(
        '--amp',
        action='store_true',
        help='bf16 autocast: AmpOptimWrapper(dtype=bfloat16); on a CPU '
        "through the tool's cpu-amp fix (docs/compat.md)")
    p.add_argument(
        '--channels-last',
        action='store_true',
        help='model and batch in torch.channels_last memory '
        'format')
    p.add_argument(
        '--compile',
        action='store_true',
        help='torch.compile(model.train_step) as mmengine does '
        'for compile=True')
    p.add_argument(
        '--compile-backend',
        default=None,
        help="torch.compile backend, e.g. 'eager' (default: "
        "torch's, inductor)")
    p.add_argument(
        '--fused',
        action='store_true',
        help='optimizer fused=True (Adam/AdamW/SGD)')
    p.add_argument(
        '--loader-only',
        action='store_true',
        help='pipeline mode: time the dataloader alone, no '
        'training step (e.g. to size num_workers for a GPU)')
    p.add_argument(
        '--flops',
        action='store_true',
        help='also count the GFLOP of one eager train_step '
        '(one extra step before the timed ones)')
    p.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch.set_num_threads (CPU)')
    p.add_argument(
        '--mixssl-config',
        default=None,
        help='time another MixSSL config (e.g. the -fast one)')
    p.add_argument(
        '--mixssl-options',
        nargs='+',
        action=DictAction,
        default={},
        help='config overrides for MixSSL only, '
        'e.g. model.neck.n_blocks=2 model.neck.ngf=32')
    p.add_argument(
        '--data-root',
        default=osp.abspath('data/medmnist'),
        help='folder with bloodmnist.npz (pipeline mode)')
    p.add_argument(
        '--seed',
        type=int,
        default=0,
        help='seed of the model initialisation and the batches')
    p.add_argument('--out', default=None, help='write the results as JSON')
    p.add_argument('--md', default=None, help='write the Markdown table')
    args = p.parse_args(argv)
    if args.size % 32:
        p.error('--size must be a multiple of 32 (the encoder stride)')
    if args.loader_only:
        args.modes = ['pipeline']
    if args.iters < 1 or args.warmup < 0 or args.batch < 1 or \
            args.repeat < 1:
        p.error('--iters >= 1, --warmup >= 0, --batch >= 1, --repeat >= 1')
    if args.device == 'cuda' and not torch.cuda.is_available():
        p.error('--device cuda: no CUDA device is available')
    for flag, path in (('--out', args.out), ('--md', args.md)):
        # written after the whole measurement: checked before it
        in_the_way = path and (path if osp.isdir(path) else file_in_the_way(
            osp.dirname(osp.abspath(path))))
        if in_the_way:
            p.error(f'{flag} {path}: {in_the_way} is in the way (a folder '
                    'where the file goes, or a file where a folder must be)')
    return args


def load_config(method: str, args) -> Config:
    """``method``'s config (``--mixssl-config`` for MixSSL when given) with
    the encoder depth and the necks/heads fitted to it, the batch, the crop
    size, the levers and the loader settings of ``args``."""
    spec = METHODS[method]
    path = spec['config']
    if method == 'mixssl' and args.mixssl_config:
        path = args.mixssl_config
    cfg = Config.fromfile(path)
    options = {'model.backbone.depth': args.depth}
    options.update(spec['channels'](feature_channels(args.depth)))
    options['train_dataloader.batch_size'] = args.batch
    if method == 'mixssl':
        options.update(args.mixssl_options)
        if args.channels_last:
            options['model.channels_last'] = True
    if args.fused:
        options['optim_wrapper.optimizer.fused'] = True
    if args.amp:
        options['optim_wrapper.type'] = 'AmpOptimWrapper'
        options['optim_wrapper.dtype'] = 'bfloat16'
        # bf16 has float32's range: no loss scaling (and no inf checks)
        options['optim_wrapper.loss_scale'] = dict(enabled=False)
    cfg.merge_from_dict(options)
    if (method == 'mocov2' and cfg.model.get('queue_len', 0) % args.batch):
        # MoCo's queue must hold a whole number of batches
        cfg.model.queue_len = max(1, cfg.model.queue_len // args.batch) * \
            args.batch
    loaders = ['train_dataloader']
    # the config's own full size (224, or 64 for a 64-px config) -> --size
    cfg.merge_from_dict(
        resolution_options(
            cfg, args.size, loaders, full=largest_size(cfg, loaders)))
    cfg.train_dataloader.dataset.data_root = args.data_root
    if args.num_workers is not None:
        cfg.train_dataloader.num_workers = args.num_workers
    if cfg.train_dataloader.get('num_workers', 0) == 0:
        cfg.train_dataloader.persistent_workers = False
    # pinning is for host->GPU copies; on a CPU-only run torch warns
    cfg.train_dataloader.pin_memory = args.device == 'cuda' and \
        cfg.train_dataloader.get('pin_memory', False)
    return cfg


def build(cfg: Config, args):
    """Model + optim wrapper from the config, as the Runner builds them.

    Returns:
        ``(model, optim_wrapper, compile_cfg)``: ``compile_cfg`` the
        ``torch.compile`` kwargs (None: no compile).
    """
    model = MODELS.build(runner_model_cfg(cfg))
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights logs every parameter
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    model = model.to(args.device)
    if args.channels_last and not hasattr(model, 'channels_last'):
        model = model.to(memory_format=torch.channels_last)
    model.train()
    # AmpOptimWrapper on a CPU: bf16 through compat's cpu-amp fix, which
    # the tools apply (stock mmengine <= 0.10.7 asserts CUDA/NPU/MLU)
    optim_wrapper = build_optim_wrapper(model,
                                        copy.deepcopy(cfg.optim_wrapper))
    # mmengine's semantics: compile=True or a dict of torch.compile kwargs
    compile_cfg = True if args.compile else cfg.get('compile', None)
    if compile_cfg is True:
        compile_cfg = dict()
    elif not compile_cfg:
        compile_cfg = None
    else:
        compile_cfg = dict(compile_cfg)
    if compile_cfg is not None and args.compile_backend:
        compile_cfg['backend'] = args.compile_backend
    return model, optim_wrapper, compile_cfg


def count_flops(model, optim_wrapper, data) -> float:
    """GFLOP of one eager train_step (forward + backward; convolutions and
    matmuls, as counted by torch.utils.flop_counter)."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        model.train_step(data, optim_wrapper)
    return counter.get_total_flops() / 1e9


def synthetic_batch(method: str, cfg: Config, args) -> dict:
    """One collated batch as ``default_collate`` + ``PackInputs`` give it:
    two uint8 views of ``(batch, 3, size, size)`` on the device."""
    g = torch.Generator().manual_seed(args.seed)
    shape = (args.batch, 3, args.size, args.size)
    views = [
        torch.randint(0, 256, shape, generator=g,
                      dtype=torch.uint8).to(args.device) for _ in range(2)
    ]
    samples = []
    for _ in range(args.batch):
        s = DataSample()
        if method == 'mixssl':
            s.set_field(1.0, 'mix_alpha')
        samples.append(s)
    return dict(inputs=views, data_samples=samples)


def _cycle(loader):
    while True:
        yield from loader


def _sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def time_loader(loader, args) -> Dict:
    """Iterate the dataloader alone: is it fast enough to feed the step?"""
    it = iter(_cycle(loader))
    for _ in range(args.warmup):
        next(it)
    times = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        next(it)
        times.append(time.perf_counter() - t0)
    return dict(loader_batch_ms=[1e3 * t for t in times])


def _describe(method: str, mode: str, cfg: Config, optim_wrapper, compile_cfg,
              args) -> 'OrderedDict':
    """The settings part of a result row."""
    row = OrderedDict(
        method=METHODS[method]['name'],
        key=method,
        mode=mode,
        config=osp.relpath(cfg.filename) if cfg.filename else None,
        depth=args.depth,
        batch=args.batch,
        size=args.size,
        optim_wrapper=type(optim_wrapper).__name__,
        dtype=str(getattr(optim_wrapper, 'cast_dtype', None) or 'float32'),
        channels_last=bool(
            args.channels_last or cfg.model.get('channels_last', False)),
        compile=compile_cfg,
        fused=bool(cfg.optim_wrapper.optimizer.get('fused', False)))
    if method == 'mixssl':
        neck = cfg.model.neck
        row['decoder'] = dict(
            res_channels=neck.get('res_channels', 256),
            ngf=neck.get('ngf', 64),
            n_blocks=neck.get('n_blocks', 6))
    return row


def run_one(method: str, mode: str, args) -> Dict:
    """Build ``method`` and time its steps in ``mode``; one result row
    (raw per-step lists and their summary).

    Raises:
        FloatingPointError: the last step's loss is not finite.
    """
    cfg = load_config(method, args)
    torch.manual_seed(args.seed)
    mem = PeakMemory(args.device)
    mem.start()
    model, optim_wrapper, compile_cfg = build(cfg, args)
    row = _describe(method, mode, cfg, optim_wrapper, compile_cfg, args)
    if mode == 'synthetic':
        batch = synthetic_batch(method, cfg, args)
        next_batch = lambda: batch  # noqa: E731
    else:
        init_default_scope('mmpretrain')
        loader = Runner.build_dataloader(
            copy.deepcopy(cfg.train_dataloader), seed=args.seed)
        row['num_workers'] = loader.num_workers
        row.update(time_loader(loader, args))
        if args.loader_only:
            del model, optim_wrapper, loader
            return summarise(row, args.batch)
        stream = iter(_cycle(loader))
        next_batch = lambda: next(stream)  # noqa: E731
    if args.flops:
        row['gflop_per_step'] = count_flops(model, optim_wrapper, next_batch())
    if compile_cfg is not None:
        # what Runner._maybe_compile('train_step') does for cfg.compile
        model.train_step = torch.compile(model.train_step, **compile_cfg)
    step, wait = [], []
    for i in range(args.warmup + args.iters):
        _sync(args.device)
        t0 = time.perf_counter()
        data = next_batch()
        t1 = time.perf_counter()
        log_vars = model.train_step(data, optim_wrapper)
        _sync(args.device)
        t2 = time.perf_counter()
        if i == 0:
            row['first_step_s'] = t2 - t0
        if i >= args.warmup:
            step.append(t2 - t0)
            wait.append(t1 - t0)
    row['peak_mem_mib'] = mem.stop()
    row['mem_kind'] = mem.kind
    loss = float(log_vars['loss'].detach())
    if not torch.isfinite(torch.tensor(loss)):
        raise FloatingPointError(f'{method}/{mode}: loss is {loss}')
    row['loss'] = loss
    row['step_ms'] = [1e3 * t for t in step]
    if mode == 'pipeline':
        row['data_wait_ms'] = [1e3 * t for t in wait]
    del model, optim_wrapper
    gc.collect()
    return summarise(row, args.batch)


def measure(args) -> 'OrderedDict':
    """Every method in every mode, ``--repeat`` times; the result that
    ``--out`` saves: environment, args, load averages, one row per (mode,
    method) with the repeats pooled, and MixSSL's step-time ratios."""
    if args.threads:
        torch.set_num_threads(args.threads)
    init_default_scope('mmpretrain')
    load_before = [round(x, 2) for x in os.getloadavg()]
    runs = OrderedDict()
    # repeats run the whole method sequence again, so that a load change on
    # a shared machine hits every method rather than one
    for _ in range(args.repeat):
        for mode in args.modes:
            for method in args.methods:
                row = run_one(method, mode, args)
                runs.setdefault((mode, method), []).append(row)
                _print_row(row, mode)
    rows = [merge_repeats(r, args.batch) for r in runs.values()]
    return OrderedDict(
        environment=environment(args),
        args=vars(args),
        load_before=load_before,
        load_after=[round(x, 2) for x in os.getloadavg()],
        results=rows,
        ratios=ratios(rows, MODES))


def _print_row(row: Dict, mode: str) -> None:
    if 'step_ms_median' in row:
        print(
            f"{row['method']:8s} {mode:9s} "
            f"{row['step_ms_median']:9.1f} ms/step "
            f"{row['samples_per_s']:8.1f} samples/s "
            f"peak {row['peak_mem_mib']:.0f} MiB",
            flush=True)
    else:
        print(
            f"{row['method']:8s} loader alone "
            f"{row['loader_samples_per_s']:8.1f} samples/s",
            flush=True)


def main(argv: Optional[List[str]] = None) -> 'OrderedDict':
    """``benchmark_throughput.py``: measure, print the Markdown table, write
    ``--out`` (JSON) and ``--md``; the result."""
    from mixssl_mm.compat import apply_compat_fixes
    args = parse_throughput_args(argv)
    apply_compat_fixes()  # after the arguments: -h prints only the help
    result = measure(args)
    md = markdown(result)
    print(md)
    write_outputs(result, md, args.out, args.md)
    return result
