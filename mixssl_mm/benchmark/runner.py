# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The benchmark run: every (method, seed) chain of the plan
(:class:`~.planning.Plan`) as stage subprocesses
(``python -m mixssl_mm.apis.train|test``), the test metrics collected as
records and the results files rewritten after each chain (:mod:`.report`).

A stage writes its output to ``<stage dir>/stage.log`` and ``done.json``
when it finished; a stage already done with the same command is skipped,
so an interrupted benchmark resumes where it stopped. Independent chains
run side by side on a thread pool (``--jobs``).
"""
import glob
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, List, Optional, Sequence

from .comparison import compare, delta_rows, delta_section
from .label_fractions import subsets_section
from .methods import METHODS
from .planning import Plan
from .report import (build_top1_table, design_section, header_lines,
                     method_name, missing_runs, plot_bars, render_markdown,
                     write_csv, write_rows)

# Stages finished before the tools became package modules recorded the
# script they ran; it is the same program as the module run now.
_LEGACY_SCRIPTS = {
    '<repo>/tools/train.py': ['-m', 'mixssl_mm.apis.train'],
    '<repo>/tools/test.py': ['-m', 'mixssl_mm.apis.test'],
}


class StageFailed(RuntimeError):
    """A stage exited non-zero or left no result; the other chains go on."""


def run_chains(chains: Iterable, fn: Callable, jobs: int) -> None:
    """``fn(chain)`` for every chain: in order when ``jobs`` is 1, else on
    ``jobs`` threads (each chain is an independent sequence of
    subprocesses, so threads only wait)."""
    if jobs == 1:
        for c in chains:
            fn(c)
    else:
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(fn, chains))


def same_settings(stored: List[str], fingerprint: List[str]) -> bool:
    """Whether a ``done.json`` fingerprint matches ``fingerprint`` (a
    legacy ``<repo>/tools/*.py`` entry point counts as its module)."""
    if stored and stored[0] in _LEGACY_SCRIPTS:
        stored = _LEGACY_SCRIPTS[stored[0]] + stored[1:]
    return stored == fingerprint


class StageRunner:
    """Runs stage commands, skipping finished ones, and counts them.

    Args:
        work_dir: the benchmark's work dir (``<work_dir>`` in fingerprints).
        total: number of planned stages (for the ``[i/n]`` tags).
        threads: OMP/MKL threads per subprocess (None: torch's default).
        dry_run: print the commands instead of running them.
        verbose: echo each command and stream its output.
        ignore_changes: reuse a finished stage whose command differs.
    """

    def __init__(self,
                 work_dir: str,
                 total: int,
                 threads: Optional[int],
                 dry_run: bool = False,
                 verbose: bool = False,
                 ignore_changes: bool = False):
        self.work_dir = work_dir
        # relative config and checkpoint paths are relative to this folder
        self.root = os.getcwd()
        self.total, self.threads = total, threads
        self.dry_run, self.verbose = dry_run, verbose
        self.ignore_changes = ignore_changes
        self.t0 = time.time()
        self.lock = threading.Lock()  # counters; callers' shared state too
        self.n_started = self.n_run = self.n_skipped = 0
        self.stage_seconds = 0.0  # of finished stages, this run or before

    def log(self, msg: str) -> None:
        """Print ``msg`` with the minutes since the start."""
        el = time.time() - self.t0
        print(f'[{el / 60:6.1f} min] {msg}', flush=True)

    def fingerprint(self, cmd: List[str]) -> List[str]:
        """``cmd`` without the interpreter and ``--resume`` (not settings),
        the work dir and the working directory as placeholders: stable
        across moving either."""
        return [
            c.replace(self.work_dir,
                      '<work_dir>').replace(self.root + os.sep,
                                            '<repo>' + os.sep) for c in cmd[1:]
            if c != '--resume'
        ]

    def absolute(self, path: str) -> str:
        """``path`` relative to the working directory the stages run in."""
        return path if osp.isabs(path) else osp.join(self.root, path)

    @staticmethod
    def read_done(sdir: str) -> Optional[dict]:
        """``sdir/done.json`` or None."""
        path = osp.join(sdir, 'done.json')
        if not osp.isfile(path):
            return None
        with open(path) as f:
            return json.load(f)

    def run_stage(
        self,
        label: str,
        sdir: str,
        cmd: List[str],
        result_fn: Callable[[], dict],
        outputs: Sequence[str] = ()) -> dict:
        """Run ``cmd`` unless ``sdir/done.json`` says it already ran with the
        same command; ``result_fn()`` returns what to record when done. A
        done stage that lacks one of the files ``outputs`` (one an earlier
        version did not write, such as a test stage's predictions) runs
        again.

        Returns:
            The recorded result (``{}`` on a dry run).

        Raises:
            StageFailed: the command exited non-zero.
            SystemExit: the stage was finished with another command (and
                ``ignore_changes`` is off).
        """
        with self.lock:
            self.n_started += 1
            tag = f'[{self.n_started:2d}/{self.total}] {label}'
        fp = self.fingerprint(cmd)
        done = self.read_done(sdir)
        missing = [o for o in outputs if not osp.isfile(o)]
        if done is not None and missing:
            self.log(f'{tag}: done before without '
                     f'{osp.relpath(missing[0], sdir)}; running it again')
        elif done is not None:
            return self._skip(tag, sdir, fp, done)
        if self.dry_run:
            self.log(f'{tag}: would run\n    {shlex.join(cmd)}')
            return {}
        os.makedirs(sdir, exist_ok=True)
        log_path = osp.join(sdir, 'stage.log')
        self.log(f'{tag}: running (log: {osp.relpath(log_path)})')
        if self.verbose:
            print('    ' + shlex.join(cmd), flush=True)
        start = time.time()
        rc = self._call(cmd, log_path)
        secs = time.time() - start
        if rc != 0:
            with open(log_path) as f:
                tail = f.readlines()[-25:]
            self.log(f'{tag}: FAILED (exit {rc}) after {secs:.0f}s; last '
                     f'lines of {log_path}:\n' + ''.join('    ' + t
                                                         for t in tail))
            raise StageFailed(label)
        result = result_fn()
        with open(osp.join(sdir, 'done.json'), 'w') as f:
            json.dump(
                dict(
                    fingerprint=fp,
                    command=shlex.join(cmd),
                    seconds=round(secs, 1),
                    result=result),
                f,
                indent=1)
        with self.lock:
            self.n_run += 1
            self.stage_seconds += secs
        self.log(f'{tag}: done in {secs:.0f}s')
        return result

    def _skip(self, tag: str, sdir: str, fp: List[str], done: dict) -> dict:
        stored = done.get('fingerprint', [])
        if not same_settings(stored, fp) and not self.ignore_changes:
            raise SystemExit(
                f'{sdir} was finished with other settings:\n  '
                f'{" ".join(stored)}\nnow:\n  {" ".join(fp)}\nUse another '
                '--work-dir, delete that stage folder to redo it, or pass '
                '--ignore-changes.')
        with self.lock:
            self.n_skipped += 1
            self.stage_seconds += done.get('seconds', 0.0)
        self.log(f'{tag}: done before, skipped')
        return done['result']

    def _call(self, cmd: List[str], log_path: str) -> int:
        """Run ``cmd`` in the working directory, appending its output to
        ``log_path``; its exit status."""
        env = dict(os.environ)
        env['PYTHONUNBUFFERED'] = '1'
        if self.threads:
            # not part of the fingerprint: it changes speed, not settings
            for var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
                env[var] = str(self.threads)
        with open(log_path, 'a') as log:
            log.write(f'$ {shlex.join(cmd)}\n')
            log.flush()
            if not self.verbose:
                return subprocess.call(
                    cmd,
                    cwd=self.root,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT)
            proc = subprocess.Popen(
                cmd,
                cwd=self.root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True)
            for line in proc.stdout:
                log.write(line)
                sys.stdout.write('    | ' + line)
            return proc.wait()


KNN_KEY = 'knn/top1'
# a test stage's per-image predictions (the paired bootstrap reads them)
PREDICTIONS = 'predictions.pkl'


def read_knn_top1(work_dir: str) -> Optional[float]:
    """The last ``knn/top1`` that KNNEvalHook logged in ``work_dir`` (its
    ``<timestamp>/vis_data/scalars.json``, newest run first); None when
    there is none."""
    for path in sorted(
            glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')),
            reverse=True):
        with open(path) as f:
            values = [
                json.loads(line)[KNN_KEY] for line in f
                if f'"{KNN_KEY}"' in line
            ]
        if values:
            return float(values[-1])
    return None


# what write_results writes into the work dir, in the order named
RESULT_FILES = (
    ('results.md', 'the tables: per-class accuracy, macro metrics, '
     'differences to MixSSL'),
    ('results.csv', 'one row per method x protocol x seed'),
    ('deltas.csv', 'each method\'s difference to MixSSL with its interval'),
    ('results.png', 'top-1 per method and protocol; differences to MixSSL'),
)


def closing_lines(
    work_dir: str,
    records: List[dict],
    methods: Sequence[str],
    inputs: Sequence[str] = ()) -> List[str]:
    """The console's last lines: the top-1 summary (method x protocol,
    mean ± std over seeds) and every file the run wrote: the results files
    present in ``work_dir`` (:data:`RESULT_FILES`) and the generated
    ``inputs`` (stage configs, label subsets), counted."""
    lines = ['', 'test top-1 (%), mean ± std over seeds (n = seeds):']
    lines += build_top1_table(records, methods) if records else \
        ['(no finished test stage)']
    lines += ['', f'files written in {work_dir}:']
    for name, what in RESULT_FILES:
        if osp.isfile(osp.join(work_dir, name)):
            lines.append(f'  {osp.join(work_dir, name)}  {what}')
    if inputs:
        lines.append(f'  and {len(inputs)} generated stage inputs '
                     '(configs, image lists) next to the stages, named '
                     'above as "wrote ..."')
    return lines


class Benchmark:
    """Runs the plan for parsed ``args`` (see
    :func:`mixssl_mm.benchmark.cli.parse_benchmark_args`).

    Raises:
        SystemExit: from :class:`Plan` when the settings cannot run.
    """

    def __init__(self, args):
        self.args = args
        self.plan = Plan(args)
        self.runner = StageRunner(
            self.plan.work_dir,
            self.plan.size(),
            self.plan.threads,
            dry_run=args.dry_run,
            verbose=args.verbose,
            ignore_changes=args.ignore_changes)
        self.records: List[dict] = []
        self.failed: List[str] = []
        self.written: List[str] = []  # the plan's generated inputs

    def run(self) -> int:
        """Run (or, with ``--dry-run``, print) every stage; 0 when all
        finished, else 1. Ends with :func:`closing_lines`."""
        plan, runner, log = self.plan, self.runner, self.runner.log
        log(f'preset {plan.preset_name}: {plan.preset["description"]}')
        log(f'data {plan.target.name} ({plan.target.layout}, '
            f'{plan.target.path}): task classes {plan.task.classes}')
        log(f'methods {plan.methods}, seeds {plan.seeds}, protocols '
            f'{plan.protocols}, work dir {plan.work_dir}, '
            f'{runner.total} stages, {plan.jobs} at a time')
        if not self.args.dry_run:
            os.makedirs(plan.work_dir, exist_ok=True)
            self.written = plan.write_files()
            for path in self.written:
                log(f'wrote {osp.relpath(path)}')
        run_chains(plan.chains(), self._chain,
                   1 if self.args.dry_run else plan.jobs)
        log(f'finished: {runner.n_run} stages run, {runner.n_skipped} '
            f'skipped, {len(self.failed)} failed, wall time '
            f'{(time.time() - runner.t0) / 60:.1f} min')
        for f in self.failed:
            log(f'FAILED: {f}')
        if not self.args.dry_run:
            lines = closing_lines(plan.work_dir, self.records, plan.methods,
                                  self.written)
            print('\n'.join(lines))
        return 1 if self.failed else 0

    def _chain(self, method_seed) -> None:
        method, seed = method_seed
        try:
            self._run_method(method, seed)
        except StageFailed as e:
            self._failed(f'{method} seed {seed}: {e}')
        if not self.args.dry_run:
            with self.runner.lock:
                self.write_results()

    def _failed(self, what: str) -> None:
        with self.runner.lock:
            self.failed.append(what)

    def _run_method(self, method: str, seed: int) -> None:
        m, plan = METHODS[method], self.plan
        ckpt = None
        if m['config']:
            res = self.run_train(f'{method} seed {seed} pretrain',
                                 plan.stage_dir(method, seed, 'pretrain'),
                                 plan.pretrain_config(method),
                                 plan.pretrain_options(method, seed),
                                 self.args.pretrain_cfg_options)
            ckpt = res.get('checkpoint', '<pretrain checkpoint>')
        elif m.get('external'):
            ckpt = plan.imagenet_ckpt
        for proto in plan.protocols:
            try:
                if proto == 'knn':
                    self._run_knn(method, seed, ckpt)
                else:
                    self._run_protocol(method, seed, proto, ckpt)
            except StageFailed as e:  # the other protocols may still work
                self._failed(f'{method} seed {seed}: {e}')

    def _run_protocol(self, method: str, seed: int, proto: str,
                      ckpt: Optional[str]) -> None:
        plan, extra = self.plan, self.args.downstream_cfg_options
        res = self.run_train(
            f'{method} seed {seed} {proto}',
            plan.stage_dir(method, seed, proto),
            plan.train_config(proto, seed, method),
            plan.downstream_train_options(proto, seed, ckpt, method),
            plan.train_extra(proto))
        ds_ckpt = res.get('checkpoint', f'<{proto} checkpoint>')
        sdir = plan.stage_dir(method, seed, f'{proto}_test')
        res = self.run_test(f'{method} seed {seed} {proto} test', sdir,
                            plan.protocol_config(proto, method), ds_ckpt,
                            plan.test_options(proto, seed, method), extra)
        self._record(
            method, proto, seed, res, predictions=osp.join(sdir, PREDICTIONS))

    def _record(self, method: str, proto: str, seed: int, res: dict, **extra):
        if res.get('metrics'):
            rec = dict(
                method=method,
                protocol=proto,
                seed=seed,
                metrics=res['metrics'],
                **extra)
            if self.plan.positive is not None:
                rec['pos_label'] = self.plan.positive
            with self.runner.lock:
                self.records.append(rec)

    def _run_knn(self, method: str, seed: int, ckpt: Optional[str]) -> None:
        """The k-NN stage: the encoder of ``ckpt`` (None: random, Rand)
        in a 0-epoch fine-tune run whose KNNEvalHook logs ``knn/top1``."""
        plan, sdir = self.plan, self.plan.stage_dir(method, seed, 'knn')

        def result():
            top1 = read_knn_top1(sdir)
            if top1 is None:
                raise StageFailed(f'{sdir} logged no knn/top1')
            return dict(metrics={KNN_KEY: top1})

        opts = plan.knn_options(seed, ckpt, method)
        cmd = plan.train_command(
            plan.knn_config(method), sdir, opts,
            self.args.downstream_cfg_options)
        res = self.runner.run_stage(f'{method} seed {seed} knn', sdir, cmd,
                                    result)
        self._record(method, 'knn', seed, res)

    def run_train(self, label: str, sdir: str, config: str, opts: dict,
                  extra: Sequence[str]) -> dict:
        """A training stage; its result is the last checkpoint's path."""

        def result():
            path = osp.join(sdir, 'last_checkpoint')
            if not osp.isfile(path):
                raise StageFailed(f'{sdir} has no last_checkpoint')
            with open(path) as f:
                return dict(checkpoint=self.runner.absolute(f.read().strip()))

        cmd = self.plan.train_command(config, sdir, opts, extra)
        return self.runner.run_stage(label, sdir, cmd, result)

    def run_test(self, label: str, sdir: str, config: str, ckpt: str,
                 opts: dict, extra: Sequence[str]) -> dict:
        """A test stage; its result is the metrics of ``metrics.json``; it
        also writes the per-image predictions (``predictions.pkl``, for the
        paired bootstrap)."""
        out = osp.join(sdir, 'metrics.json')
        preds = osp.join(sdir, PREDICTIONS)
        opts = OrderedDict(opts, **self.plan.prediction_options(preds))

        def result():
            with open(out) as f:
                metrics = json.load(f)
            if 'accuracy/top1' not in metrics:
                raise StageFailed(f'{out} has no accuracy/top1: {metrics}')
            return dict(metrics=metrics)

        cmd = self.plan.test_command(config, ckpt, sdir, out, opts, extra)
        return self.runner.run_stage(label, sdir, cmd, result, [preds])

    def write_results(self) -> None:
        """Rewrite results.md / .csv / .png from the records so far."""
        plan, work = self.plan, self.plan.work_dir
        missing = missing_runs(self.records, plan.methods, plan.seeds,
                               plan.protocols)
        positive = (f'the positive class {plan.task.classes[plan.positive]}'
                    if plan.positive is not None else 'the positive class')
        deltas = compare(self.records, plan.methods)
        md = render_markdown(
            self.records,
            plan.methods,
            header_lines(plan, self.runner.stage_seconds),
            missing,
            positive_class=positive,
            sections=design_section(self.records, plan.methods, deltas) +
            delta_section(deltas, method_name) +
            subsets_section(plan.fraction_stages.subsets(), work))
        with open(osp.join(work, 'results.md'), 'w') as f:
            f.write(md + '\n')
        write_csv(osp.join(work, 'results.csv'), self.records)
        write_rows(
            osp.join(work, 'deltas.csv'), delta_rows(deltas, method_name))
        if self.records:
            plot_bars(
                osp.join(work, 'results.png'),
                self.records,
                plan.methods,
                title=f'{plan.target.name}, preset {plan.preset_name}, '
                f'{plan.num_classes} classes, seeds '
                f'{" ".join(map(str, plan.seeds))}',
                deltas=deltas)


def main(argv: Optional[List[str]] = None) -> int:
    """``tools/benchmark.py``: parse ``argv`` and run; the exit status."""
    from .cli import parse_benchmark_args
    return Benchmark(parse_benchmark_args(argv)).run()
