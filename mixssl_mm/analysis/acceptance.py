# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The GPU acceptance run: one command that, on one CUDA GPU, checks every
shipped pretraining config, the launchers and the speed, inside a time
budget, writing its Markdown report as it goes::

    python tools/analysis_tools/gpu_acceptance.py [--budget 480] \\
        [--out work_dirs/acceptance] [--data-root data/medmnist]
    # the same on a CPU, at test size (what CI runs):
    python tools/analysis_tools/gpu_acceptance.py --tiny

Parts, in order, each a child process that is killed (with its process
group) when its share of the budget is spent; the report
(``<out>/report.md``) is rewritten after every step:

(a) every pretraining config under configs/ (classified by content, see
    :func:`mixssl_mm.analysis.shrink.config_kind`) trains ``--iters``
    iterations with bf16 AMP: ok/failed, step time, peak memory
    (:mod:`.acceptance_configs`);
(b) ``bash tools/dist_train.sh CONFIG 1`` (nccl on a GPU, gloo on a CPU)
    for one epoch, again with ``--resume`` for a second one, a fine-tune
    from that checkpoint and ``bash tools/dist_test.sh`` on its checkpoint;
(c) training-step throughput of MixSSL (the fast config), SimCLR and MoCo
    v2, synthetic and real-pipeline modes, ResNet-50 / 224 px / batch 256
    with bf16, channels_last, compile and fused Adam (:mod:`.throughput`,
    one child per method), checked against the performance goals;
(d) with the time left, the ``gpu-quick`` benchmark preset on all 8 classes
    (``tools/benchmark.py``): the stages that finish, and results.md once a
    chain is complete (the benchmark resumes finished stages later).

Shares of the budget: (a) 30 %, (b) 20 %, (c) 35 %, (d) what is left; a
part that ends early leaves its time to the next. ``--tiny`` (CPU, CI) runs
the same code at test size, each part on as little as still takes it
through its code path (the tool's logic is under test there, not every
config, see ``TINY_CONFIGS``): (a) two configs (MixSSL's main one and
SimCLR) shrunk as in the launch matrix, 3 iterations; (b) unchanged but
shrunk; (c) MixSSL (fast) and SimCLR at ResNet-18 / 32 px, one timed step
each; (d) the ``tiny`` preset's fine-tune of Rand only (2 stages).
Exit status 0 when (a) to (c) ran completely and passed and no benchmark
stage failed (a benchmark cut by the budget is not a failure).
"""
import argparse
import datetime
import json
import os
import os.path as osp
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections import OrderedDict
from typing import Callable, List, Optional

from mixssl_mm.utils.cli_help import HelpFormatter
from mixssl_mm.utils.paths import file_in_the_way
from .acceptance_report import budget_hit, passed, render

DEFAULT_BUDGET = 480
SHARES = OrderedDict(a=0.30, b=0.20, c=0.35)
RESERVE_S = 5  # kept for the last report write
TICK_S = 10  # how often a running part's progress reaches the report
PRETRAIN = 'configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py'
FINETUNE = ('configs/mixssl/benchmarks/'
            'resnet50_1xb64-20e_bloodmnist_finetune.py')
FAST = 'configs/mixssl/mixssl_resnet50_1xb256-20e_bloodmnist-fast.py'
THROUGHPUT_METHODS = ('mixssl', 'simclr', 'mocov2')
# Part (a) in --tiny mode. CI launches every shipped config under
# dist_train.sh already (tests/test_distributed/test_launch_matrix.py), so
# the tiny run trains two that between them take part (a) through
# everything it does to a config (shrink, bf16 AMP, the step timer, the
# image folder option, the JSON rows): MixSSL's main config, the plugin's
# own algorithm, neck, head and CrossDomainMixup (the config part (b)
# launches too), and SimCLR, a method built wholly from mmpretrain's
# registry with its two-view pipeline. On a GPU (a) runs every pretraining
# config (``a_configs``).
TINY_CONFIGS = (PRETRAIN,
                'configs/simclr/simclr_resnet50_1xb64-20e_bloodmnist.py')
TINY_EVAL = 256
# part (b) tests the fine-tune's checkpoint with dist_test.sh instead
NO_VALIDATION = [
    'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
    'default_hooks.checkpoint.save_best=None'
]
SETTINGS = dict(
    gpu=dict(
        iters=20,
        launch_iters=10,
        preset='gpu-quick',
        configs=None,  # every pretraining config under configs/
        throughput_methods=THROUGHPUT_METHODS,
        bench_args=['--classes', '8'],
        throughput=[
            '--device',
            'cuda',
            '--depth',
            '50',
            '--size',
            '224',
            '--batch',
            '256',
            '--amp',
            '--channels-last',
            '--compile',
            '--fused',
            '--iters',
            '20',
            '--warmup',
            '5',
            # the GPU machine's 16 cores: the pipeline's whole CPU
            '--num-workers',
            '14'
        ]),
    tiny=dict(
        iters=3,
        launch_iters=2,
        preset='tiny',
        configs=TINY_CONFIGS,
        # the fast config's own path (--mixssl-config, its options)
        # and one method of mmpretrain's (MoCo v2 takes SimCLR's path)
        throughput_methods=('mixssl', 'simclr'),
        bench_args=['--methods', 'rand', '--protocols', 'finetune'],
        # one step, no warm-up: the fewest that give every number
        throughput=[
            '--device', 'cpu', '--depth', '18', '--size', '32', '--batch', '8',
            '--channels-last', '--fused', '--iters', '1', '--warmup', '0',
            '--num-workers', '0', '--threads', '1'
        ]))


def _py(module: str) -> List[str]:
    """A child that runs ``main(argv)`` of ``module`` (dotted), after
    the stack fixes (an entry point, as ``tools/*.py``); its exit status is
    main's when that is an int (the throughput tool's main returns its
    results), else 0."""
    return [
        sys.executable, '-c',
        'import sys; from mixssl_mm.compat import apply_compat_fixes; '
        'apply_compat_fixes(); '
        f'from {module} import main; '
        'rc = main(sys.argv[1:]); '
        'sys.exit(rc if isinstance(rc, int) else 0)'
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Acceptance:
    """One acceptance run for parsed ``args`` (see :func:`parse_args`)."""

    def __init__(self, args):
        self.args = args
        self.mode = 'tiny' if args.tiny else 'gpu'
        self.settings = SETTINGS[self.mode]
        self.out = osp.abspath(args.out)
        self.t0 = time.time()
        self.deadline = self.t0 + args.budget
        self.state = OrderedDict(
            mode=self.mode,
            budget=args.budget,
            command=args.command,
            date=datetime.datetime.now(
                datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
            environment=None,
            status='running',
            skipped=[],
            a=[],
            b=[],
            c=[],
            d=None)

    # -- time and children ------------------------------------------------
    def left(self) -> float:
        return self.deadline - time.time() - RESERVE_S

    def run(self,
            cmd: List[str],
            log: str,
            until: float,
            env: Optional[dict] = None,
            on_tick: Optional[Callable[[], None]] = None) -> dict:
        """Run ``cmd`` (output to ``log``) until it ends or ``until`` (an
        epoch time; the global deadline at the latest), then kill its whole
        process group; ``on_tick()`` every TICK_S while it runs (progress
        into the report). ``{'rc', 'seconds', 'cut'}``."""
        until = min(until, self.deadline - RESERVE_S)
        t0 = time.time()
        os.makedirs(osp.dirname(log), exist_ok=True)
        with open(log, 'w') as f:
            f.write('$ ' + ' '.join(shlex.quote(c) for c in cmd) + '\n')
            f.flush()
            proc = subprocess.Popen(
                cmd,
                stdout=f,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True)
            rc = None
            while rc is None and time.time() < until:
                try:
                    rc = proc.wait(
                        timeout=max(0.0, min(TICK_S, until - time.time())))
                except subprocess.TimeoutExpired:
                    if on_tick is not None:
                        on_tick()
            cut = rc is None
            if cut:
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    try:
                        os.killpg(proc.pid, sig)
                    except ProcessLookupError:
                        break
                    try:
                        proc.wait(timeout=5)
                        break
                    except subprocess.TimeoutExpired:
                        continue
                rc = proc.returncode
        return dict(rc=rc, seconds=round(time.time() - t0, 1), cut=cut)

    def write(self) -> None:
        """Rewrite the report (atomically: a reader never sees half)."""
        path = osp.join(self.out, 'report.md')
        tmp = path + '.part'
        with open(tmp, 'w') as f:
            f.write(render(self.state, elapsed=time.time() - self.t0))
        os.replace(tmp, path)

    # -- data -------------------------------------------------------------
    def prepare_data(self) -> None:
        """The data file, and an image folder of its first training images
        for the configs that read folders (see
        :func:`.acceptance_configs.write_image_folder`)."""
        from .acceptance_configs import TINY_BATCH, write_image_folder
        npz = osp.join(self.args.data_root, 'bloodmnist.npz')
        if not osp.isfile(npz):
            raise SystemExit(f'{npz}: no such file; fetch it with python '
                             'tools/data/fetch_bloodmnist.py (or carry it, '
                             'docs/distributed.md).')
        self.folder = write_image_folder(
            npz, osp.join(self.out, 'data', 'images'),
            self.settings['iters'] * (TINY_BATCH if self.args.tiny else 64))

    # -- the parts --------------------------------------------------------
    def a_configs(self) -> List[str]:
        """Part (a)'s configs: every pretraining config under configs/
        (classified by content), or the mode's fixed list (--tiny)."""
        if self.settings['configs'] is not None:
            return list(self.settings['configs'])
        import mixssl_mm  # noqa: F401  (the algorithms config_kind looks up)
        from mixssl_mm.analysis.shrink import config_kind, shipped_configs
        from mixssl_mm.benchmark.planning import load_config
        return [
            c for c in shipped_configs('configs')
            if config_kind(load_config(c)) == 'pretrain'
        ]

    def a_command(self, todo: List[str]) -> List[str]:
        """The worker that trains the configs ``todo`` in turn."""
        cmd = _py('mixssl_mm.analysis.acceptance_configs') + [
            '--out',
            osp.join(self.out, 'a', 'configs.jsonl'), '--work-dir',
            osp.join(self.out, 'a'), '--iters',
            str(self.settings['iters']), '--data-root', self.args.data_root,
            '--folder', self.folder, *todo
        ]
        if self.args.tiny:
            cmd.append('--tiny')
        return cmd

    def part_a(self, until: float) -> None:
        configs = self.a_configs()
        rows = self.state['a'] = [
            OrderedDict(config=c, status='not run') for c in configs
        ]
        jsonl = osp.join(self.out, 'a', 'configs.jsonl')
        todo, workers = list(configs), 0

        def progress():
            self._read_rows(jsonl, rows)
            self.write()

        while todo and until - time.time() > 10:
            workers += 1
            log = osp.join(self.out, 'a', f'worker{workers}.log')
            res = self.run(self.a_command(todo), log, until, on_tick=progress)
            done = self._read_rows(jsonl, rows)
            todo = [c for c in todo if c not in done]
            if todo and not res['cut']:  # the worker died inside todo[0]
                row = rows[configs.index(todo.pop(0))]
                row.update(
                    status='failed',
                    error='the worker process '
                    f'ended with exit status {res["rc"]}; see '
                    f'a/worker{workers}.log')
            self.write()
        for row in rows:
            if row['status'] == 'not run':
                row['status'] = 'not run (budget)'

    def _read_rows(self, jsonl: str, rows: list) -> set:
        done = set()
        if not osp.isfile(jsonl):
            return done
        with open(jsonl) as f:
            for line in f:
                obj = json.loads(line)
                if 'environment' in obj:
                    self.state['environment'] = obj['environment']
                    continue
                for row in rows:
                    if row['config'] == obj['config']:
                        row.clear()
                        row.update(obj)
                done.add(obj['config'])
        return done

    def _launch_options(self, config: str, iters: int) -> List[str]:
        """cfg-options for ``iters`` training iterations per epoch of
        ``config`` and validation/test splits with every class: shipped
        sizes, or shrunk."""
        from mixssl_mm.analysis.shrink import data_options, shrink_options
        from mixssl_mm.benchmark.planning import load_config, to_cfg_options
        cfg = load_config(config)
        medmnist = (self.args.data_root, 'bloodmnist.npz')
        if self.args.tiny:
            opts = shrink_options(
                cfg, samples=4 * iters, batch_size=4, medmnist=medmnist)
        else:
            batch = cfg.train_dataloader.batch_size
            opts = data_options(
                cfg,
                iters * batch,
                batch,
                medmnist,
                num_workers=cfg.train_dataloader.num_workers)
            opts['default_hooks.logger.interval'] = 5
        for loader in ('val_dataloader', 'test_dataloader'):
            if cfg.get(loader):
                # every class for the metrics (ROC-AUC needs each): the
                # whole split on a GPU, its first TINY_EVAL images (all 8
                # BloodMNIST classes, >= 16 each) on a CPU
                opts[f'{loader}.dataset.indices'] = \
                    TINY_EVAL if self.args.tiny else None
        return to_cfg_options(opts)

    def b_steps(self) -> list:
        """Part (b)'s launches in order: ``(name, script, arguments, text
        the log must hold, file it makes)``."""
        n = self.settings['launch_iters']
        pre, ft = self._launch_options(PRETRAIN, n), \
            self._launch_options(FINETUNE, n)
        w = osp.join(self.out, 'b')
        ckpt = osp.join(w, 'pretrain', 'epoch_2.pth')
        # (name, script, arguments, text the log must hold, file it makes)
        steps = [
            ('dist_train.sh pretrain, 1 epoch', 'dist_train.sh', [
                PRETRAIN, '1', '--work-dir', f'{w}/pretrain', '--cfg-options',
                *pre, 'train_cfg.max_epochs=1'
            ], 'Saving checkpoint at 1', f'{w}/pretrain/epoch_1.pth'),
            ('dist_train.sh --resume, epoch 2', 'dist_train.sh', [
                PRETRAIN, '1', '--work-dir', f'{w}/pretrain', '--resume',
                '--cfg-options', *pre, 'train_cfg.max_epochs=2'
            ], 'resumed epoch: 1', ckpt),
            ('dist_train.sh fine-tune from it', 'dist_train.sh', [
                FINETUNE, '1', '--work-dir', f'{w}/finetune', '--cfg-options',
                *[o for o in ft if not o.startswith('val_dataloader.')],
                'train_cfg.max_epochs=1', *NO_VALIDATION,
                f'model.backbone.init_cfg.checkpoint={ckpt}'
            ], 'Saving checkpoint at 1', f'{w}/finetune/epoch_1.pth'),
            ('dist_test.sh on its checkpoint', 'dist_test.sh', [
                FINETUNE, f'{w}/finetune/epoch_1.pth', '1', '--work-dir',
                f'{w}/test', '--cfg-options', *ft
            ], 'accuracy/top1', None),
        ]
        return steps

    def part_b(self, until: float) -> None:
        w = osp.join(self.out, 'b')
        steps = self.b_steps()
        backend = 'gloo' if self.args.tiny else 'nccl'
        rows = self.state['b']
        for i, (name, script, args, text, made) in enumerate(steps):
            row = OrderedDict(step=name, backend=backend, status='not run')
            rows.append(row)
            if i and rows[i - 1]['status'] != 'ok':
                row['status'] = 'not run (an earlier step failed)'
                continue
            if until - time.time() < 10:
                row['status'] = 'not run (budget)'
                continue
            log = osp.join(w, f'step{i + 1}.log')
            env = dict(os.environ, PORT=str(_free_port()))
            res = self.run(['bash', osp.join('tools', script), *args], log,
                           until, env)
            with open(log) as f:
                out = f.read()
            ok = res['rc'] == 0 and text in out and (made is None
                                                     or osp.isfile(made))
            row.update(
                status='cut at the budget'
                if res['cut'] else 'ok' if ok else 'failed',
                seconds=res['seconds'],
                log=osp.relpath(log, self.out))
            found = re.findall(r'accuracy/top1: ([\d.]+)', out)
            if found:
                row['note'] = f'accuracy/top1: {found[-1]}'
            self.write()

    def c_command(self, method: str) -> List[str]:
        """The throughput child of ``method``, writing
        ``<out>/c/METHOD.json``."""
        cmd = _py('mixssl_mm.analysis.throughput') + [
            *self.settings['throughput'], '--methods', method, '--modes',
            'synthetic', 'pipeline', '--data-root',
            osp.abspath(self.args.data_root), '--out',
            osp.join(self.out, 'c', f'{method}.json')
        ]
        if method == 'mixssl':
            cmd += ['--mixssl-config', FAST]
            if self.args.tiny:  # the fast config's own compile=True
                cmd += ['--mixssl-options', 'compile=False']
        return cmd

    def part_c(self, until: float) -> None:
        for method in self.settings['throughput_methods']:
            if until - time.time() < 10:
                self.state['c'].append(
                    OrderedDict(method=method, status='not run (budget)'))
                continue
            out = osp.join(self.out, 'c', f'{method}.json')
            res = self.run(
                self.c_command(method), osp.join(self.out, 'c',
                                                 f'{method}.log'), until)
            if res['rc'] == 0 and osp.isfile(out):
                with open(out) as f:
                    for row in json.load(f)['results']:
                        self.state['c'].append(
                            OrderedDict(
                                method=method,
                                status='ok',
                                mode=row['mode'],
                                samples_per_s=row.get('samples_per_s'),
                                loader_samples_per_s=row.get(
                                    'loader_samples_per_s'),
                                step_ms=row.get('step_ms_median'),
                                first_step_s=row.get('first_step_s'),
                                peak_mem_mib=row.get('peak_mem_mib')))
            else:
                self.state['c'].append(
                    OrderedDict(
                        method=method,
                        status='cut at the budget'
                        if res['cut'] else f'failed (exit {res["rc"]})',
                        seconds=res['seconds'],
                        log=f'c/{method}.log'))
            self.write()

    def d_command(self) -> List[str]:
        """The benchmark of the mode's preset, in ``<out>/d``."""
        return _py('mixssl_mm.benchmark.runner') + [
            '--preset', self.settings['preset'], '--work-dir',
            osp.join(self.out, 'd'), *self.settings['bench_args']
        ]

    def part_d(self, until: float) -> None:
        work = osp.join(self.out, 'd')
        cmd = self.d_command()
        d = self.state['d'] = OrderedDict(
            preset=self.settings['preset'], status='running')
        self.write()
        res = self.run(cmd, osp.join(work, 'benchmark.log'), until)
        done = [
            osp.relpath(root, work) for root, _, files in os.walk(work)
            if 'done.json' in files
        ]
        d.update(
            seconds=res['seconds'],
            stages_done=sorted(done),
            status='cut at the budget' if res['cut'] else
            ('ok' if res['rc'] == 0 else f'failed (exit {res["rc"]})'))
        results = osp.join(work, 'results.md')
        if osp.isfile(results):
            with open(results) as f:
                d['results_md'] = f.read()

    # -- the run ----------------------------------------------------------
    def __call__(self) -> int:
        os.makedirs(self.out, exist_ok=True)
        self.write()
        self.prepare_data()
        parts = dict(
            a=self.part_a, b=self.part_b, c=self.part_c, d=self.part_d)
        for key, part in parts.items():
            if key not in self.args.parts:
                continue
            share = SHARES.get(key)
            until = time.time() + (
                share * self.args.budget if share else self.left())
            if self.left() > 10:
                part(until)
            else:
                self.state['skipped'].append(key)
            self.write()
        self.state['status'] = ('stopped at the budget'
                                if budget_hit(self.state) else 'finished')
        self.write()
        print(f'report: {osp.join(self.out, "report.md")}')
        return 0 if passed(self.state, self.args.parts) else 1


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='GPU acceptance run (see docs/distributed.md).',
        formatter_class=HelpFormatter)
    p.add_argument(
        '--budget',
        type=float,
        default=DEFAULT_BUDGET,
        help='seconds for the whole run, a hard stop '
        f'(default {DEFAULT_BUDGET})')
    p.add_argument(
        '--out',
        default='work_dirs/acceptance',
        help='report.md and every part\'s files')
    p.add_argument(
        '--data-root',
        default='data/medmnist',
        help='folder holding bloodmnist.npz')
    p.add_argument(
        '--tiny', action='store_true', help='CPU, test size (what CI runs)')
    p.add_argument(
        '--parts',
        default='abcd',
        help='which parts to run, e.g. "ab" (default abcd)')
    args = p.parse_args(argv)
    args.command = ' '.join([
        'python tools/analysis_tools/gpu_acceptance.py',
        *map(shlex.quote, sys.argv[1:] if argv is None else argv)
    ])
    if not args.tiny:
        import torch
        if not torch.cuda.is_available():
            p.error('no CUDA device; use --tiny for the CPU test run')
    if set(args.parts) - set('abcd') or args.budget <= RESERVE_S:
        p.error('--parts takes letters of "abcd"; --budget must exceed '
                f'{RESERVE_S} s')
    in_the_way = file_in_the_way(args.out)
    if in_the_way is not None:
        p.error(f'--out {args.out}: {in_the_way} is a file, not a folder')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """``gpu_acceptance.py``: parse ``argv``, apply the stack fixes (after
    the arguments: ``-h`` prints only the help) and run; the exit status."""
    from mixssl_mm.compat import apply_compat_fixes
    args = parse_args(argv)
    apply_compat_fixes()
    return Acceptance(args)()
