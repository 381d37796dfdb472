# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Runs the benchmark's stages: one subprocess per stage, its output in
``<stage dir>/stage.log``, ``done.json`` when it finished (a stage already
done with the same command is skipped, so an interrupted benchmark resumes
where it stopped), and independent chains of stages on a thread pool."""
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
