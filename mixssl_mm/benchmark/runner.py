# Copyright (c) mixssl_mm contributors. All rights reserved.
"""RUNS THE STAGE LIST of :class:`~.planning.Plan`: ``--jobs`` (method,
seed) chains at a time, each stage a subprocess writing
``<stage dir>/stage.log`` and, when finished, ``done.json``. A stage done
before with the same command is skipped, so an interrupted benchmark
resumes. The results files are rewritten after each chain (:mod:`.report`).
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
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, List, Optional, Sequence

from .planning import Plan, Stage
from .report import closing_lines, write_results

# Stages finished before the tools became package modules recorded the
# script they ran; it is the same program as the module run now.
_LEGACY_SCRIPTS = {
    '<repo>/tools/train.py': ['-m', 'mixssl_mm.apis.train'],
    '<repo>/tools/test.py': ['-m', 'mixssl_mm.apis.test'],
}
KNN_KEY = 'knn/top1'


class StageFailed(RuntimeError):
    """A stage exited non-zero or left no result; the other chains go on."""


def run_chains(chains: Iterable, fn: Callable, jobs: int) -> None:
    """``fn(chain)`` for every chain: in order when ``jobs`` is 1, else on
    ``jobs`` threads (the chains' subprocesses do the work)."""
    if jobs == 1:
        for chain in chains:
            fn(chain)
        return
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(fn, chains))


def same_settings(stored: List[str], fingerprint: List[str]) -> bool:
    """Whether a ``done.json`` fingerprint matches ``fingerprint`` (a
    legacy ``<repo>/tools/*.py`` entry point counts as its module)."""
    if stored and stored[0] in _LEGACY_SCRIPTS:
        stored = _LEGACY_SCRIPTS[stored[0]] + stored[1:]
    return stored == fingerprint


def read_knn_top1(work_dir: str) -> Optional[float]:
    """The last ``knn/top1`` logged in ``work_dir`` (newest run first)."""
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
        self.work_dir, self.total, self.threads = work_dir, total, threads
        # relative config and checkpoint paths are relative to this folder
        self.root = os.getcwd()
        self.dry_run, self.verbose = dry_run, verbose
        self.ignore_changes = ignore_changes
        self.t0 = time.time()
        self.lock = threading.Lock()  # counters; callers' shared state too
        self.n_started = self.n_run = self.n_skipped = 0
        self.stage_seconds = 0.0  # of finished stages, this run or before

    def log(self, msg: str) -> None:
        print(f'[{(time.time() - self.t0) / 60:6.1f} min] {msg}', flush=True)

    def fingerprint(self, cmd: List[str]) -> List[str]:
        """``cmd`` without the interpreter and ``--resume``, the work dir and
        the working directory as placeholders."""
        return [
            c.replace(self.work_dir,
                      '<work_dir>').replace(self.root + os.sep,
                                            '<repo>' + os.sep) for c in cmd[1:]
            if c != '--resume'
        ]

    def run_stage(
        self,
        label: str,
        sdir: str,
        cmd: List[str],
        result_fn: Callable[[], dict],
        outputs: Sequence[str] = (),
        inputs: Sequence[str] = ()
    ) -> dict:
        """Run ``cmd`` unless ``sdir/done.json`` says it ran with the same
        command and the files ``outputs`` exist; ``result_fn()`` returns
        what to record when done. Returns the record ({} on a dry run).

        Raises:
            StageFailed: the command exited non-zero, or one of the files
                ``inputs`` it reads is missing (it is not started).
            SystemExit: the stage was finished with another command (and
                ``ignore_changes`` is off).
        """
        with self.lock:
            self.n_started += 1
            tag = f'[{self.n_started:2d}/{self.total}] {label}'
        fp, done_path = self.fingerprint(cmd), osp.join(sdir, 'done.json')
        missing = [o for o in outputs if not osp.isfile(o)]
        if osp.isfile(done_path) and missing:
            self.log(f'{tag}: done before without '
                     f'{osp.relpath(missing[0], sdir)}; running it again')
        elif osp.isfile(done_path):
            with open(done_path) as f:
                done = json.load(f)
            stored = done.get('fingerprint', [])
            if not same_settings(stored, fp) and not self.ignore_changes:
                raise SystemExit(
                    f'{sdir} was finished with other settings:\n  '
                    f'{" ".join(stored)}\nnow:\n  {" ".join(fp)}\nUse another '
                    '--work-dir, delete that stage folder to redo it, or '
                    'pass --ignore-changes.')
            with self.lock:
                self.n_skipped += 1
                self.stage_seconds += done.get('seconds', 0.0)
            self.log(f'{tag}: done before, skipped')
            return done['result']
        if self.dry_run:
            self.log(f'{tag}: would run\n    {shlex.join(cmd)}')
            return {}
        missing = [i for i in inputs if not osp.isfile(i)]
        if missing:  # deleted since the plan wrote or checked it
            self.log(f'{tag}: not started, its input {missing[0]} is missing')
            raise StageFailed(f'{label}: input {missing[0]} is missing')
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
        done = dict(
            fingerprint=fp,
            command=shlex.join(cmd),
            seconds=round(secs, 1),
            result=result)
        with open(done_path, 'w') as f:
            json.dump(done, f, indent=1)
        with self.lock:
            self.n_run += 1
            # the recorded (rounded) time, as a re-run that skips it adds
            self.stage_seconds += done['seconds']
        self.log(f'{tag}: done in {secs:.0f}s')
        return result

    def _call(self, cmd: List[str], log_path: str) -> int:
        env = dict(os.environ, PYTHONUNBUFFERED='1')
        if self.threads:
            # not part of the fingerprint: it changes speed, not settings
            for var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
                env[var] = str(self.threads)
        with open(log_path, 'a') as log:
            log.write(f'$ {shlex.join(cmd)}\n')
            log.flush()
            kw = dict(cwd=self.root, env=env, stderr=subprocess.STDOUT)
            if not self.verbose:
                return subprocess.call(cmd, stdout=log, **kw)
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, text=True, **kw)
            for line in proc.stdout:
                log.write(line)
                sys.stdout.write('    | ' + line)
            return proc.wait()

    def result(self, stage: Stage) -> dict:
        """What a finished ``stage`` records (see :class:`Stage`).

        Raises:
            StageFailed: the stage left no checkpoint / metrics.
        """
        sdir = stage.sdir
        if stage.kind == 'train':
            path = osp.join(sdir, 'last_checkpoint')
            if not osp.isfile(path):
                raise StageFailed(f'{sdir} has no last_checkpoint')
            with open(path) as f:
                return dict(checkpoint=osp.join(self.root, f.read().strip()))
        if stage.kind == 'knn':
            top1 = read_knn_top1(sdir)
            if top1 is None:
                raise StageFailed(f'{sdir} logged no knn/top1')
            return dict(metrics={KNN_KEY: top1})
        out = osp.join(sdir, 'metrics.json')
        with open(out) as f:
            metrics = json.load(f)
        if 'accuracy/top1' not in metrics:
            raise StageFailed(f'{out} has no accuracy/top1: {metrics}')
        return dict(metrics=metrics)


class Benchmark(StageRunner):
    """Runs the plan of parsed ``args`` (:func:`.cli.parse_benchmark_args`)."""

    def __init__(self, args):
        self.args, self.plan = args, Plan(args)
        super().__init__(
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
        finished, else 1."""
        plan, log = self.plan, self.log
        log(f'preset {plan.preset_name}: {plan.preset["description"]}')
        log(f'data {plan.target.name} ({plan.target.layout}, '
            f'{plan.target.path}): task classes {plan.task.classes}')
        log(f'methods {plan.methods}, seeds {plan.seeds}, protocols '
            f'{plan.protocols}, work dir {plan.work_dir}, '
            f'{self.total} stages, {plan.jobs} at a time')
        if not self.dry_run:
            os.makedirs(plan.work_dir, exist_ok=True)
            self.written = plan.write_files()
            for path in self.written:
                log(f'wrote {osp.relpath(path)}')
        run_chains(plan.chains(), self._chain,
                   1 if self.dry_run else plan.jobs)
        log(f'finished: {self.n_run} stages run, {self.n_skipped} '
            f'skipped, {len(self.failed)} failed, wall time '
            f'{(time.time() - self.t0) / 60:.1f} min')
        for f in self.failed:
            log(f'FAILED: {f}')
        if self.dry_run:
            log('dry run: nothing was written; the files the commands name '
                f'under {plan.work_dir} (generated configs and image lists, '
                "label subsets, Rand's start) are written when the benchmark "
                'runs')
        else:
            print('\n'.join(
                closing_lines(plan.work_dir, self.records, plan.methods,
                              self.written)))
        return 1 if self.failed else 0

    def _chain(self, method_seed) -> None:
        # a stage whose input stage failed is left out
        method, seed = method_seed
        ckpts, failed = {}, set()
        for stage in self.plan.stages(method, seed):
            if stage.needs in failed:
                failed.add(stage.name)
                continue
            cmd = stage.cmd
            if stage.needs in ckpts:
                hole = f'<{stage.needs} checkpoint>'
                cmd = [c.replace(hole, ckpts[stage.needs]) for c in cmd]
            try:
                res = self.run_stage(stage.label, stage.sdir, cmd,
                                     lambda: self.result(stage), stage.outputs,
                                     stage.inputs)
            except StageFailed as e:
                failed.add(stage.name)
                with self.lock:
                    self.failed.append(f'{method} seed {seed}: {e}')
                continue
            if 'checkpoint' in res:
                ckpts[stage.name] = res['checkpoint']
            if stage.record and res.get('metrics'):
                rec = dict(stage.record, metrics=res['metrics'])
                if stage.outputs:
                    rec['predictions'] = stage.outputs[0]
                if self.plan.positive is not None:
                    rec['pos_label'] = self.plan.positive
                with self.lock:
                    self.records.append(rec)
        if not self.dry_run:
            with self.lock:
                write_results(self.plan, self.records, self.stage_seconds)


def main(argv: Optional[List[str]] = None) -> int:
    """``tools/benchmark.py``: parse ``argv``, apply the stack fixes
    (:mod:`mixssl_mm.compat`; after the arguments, so ``-h`` prints only the
    help) and run; the exit status."""
    from mixssl_mm.compat import apply_compat_fixes
    from .cli import parse_benchmark_args
    args = parse_benchmark_args(argv)
    apply_compat_fixes()  # the plan reads configs with mmpretrain:: bases
    return Benchmark(args).run()
