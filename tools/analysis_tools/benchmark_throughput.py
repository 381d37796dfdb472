# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Training-step throughput of MixSSL vs mmpretrain's SimCLR and MoCo v2.

Every method is built from its config through the mm machinery
(``MODELS.build``, mmengine's ``build_optim_wrapper``,
``Runner.build_dataloader``) and timed on ``model.train_step(data,
optim_wrapper)`` -- the call mmengine's train loop makes -- with the same
encoder depth, batch size and resolution, in one process:

* ``synthetic``: uint8 batches in the collated format the data preprocessor
  expects (lists of views; for MixSSL ``inputs=[x_t, x_a]`` and data samples
  carrying ``mix_alpha``), built once, already on the device. Measures the
  model + optimizer alone.
* ``pipeline``: the config's own train dataloader (BloodMNIST, workers, the
  augmentations, ``CrossDomainMixup`` with the ``NaturalPhotoPool`` for
  MixSSL) feeds the step. The loader is also iterated alone first
  (``loader_samples_per_s``), so it is plain whether it keeps up.

Reported per method and mode: samples/s (batch / median step), step time
median / min / max over ``--iters`` steps after ``--warmup`` steps, the first
step (compilation with ``--compile``) and the peak memory:

* CUDA: ``torch.cuda.max_memory_allocated`` (absolute: weights, optimizer
  state, activations), reset before each method.
* CPU: peak RSS of this process minus its RSS before the model was built
  (weights + optimizer state + activations + allocator slack); the peak is
  the kernel's ``VmHWM``, reset per method by writing ``5`` to
  ``/proc/self/clear_refs`` (Linux >= 4.0) after ``malloc_trim``. Where that
  file is not writable, the growth of ``ru_maxrss`` is reported instead (a
  lower bound). Data-loader workers are separate processes and not counted.

Speed levers (each one a switch, the same for every method):
``--amp`` (bf16 autocast through mmengine's ``AmpOptimWrapper``, CUDA only),
``--channels-last`` (MixSSL: its ``channels_last=True``; the baselines: the
module converted with ``model.to(memory_format=torch.channels_last)``),
``--compile`` (``torch.compile`` of ``train_step`` exactly as mmengine's
``Runner`` does for ``compile=True``; a config's own ``compile`` key is
honoured too) and ``--fused`` (``optimizer.fused=True``). MixSSL's decoder
can be varied with ``--mixssl-options model.neck.ngf=32 ...``.

Also: ``--flops`` (GFLOP of one eager step), ``--repeat N`` (run the method
sequence N times and pool the steps: fairer on a shared machine),
``--threads N`` (torch threads; one is far steadier on a loaded CPU, see
docs/performance.md) and ``--loader-only`` (the dataloader alone).

Examples::

    # CPU, ResNet-18 at 64 px, batch 32, both modes
    python tools/analysis_tools/benchmark_throughput.py --device cpu \\
        --depth 18 --size 64 --batch 32 --iters 10 --warmup 3 \\
        --out work_dirs/throughput/r18.json --md work_dirs/throughput/r18.md
    # GPU, the fast recipe's levers
    python tools/analysis_tools/benchmark_throughput.py --device cuda \\
        --depth 50 --size 224 --batch 256 --amp --channels-last --compile \\
        --fused --num-workers 8 --out r50_gpu.json --md r50_gpu.md

See docs/performance.md for measured numbers.
"""
import argparse
import copy
import ctypes
import datetime
import gc
import json
import logging
import os
import os.path as osp
import platform
import resource
import statistics
import sys
import time
from collections import OrderedDict
from typing import Dict, List, Optional

import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import mixssl_mm  # noqa: E402,F401  (registers components, applies fixes)
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from mmpretrain.registry import MODELS  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402

# The method configs and the overrides that fit each neck/head to the
# encoder's output channels (as tools/benchmark.py does).
METHODS = OrderedDict(
    mixssl=dict(
        name='MixSSL',
        config='configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py',
        channels=lambda c: {
            'model.neck.in_channels': c,
            'model.head.in_channels': c
        }),
    simclr=dict(
        name='SimCLR',
        config='configs/benchmarks/simclr_resnet50_1xb64-20e_bloodmnist.py',
        channels=lambda c: {
            'model.neck.in_channels': c,
            'model.neck.hid_channels': c
        }),
    mocov2=dict(
        name='MoCo v2',
        config='configs/benchmarks/mocov2_resnet50_1xb64-20e_bloodmnist.py',
        channels=lambda c: {
            'model.neck.in_channels': c,
            'model.neck.hid_channels': c
        }),
    byol=dict(
        name='BYOL',
        config='configs/benchmarks/byol_resnet50_1xb64-20e_bloodmnist.py',
        channels=lambda c: {'model.neck.in_channels': c}),
)
DEFAULT_METHODS = ['mixssl', 'simclr', 'mocov2']
MODES = ('synthetic', 'pipeline')


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Time model.train_step of MixSSL, SimCLR and MoCo v2 '
        'with the same encoder, batch and resolution.')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available()
                   else 'cpu', choices=['cpu', 'cuda'])
    p.add_argument('--depth', type=int, default=50, choices=[18, 50])
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--size', type=int, default=224,
                   help='input resolution (a multiple of 32)')
    p.add_argument('--modes', nargs='+', default=list(MODES), choices=MODES)
    p.add_argument('--methods', nargs='+', default=DEFAULT_METHODS,
                   choices=list(METHODS))
    p.add_argument('--iters', type=int, default=20, help='timed steps')
    p.add_argument('--repeat', type=int, default=1,
                   help='run the whole method sequence this many times and '
                   'pool the timed steps (fairer on a shared machine)')
    p.add_argument('--warmup', type=int, default=5,
                   help='untimed steps first (compilation, allocator, '
                   'worker start-up)')
    p.add_argument('--num-workers', type=int, default=None,
                   help='data-loader workers in pipeline mode (default: the '
                   "config's)")
    p.add_argument('--amp', action='store_true',
                   help='bf16 autocast: AmpOptimWrapper(dtype=bfloat16); '
                   'CUDA only')
    p.add_argument('--channels-last', action='store_true')
    p.add_argument('--compile', action='store_true',
                   help='torch.compile(model.train_step) as mmengine does '
                   'for compile=True')
    p.add_argument('--compile-backend', default=None,
                   help="torch.compile backend, e.g. 'eager' (default: "
                   "torch's, inductor)")
    p.add_argument('--fused', action='store_true',
                   help='optimizer fused=True (Adam/AdamW/SGD)')
    p.add_argument('--loader-only', action='store_true',
                   help='pipeline mode: time the dataloader alone, no '
                   'training step (e.g. to size num_workers for a GPU)')
    p.add_argument('--flops', action='store_true',
                   help='also count the GFLOP of one eager train_step '
                   '(one extra step before the timed ones)')
    p.add_argument('--threads', type=int, default=None,
                   help='torch.set_num_threads (CPU)')
    p.add_argument('--mixssl-config', default=None,
                   help='time another MixSSL config (e.g. the -fast one)')
    p.add_argument('--mixssl-options', nargs='+', action=DictAction,
                   default={}, help='config overrides for MixSSL only, '
                   'e.g. model.neck.n_blocks=2 model.neck.ngf=32')
    p.add_argument('--data-root', default=osp.join(REPO, 'data', 'medmnist'),
                   help='folder with bloodmnist.npz (pipeline mode)')
    p.add_argument('--seed', type=int, default=0)
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
    if args.amp and args.device != 'cuda':
        p.error("--amp: mmengine's AmpOptimWrapper needs CUDA (or NPU/MLU)")
    return args


# --------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------
def _set_crop_size(node, size):
    """Every RandomResizedCrop in a (nested) pipeline crops to ``size``."""
    if isinstance(node, dict):
        if node.get('type') == 'RandomResizedCrop':
            node['scale'] = size
        for value in node.values():
            _set_crop_size(value, size)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _set_crop_size(value, size)


def load_config(method: str, args) -> Config:
    spec = METHODS[method]
    path = spec['config']
    if method == 'mixssl' and args.mixssl_config:
        path = args.mixssl_config
    cfg = Config.fromfile(path if osp.isabs(path) else osp.join(REPO, path))
    channels = 512 if args.depth in (18, 34) else 2048
    options = {'model.backbone.depth': args.depth,
               **spec['channels'](channels),
               'train_dataloader.batch_size': args.batch}
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
    if (method == 'mocov2'
            and cfg.model.get('queue_len', 0) % args.batch):
        # MoCo's queue must hold a whole number of batches
        cfg.model.queue_len = max(1, cfg.model.queue_len // args.batch) * \
            args.batch
    _set_crop_size(cfg.train_dataloader.dataset.pipeline, args.size)
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
    """Model + optim wrapper from the config, as the Runner builds them."""
    model_cfg = copy.deepcopy(cfg.model)
    # the Runner merges the top-level data_preprocessor the same way
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    model = MODELS.build(model_cfg)
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
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    notes = []
    if optim_cfg.get('type') == 'AmpOptimWrapper' and args.device != 'cuda':
        optim_cfg.type = 'OptimWrapper'
        optim_cfg.pop('dtype', None)
        optim_cfg.pop('loss_scale', None)
        notes.append('AmpOptimWrapper -> OptimWrapper (no CUDA)')
    optim_wrapper = build_optim_wrapper(model, optim_cfg)
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
    return model, optim_wrapper, compile_cfg, notes


def count_flops(model, optim_wrapper, data) -> float:
    """GFLOP of one eager train_step (forward + backward; convolutions and
    matmuls, as counted by torch.utils.flop_counter)."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        model.train_step(data, optim_wrapper)
    return counter.get_total_flops() / 1e9


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------
def synthetic_batch(method: str, cfg: Config, args) -> dict:
    """One collated batch as ``default_collate`` + ``PackInputs`` give it."""
    g = torch.Generator().manual_seed(args.seed)
    shape = (args.batch, 3, args.size, args.size)
    views = [
        torch.randint(0, 256, shape, generator=g, dtype=torch.uint8).to(
            args.device) for _ in range(2)
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


# --------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------
def _proc_status_kb(key: str) -> Optional[int]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class PeakMemory:
    """Peak memory of one method's run (see the module docstring)."""

    def __init__(self, device: str):
        self.device = device
        self.kind = None

    def start(self):
        gc.collect()
        if self.device == 'cuda':
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            self.kind = 'cuda max_memory_allocated (absolute)'
            return
        try:
            ctypes.CDLL('libc.so.6').malloc_trim(0)
        except (OSError, AttributeError):
            pass
        self.base_rss = _proc_status_kb('VmRSS')
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')  # resets VmHWM to the current RSS
            self.kind = 'cpu peak RSS delta (VmHWM reset via clear_refs)'
        except OSError:
            self.base_rss = resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss
            self.kind = 'cpu ru_maxrss growth (lower bound)'

    def stop(self) -> float:
        """Peak in MiB."""
        if self.device == 'cuda':
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() / 2**20
        if self.kind.startswith('cpu peak RSS'):
            peak = _proc_status_kb('VmHWM')
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return max(0, peak - self.base_rss) / 1024


# --------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------
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


def summarise(row: Dict, batch: int) -> Dict:
    """Statistics from the raw per-step lists (also after merging
    repeats)."""
    if row.get('step_ms'):
        step = row['step_ms']
        row['step_ms_median'] = statistics.median(step)
        row['step_ms_min'] = min(step)
        row['step_ms_max'] = max(step)
        row['samples_per_s'] = 1e3 * batch / row['step_ms_median']
    if row.get('data_wait_ms'):
        row['data_wait_ms_median'] = statistics.median(row['data_wait_ms'])
    if row.get('loader_batch_ms'):
        times = row['loader_batch_ms']
        row['loader_batch_ms_median'] = statistics.median(times)
        row['loader_samples_per_s'] = 1e3 * batch * len(times) / sum(times)
    return row


def merge_repeats(runs: List[Dict], batch: int) -> Dict:
    """One row from the repeats of one method and mode: all their timed
    steps pooled, the largest peak memory."""
    row = OrderedDict(runs[0])
    for key in ('step_ms', 'data_wait_ms', 'loader_batch_ms'):
        if key in row:
            row[key] = [t for r in runs for t in r[key]]
    if 'peak_mem_mib' in row:
        row['peak_mem_mib'] = max(r['peak_mem_mib'] for r in runs)
    row['repeats'] = len(runs)
    return summarise(row, batch)


def run_one(method: str, mode: str, args) -> Dict:
    cfg = load_config(method, args)
    torch.manual_seed(args.seed)
    mem = PeakMemory(args.device)
    mem.start()
    model, optim_wrapper, compile_cfg, notes = build(cfg, args)
    row = OrderedDict(
        method=METHODS[method]['name'], key=method, mode=mode,
        config=osp.relpath(osp.join(REPO, cfg.filename), REPO)
        if cfg.filename else None,
        depth=args.depth, batch=args.batch, size=args.size,
        optim_wrapper=type(optim_wrapper).__name__,
        dtype=str(getattr(optim_wrapper, 'cast_dtype', None) or 'float32'),
        channels_last=bool(args.channels_last
                           or cfg.model.get('channels_last', False)),
        compile=compile_cfg,
        fused=bool(cfg.optim_wrapper.optimizer.get('fused', False)))
    if method == 'mixssl':
        neck = cfg.model.neck
        row['decoder'] = dict(
            res_channels=neck.get('res_channels', 256),
            ngf=neck.get('ngf', 64), n_blocks=neck.get('n_blocks', 6))
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
        row['gflop_per_step'] = count_flops(model, optim_wrapper,
                                            next_batch())
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
    if notes:
        row['notes'] = notes
    del model, optim_wrapper
    gc.collect()
    return summarise(row, args.batch)


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------
def environment(args) -> Dict:
    cpu = platform.processor()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    env = OrderedDict(
        date=datetime.datetime.now().isoformat(timespec='seconds'),
        command='python ' + ' '.join([osp.relpath(__file__, REPO)] +
                                     sys.argv[1:]),
        cpu=cpu, cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        torch=torch.__version__, python=platform.python_version(),
        device=args.device)
    if args.device == 'cuda':
        env['gpu'] = torch.cuda.get_device_name()
    return env


def ratios(rows: List[Dict]) -> Dict:
    """MixSSL's median step time over each baseline's, per mode."""
    out = OrderedDict()
    for mode in MODES:
        by = {r['key']: r for r in rows
              if r['mode'] == mode and 'step_ms_median' in r}
        if 'mixssl' not in by:
            continue
        for key, r in by.items():
            if key != 'mixssl':
                out[f'{mode}/mixssl_over_{key}'] = (
                    by['mixssl']['step_ms_median'] / r['step_ms_median'])
    return out


def _vs_simclr(row: Dict, rows: List[Dict]) -> str:
    simclr = [r for r in rows
              if r['mode'] == row['mode'] and r['key'] == 'simclr']
    if not simclr or 'step_ms_median' not in row or \
            'step_ms_median' not in simclr[0]:
        return '-'
    return f"{row['step_ms_median'] / simclr[0]['step_ms_median']:.2f}x"


def markdown(result: Dict) -> str:
    env, rows = result['environment'], result['results']
    a = result['args']
    levers = [name for name in ('amp', 'channels_last', 'compile', 'fused')
              if a.get(name)] or ['none']
    repeats = (f" (x {a['repeat']} repeats, pooled)"
               if a.get('repeat', 1) > 1 else '')
    lines = [
        f"ResNet-{a['depth']}, batch {a['batch']}, {a['size']} px, "
        f"{env['device']} ({env.get('gpu', env['cpu'])}, "
        f"{env['torch_threads']} torch threads), levers: "
        f"{', '.join(levers)}; {a['iters']} timed steps after "
        f"{a['warmup']} warm-up"
        f'{repeats}'
        f"; load average before / after: "
        f"{result['load_before']} / {result['load_after']}.", '',
    ]
    if a.get('mixssl_config') or a.get('mixssl_options'):
        lines[0] += (f" MixSSL: {a.get('mixssl_config') or 'default config'}"
                     f" {a.get('mixssl_options') or ''}".rstrip() + '.')
    def num(key, spec='.0f'):
        return lambda r: format(r[key], spec) if key in r else '-'

    cols = [('method', lambda r: r['method']), ('mode', lambda r: r['mode']),
            ('step median (ms)', num('step_ms_median')),
            ('min', num('step_ms_min')), ('max', num('step_ms_max')),
            ('samples/s', num('samples_per_s', '.1f')),
            ('vs SimCLR', lambda r: _vs_simclr(r, rows)),
            ('peak mem (MiB)', num('peak_mem_mib'))]
    if any('gflop_per_step' in r for r in rows):
        cols.append(('GFLOP/step', num('gflop_per_step', '.1f')))
    if any(r['mode'] == 'pipeline' for r in rows):
        cols += [('data wait (ms)', num('data_wait_ms_median')),
                 ('loader alone (samples/s)', num('loader_samples_per_s'))]
    lines += ['| ' + ' | '.join(name for name, _ in cols) + ' |',
              '|' + '|'.join(['---'] * 2 + ['---:'] * (len(cols) - 2)) + '|']
    for r in rows:
        lines.append('| ' + ' | '.join(f(r) for _, f in cols) + ' |')
    kinds = sorted({r['mem_kind'] for r in rows if 'mem_kind' in r})
    if kinds:
        lines += ['', f"Peak memory: {'; '.join(kinds)}."]
    return '\n'.join(lines) + '\n'


def main(argv=None):
    args = parse_args(argv)
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
                if 'step_ms_median' in row:
                    print(f"{row['method']:8s} {mode:9s} "
                          f"{row['step_ms_median']:9.1f} ms/step "
                          f"{row['samples_per_s']:8.1f} samples/s "
                          f"peak {row['peak_mem_mib']:.0f} MiB", flush=True)
                else:
                    print(f"{row['method']:8s} loader alone "
                          f"{row['loader_samples_per_s']:8.1f} samples/s",
                          flush=True)
    rows = [merge_repeats(r, args.batch) for r in runs.values()]
    result = OrderedDict(
        environment=environment(args), args=vars(args),
        load_before=load_before,
        load_after=[round(x, 2) for x in os.getloadavg()],
        results=rows, ratios=ratios(rows))
    md = markdown(result)
    print(md)
    for path, text in ((args.out, json.dumps(result, indent=2, default=str)),
                       (args.md, md)):
        if path:
            os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
            with open(path, 'w') as f:
                f.write(text + ('\n' if not text.endswith('\n') else ''))
    return result


if __name__ == '__main__':
    main()
