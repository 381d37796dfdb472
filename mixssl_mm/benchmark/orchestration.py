# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The benchmark run: every (method, seed) chain of the :class:`Plan`
through the :class:`StageRunner`, the test metrics collected as records,
and the results files rewritten after each chain (see :mod:`.report`)."""
import glob
import json
import os
import os.path as osp
import time
from collections import OrderedDict
from typing import List, Optional, Sequence

from .comparison import compare, delta_rows, delta_section
from .design_table import design_section
from .label_fractions import subsets_section
from .methods import METHODS
from .planning import Plan
from .report import (build_top1_table, header_lines, method_name, missing_runs,
                     render_markdown, write_csv, write_rows)
from .results_plot import plot_bars
from .scheduler import StageFailed, StageRunner, run_chains

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
        res = self.run_train(f'{method} seed {seed} {proto}',
                             plan.stage_dir(method, seed, proto),
                             plan.train_config(proto, seed),
                             plan.downstream_train_options(proto, seed, ckpt),
                             plan.train_extra(proto))
        ds_ckpt = res.get('checkpoint', f'<{proto} checkpoint>')
        sdir = plan.stage_dir(method, seed, f'{proto}_test')
        res = self.run_test(f'{method} seed {seed} {proto} test', sdir,
                            plan.protocol_config(proto), ds_ckpt,
                            plan.test_options(proto, seed), extra)
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

        cmd = plan.train_command(plan.knn_config(), sdir,
                                 plan.knn_options(seed, ckpt),
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
