# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Benchmark MixSSL against mmpretrain's built-in SSL methods on BloodMNIST.

One command runs, for every method and seed, the paper's protocol as normal
mm runs (``tools/train.py`` / ``tools/test.py`` subprocesses, each stage with
its own work dir)::

    pretrain -> fine-tune -> test        (Rand: no pretraining)
             -> linear probe -> test

and writes ``results.md`` (Table 1: per-class test accuracy; Table 2: macro
precision / recall / F1 / ROC-AUC / accuracy; mean ± std over seeds),
``results.csv`` (one row per method x protocol x seed) and ``results.png``
(top-1 per method) into the work dir.

Examples::

    python tools/benchmark.py --preset tiny                # CI smoke run
    python tools/benchmark.py --preset cpu-small          # 31 min, 2 CPU cores
    python tools/benchmark.py --preset gpu-paper --seeds 0 1 2
    python tools/benchmark.py --preset cpu-small --methods mixssl rand \\
        --classes 8 --work-dir work_dirs/bench8
    python tools/benchmark.py --preset cpu-small --ablations   # Table 3
    python tools/benchmark.py --preset cpu-small --methods table1 \\
        --imagenet-ckpt checkpoints/dino_resnet50_mmpretrain.pth

A finished stage (its ``done.json``) is skipped when the command is run
again, so an interrupted benchmark resumes where it stopped; a training stage
that was interrupted mid-way resumes from its last checkpoint. See
``docs/benchmark.md``.
"""
import argparse
import copy
import csv
import json
import math
import os
import os.path as osp
import shlex
import subprocess
import sys
import time
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN = osp.join(REPO, 'tools', 'train.py')
TEST = osp.join(REPO, 'tools', 'test.py')

# ---------------------------------------------------------------------------
# Methods: the pretraining config (None = Rand, no pretraining) and the
# overrides that fit its neck/head to the encoder's output channels.
# ---------------------------------------------------------------------------


def _mixssl_channels(c):
    return {'model.neck.in_channels': c, 'model.head.in_channels': c}


def _simclr_channels(c):
    return {'model.neck.in_channels': c, 'model.neck.hid_channels': c}


_ABL = 'configs/mixssl/ablations/mixssl-{}_resnet50_1xb64-20e_bloodmnist.py'
METHODS = OrderedDict(
    mixssl=dict(
        name='MixSSL',
        config='configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py',
        channels=_mixssl_channels,
        objective='R+T'),
    simclr=dict(
        name='SimCLR',
        config='configs/benchmarks/simclr_resnet50_1xb64-20e_bloodmnist.py',
        channels=_simclr_channels),
    mocov2=dict(
        name='MoCo v2',
        config='configs/benchmarks/mocov2_resnet50_1xb64-20e_bloodmnist.py',
        channels=_simclr_channels),
    byol=dict(
        name='BYOL',
        config='configs/benchmarks/byol_resnet50_1xb64-20e_bloodmnist.py',
        channels=lambda c: {'model.neck.in_channels': c}),
    rand=dict(name='Rand', config=None, channels=lambda c: {}),
    # the paper's other Table-1 rows (mixssl_mm's implementations)
    rotation=dict(
        name='Rotation',
        config='configs/benchmarks/rotation_resnet50_1xb64-20e_bloodmnist.py',
        channels=lambda c: {'model.head.in_channels': c}),
    mixup_simclr=dict(
        name='Mixup+SimCLR',
        config='configs/benchmarks/'
        'mixup-simclr_resnet50_1xb64-20e_bloodmnist.py',
        channels=_simclr_channels),
    mixco=dict(
        name='MixCo',
        config='configs/benchmarks/mixco_resnet50_1xb64-20e_bloodmnist.py',
        channels=_simclr_channels),
    dino=dict(
        name='DINO',
        config='configs/benchmarks/dino_resnet50_1xb64-20e_bloodmnist.py',
        channels=lambda c: {'model.neck.in_channels': c}),
    # fine-tuned straight from converted ImageNet weights (--imagenet-ckpt)
    imagenet_self=dict(
        name='ImageNet-self', config=None, channels=lambda c: {},
        external=True),
    # Table 3: MixSSL's objectives (R+T is `mixssl`)
    mixssl_r=dict(
        name='R only', config=_ABL.format('r'), channels=_mixssl_channels,
        objective='R'),
    mixssl_t=dict(
        name='T only', config=_ABL.format('t'), channels=_mixssl_channels,
        objective='T'),
    mixssl_rc=dict(
        name='R+C', config=_ABL.format('rc'),
        channels=lambda c: dict(
            _mixssl_channels(c), **{
                'model.contrast_neck.in_channels': c,
                'model.contrast_neck.hid_channels': c
            }),
        objective='R+C'),
    mixssl_ra=dict(
        name='R+A', config=_ABL.format('ra'),
        channels=lambda c: dict(
            _mixssl_channels(c), **{'model.aux_head.in_channels': c}),
        objective='R+A'),
)
# `--methods` accepts these names too
METHOD_GROUPS = OrderedDict(
    builtin=['mixssl', 'simclr', 'mocov2', 'byol', 'rand'],
    table1=['rand', 'simclr', 'dino', 'mocov2', 'rotation', 'imagenet_self',
            'mixup_simclr', 'mixco', 'mixssl'],
    ablations=['mixssl_t', 'mixssl_r', 'mixssl', 'mixssl_rc', 'mixssl_ra'],
)
METHOD_GROUPS['all'] = [m for m in METHODS if m != 'imagenet_self']


def method_cli_name(key: str) -> str:
    return key.replace('_', '-')


def expand_methods(names: Sequence[str]) -> List[str]:
    """CLI method names and group names -> METHODS keys, in order, once
    each."""
    out = []
    for n in names:
        key = n.replace('-', '_')
        keys = METHOD_GROUPS.get(key, [key])
        for k in keys:
            if k not in METHODS:
                raise SystemExit(
                    f'unknown method {n!r}; choose from '
                    f'{[method_cli_name(m) for m in METHODS]} or a group '
                    f'{list(METHOD_GROUPS)}')
            if k not in out:
                out.append(k)
    return out


# Downstream configs: (fine-tune, linear probe) per task.
DOWNSTREAM = {
    '4': dict(
        finetune='configs/mixssl/benchmarks/'
        'resnet50_1xb64-20e_bloodmnist-4cls_finetune.py',
        linear='configs/mixssl/benchmarks/'
        'resnet50_1xb64-20e_bloodmnist-4cls_linear-probe.py'),
    '8': dict(
        finetune='configs/mixssl/benchmarks/'
        'resnet50_1xb64-20e_bloodmnist_finetune.py',
        linear='configs/benchmarks/'
        'resnet50_1xb64-20e_bloodmnist_linear-probe.py'),
}
# The paper's 4-class task: eosinophil, lymphocyte, monocyte, neutrophil.
PAPER_4 = [1, 4, 5, 6]
PROTOCOLS = OrderedDict(finetune='Fine-tune', linear='Linear probe')

# ---------------------------------------------------------------------------
# Presets. ``None`` keeps the shipped config's value. ``train_subset`` is a
# fixed subset (mmengine ``indices``: the first N images of the train split,
# after the class filter; BloodMNIST's train split is in random order) used
# for pretraining and for the downstream training; the test split is always
# the full official one.
# ---------------------------------------------------------------------------
PRESETS = OrderedDict(
    tiny=dict(
        description='CI smoke test: ResNet-18, 32 px, 128 train images, 1 '
        'epoch per stage, 1 seed',
        depth=18,
        img_size=32,
        batch_size=32,
        train_subset=128,
        pretrain_epochs=1,
        finetune_epochs=1,
        linear_epochs=1,
        pretrain_lr=1e-3,
        num_workers=0,
        seeds=[0],
        jobs=1,
        threads=None,
        methods=['mixssl', 'rand'],
        method_options=dict(mocov2={'model.queue_len': 128})),
    cpu_small=dict(
        description='2 CPU cores, under 40 min: ResNet-18, 64 px, batch 32, '
        '2048 train images, 3 pretraining + 3 fine-tune + 3 linear-probe '
        'epochs, 2 seeds, 2 runs at a time with 1 thread each',
        depth=18,
        img_size=64,
        batch_size=32,
        train_subset=2048,
        pretrain_epochs=3,
        finetune_epochs=3,
        linear_epochs=3,
        pretrain_lr=1e-3,
        num_workers=0,
        seeds=[0, 1],
        # two single-threaded runs use 2 cores better than one run with two
        # threads (small convolutions scale poorly across threads)
        jobs=2,
        threads=1,
        methods=METHOD_GROUPS['builtin'],
        method_options=dict(
            mocov2={'model.queue_len': 1024},
            # DINO's 65536 prototypes dominate a ResNet-18 step on a CPU
            dino={
                'model.neck.out_channels': 4096,
                'model.head.out_channels': 4096
            })),
    gpu_paper=dict(
        description='the paper recipe: ResNet-50, 224 px, batch 64, Adam '
        '1e-4, 20 pretraining + 20 downstream epochs, full train split',
        depth=50,
        img_size=None,
        batch_size=64,
        train_subset=None,
        pretrain_epochs=20,
        finetune_epochs=20,
        linear_epochs=20,
        pretrain_lr=None,
        num_workers=4,
        seeds=[0, 1, 2],
        jobs=1,
        threads=None,
        methods=METHOD_GROUPS['builtin'],
        method_options={}),
)

STAGES = ('pretrain', 'finetune', 'finetune_test', 'linear', 'linear_test')

# metric key in mmpretrain/mixssl_mm output -> (csv column, table header)
MACRO_METRICS = OrderedDict([
    ('single-label/precision', ('precision', 'Precision')),
    ('single-label/recall', ('recall', 'Recall')),
    ('single-label/f1-score', ('f1', 'F1')),
    ('roc_auc', ('roc_auc', 'ROC-AUC')),
    ('accuracy/top1', ('accuracy', 'Accuracy')),
])
PER_CLASS_PREFIX = 'per_class_accuracy/'
PER_CLASS_MEAN = 'per_class_accuracy/mean'


def preset_key(name: str) -> str:
    return name.replace('-', '_')


def preset_names() -> List[str]:
    return [k.replace('_', '-') for k in PRESETS]


def feature_channels(depth: int) -> int:
    """Output channels of mmpretrain's ResNet-<depth> last stage."""
    return 512 if depth in (18, 34) else 2048


# ---------------------------------------------------------------------------
# Aggregation and report (pure python; unit-tested)
# ---------------------------------------------------------------------------
def _finite(values: Sequence) -> List[float]:
    out = []
    for v in values:
        if v is None:
            continue
        v = float(v)
        if not math.isnan(v):
            out.append(v)
    return out


def mean_std(values: Sequence) -> tuple:
    """Mean and sample standard deviation (ddof=1) of the finite values;
    std is None for fewer than 2 values, both are None for none."""
    vals = _finite(values)
    if not vals:
        return None, None
    mean = sum(vals) / len(vals)
    if len(vals) < 2:
        return mean, None
    var = sum((v - mean)**2 for v in vals) / (len(vals) - 1)
    return mean, math.sqrt(var)


def fmt_mean_std(values: Sequence, digits: int = 2) -> str:
    """``'85.31 ± 1.20'``; a single value is shown alone, no value as
    ``'–'``. NaN values (e.g. a class absent from the test set) are left
    out."""
    mean, std = mean_std(values)
    if mean is None:
        return '–'
    if std is None:
        return f'{mean:.{digits}f}'
    return f'{mean:.{digits}f} ± {std:.{digits}f}'


def class_keys(metrics: dict) -> List[str]:
    """Per-class accuracy keys (class names), in the metric's order."""
    return [
        k[len(PER_CLASS_PREFIX):] for k in metrics
        if k.startswith(PER_CLASS_PREFIX) and k != PER_CLASS_MEAN
    ]


def flatten_record(method: str, protocol: str, seed: int,
                   metrics: dict) -> 'OrderedDict[str, object]':
    """One results.csv row."""
    row = OrderedDict(
        method=METHODS[method]['name'] if method in METHODS else method,
        protocol=protocol,
        seed=seed)
    for key, (col, _) in MACRO_METRICS.items():
        row[col] = metrics.get(key)
    row['mean_class_accuracy'] = metrics.get(PER_CLASS_MEAN)
    for name in class_keys(metrics):
        row[f'acc_{name}'] = metrics.get(PER_CLASS_PREFIX + name)
    return row


def _md_table(header: List[str], rows: List[List[str]]) -> List[str]:
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join(['---'] + [':-:'] * (len(header) - 1)) + '|']
    lines += ['| ' + ' | '.join(r) + ' |' for r in rows]
    return lines


def build_tables(records: List[dict], methods: Sequence[str],
                 digits: int = 2) -> Dict[str, List[str]]:
    """Markdown tables from ``records`` (dicts with method, protocol, seed,
    metrics): Table 1 (a column per class + their average) and Table 2
    (macro metrics), one of each per protocol, mean ± std over seeds."""
    by = OrderedDict()
    for r in records:
        by.setdefault((r['protocol'], r['method']), []).append(r)
    classes = []
    for r in records:
        for c in class_keys(r['metrics']):
            if c not in classes:
                classes.append(c)
    tables = OrderedDict()
    for proto, title in PROTOCOLS.items():
        t1, t2 = [], []
        for m in methods:
            recs = sorted(by.get((proto, m), []), key=lambda r: r['seed'])
            if not recs:
                continue
            name = METHODS[m]['name'] if m in METHODS else m
            seeds = f' (n={len(recs)})'
            vals = lambda key: [r['metrics'].get(key) for r in recs]  # noqa
            t1.append([name + seeds] + [
                fmt_mean_std(vals(PER_CLASS_PREFIX + c), digits)
                for c in classes
            ] + [fmt_mean_std(vals(PER_CLASS_MEAN), digits)])
            t2.append([name + seeds] +
                      [fmt_mean_std(vals(k), digits) for k in MACRO_METRICS])
        if t1:
            tables[f'table1_{proto}'] = _md_table(
                ['Method'] + [c.replace('_', ' ') for c in classes] +
                ['Average'], t1)
            tables[f'table2_{proto}'] = _md_table(
                ['Method'] + [h for _, h in MACRO_METRICS.values()], t2)
    return tables


# what each objective of Table 3 trains (R: reconstruction, T: transparency,
# C: contrast between two mixes, A: auxiliary-class prediction)
OBJECTIVE_LOSSES = {
    'T': 'L_trans',
    'R': 'L_rec',
    'R+T': 'L_rec + γ·L_trans',
    'R+C': 'L_rec + InfoNCE(two mixes of x_t)',
    'R+A': 'L_rec + CE(auxiliary class)',
}


def build_table3(records: List[dict], methods: Sequence[str],
                 digits: int = 2) -> List[str]:
    """The paper's Table 3 (MixSSL objectives): one row per objective that
    has results, top-1 per protocol, mean ± std over seeds; ``[]`` when fewer
    than two objectives have results (nothing to compare)."""
    rows = []
    for m in methods:
        obj = METHODS.get(m, {}).get('objective')
        recs = [r for r in records if r['method'] == m]
        if obj is None or not recs:
            continue
        row = [f'{obj} ({METHODS[m]["name"]})' if obj == 'R+T' else obj,
               OBJECTIVE_LOSSES[obj]]
        for proto in PROTOCOLS:
            vals = [
                r['metrics'].get('accuracy/top1') for r in recs
                if r['protocol'] == proto
            ]
            n = len(_finite(vals))
            row.append(fmt_mean_std(vals, digits) + (f' (n={n})' if n else ''))
        rows.append(row)
    if len(rows) < 2:
        return []
    return _md_table(['Objective', 'Loss'] +
                     [f'{t} top-1' for t in PROTOCOLS.values()], rows)


def render_markdown(records: List[dict], methods: Sequence[str],
                    header_lines: Sequence[str] = (),
                    missing: Sequence[str] = (), digits: int = 2) -> str:
    tables = build_tables(records, methods, digits)
    seeds = sorted({r['seed'] for r in records})
    out = list(header_lines)
    out += [
        '',
        'All values are percentages on the official test split, mean ± '
        'sample std over seeds '
        f'{" ".join(map(str, seeds)) or "–"} (n = number of seeds '
        'finished; a single seed shows no std).', ''
    ]
    out += [
        '## Table 1 — per-class test accuracy (%)', '',
        '"Average" is the unweighted mean of the class accuracies '
        '(balanced accuracy).', ''
    ]
    for proto, title in PROTOCOLS.items():
        if f'table1_{proto}' in tables:
            out += [f'### {title}', '', *tables[f'table1_{proto}'], '']
    out += [
        '## Table 2 — macro precision / recall / F1, ROC-AUC (one-vs-rest, '
        'macro) and top-1 accuracy (%)', ''
    ]
    for proto, title in PROTOCOLS.items():
        if f'table2_{proto}' in tables:
            out += [f'### {title}', '', *tables[f'table2_{proto}'], '']
    table3 = build_table3(records, methods, digits)
    if table3:
        out += [
            '## Table 3 — MixSSL objectives, test top-1 accuracy (%)', '',
            'Same pretraining budget for every row; the paper reports the '
            'fine-tune column.', '', *table3, ''
        ]
    if missing:
        out += ['## Not finished', ''] + [f'- {m}' for m in missing] + ['']
    return '\n'.join(out)


def write_csv(path: str, records: List[dict]) -> None:
    rows = [
        flatten_record(r['method'], r['protocol'], r['seed'], r['metrics'])
        for r in records
    ]
    fields = []
    for row in rows:
        for k in row:
            if k not in fields:
                fields.append(k)
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=fields or ['method'])
        writer.writeheader()
        for row in rows:
            writer.writerow({
                k: (f'{v:.4f}' if isinstance(v, float) else v)
                for k, v in row.items()
            })


def plot_bars(path: str, records: List[dict], methods: Sequence[str],
              title: str = '') -> None:
    """Top-1 per method, fine-tune and linear probe side by side, error bars
    = sample std over seeds."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    present = [
        m for m in methods if any(r['method'] == m for r in records)
    ]
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(present) + 2), 4))
    width = 0.38
    for i, (proto, label) in enumerate(PROTOCOLS.items()):
        means, stds = [], []
        for m in present:
            mean, std = mean_std([
                r['metrics'].get('accuracy/top1') for r in records
                if r['method'] == m and r['protocol'] == proto
            ])
            means.append(mean if mean is not None else 0.0)
            stds.append(std or 0.0)
        xs = [j + (i - 0.5) * width for j in range(len(present))]
        bars = ax.bar(xs, means, width, yerr=stds, capsize=3, label=label)
        for b, v, s in zip(bars, means, stds):
            if v:
                ax.annotate(f'{v:.1f}',
                            (b.get_x() + b.get_width() / 2, v + s),
                            ha='center', va='bottom', fontsize=7,
                            xytext=(0, 2), textcoords='offset points')
    ax.set_xticks(range(len(present)))
    ax.set_xticklabels([METHODS.get(m, {}).get('name', m) for m in present])
    ax.set_ylabel('test top-1 accuracy (%)')
    ax.set_ylim(0, 105)
    ax.legend(ncol=2, loc='upper center', bbox_to_anchor=(0.5, -0.1),
              frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------
# cfg-options helpers
# ---------------------------------------------------------------------------
def _fmt_value(v) -> str:
    if v is None:
        return 'None'
    if isinstance(v, (list, tuple)):
        inner = ','.join(_fmt_value(x) for x in v)
        return f'[{inner}]' if isinstance(v, list) else f'({inner})'
    if isinstance(v, str):
        return v
    return repr(v)


def to_cfg_options(opts: dict) -> List[str]:
    return [f'{k}={_fmt_value(v)}' for k, v in opts.items()]


_CONFIG_CACHE: dict = {}
_CONFIG_LOCK = threading.Lock()  # mmengine's Config parsing is not reentrant


def load_config(path: str):
    with _CONFIG_LOCK:
        return _load_config(path)


def _load_config(path: str):
    if path not in _CONFIG_CACHE:
        try:  # mmpretrain:: bases need mixssl_mm's package-lookup fix
            from mixssl_mm.mm_compat import apply_config_fixes
            apply_config_fixes()
        except ImportError:
            pass
        from mmengine.config import Config
        _CONFIG_CACHE[path] = Config.fromfile(osp.join(REPO, path))
    return _CONFIG_CACHE[path]


_SIZE_TRANSFORMS = {
    'RandomResizedCrop': 'scale',
    'Resize': 'scale',
    'CenterCrop': 'crop_size',
    'RandomCrop': 'crop_size',
}


# the configs' full input size; smaller crops (DINO's 96-px local views)
# are scaled with it
CONFIG_SIZE = 224


def scaled_size(old: int, size: int) -> int:
    """``size`` for a full-size crop; a smaller one keeps its ratio to the
    config's 224 px (DINO: 96 -> 27 at 64 px)."""
    if old >= CONFIG_SIZE:
        return size
    return max(1, round(old * size / CONFIG_SIZE))


def resolution_options(cfg, size: int) -> dict:
    """cfg-options that set every resize/crop of every pipeline (including
    nested ones such as MultiView views and MixSSL's auxiliary pipeline) to
    ``size`` px; crops smaller than the config's 224 px keep their ratio."""
    opts = OrderedDict()

    def walk(node, path):
        if isinstance(node, dict):
            t = node.get('type')
            if t in _SIZE_TRANSFORMS:
                key = _SIZE_TRANSFORMS[t]
                if key in node:
                    old = node[key]
                    if isinstance(old, (list, tuple)):
                        opts[f'{path}.{key}'] = tuple(
                            scaled_size(o, size) for o in old)
                    else:
                        opts[f'{path}.{key}'] = scaled_size(old, size)
            for k, v in node.items():
                walk(v, f'{path}.{k}')
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                walk(v, f'{path}.{i}')

    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader):
            walk(cfg[loader].to_dict() if hasattr(cfg[loader], 'to_dict')
                 else cfg[loader], loader)
    return opts


# ---------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------
class StageFailed(RuntimeError):
    pass


class Benchmark:

    def __init__(self, args):
        self.args = args
        self.preset_name = args.preset
        self.preset = copy.deepcopy(PRESETS[preset_key(args.preset)])
        p = self.preset
        self.methods = expand_methods(
            args.methods or ([] if args.ablations else p['methods']))
        if args.ablations:
            self.methods += [
                m for m in METHOD_GROUPS['ablations'] if m not in self.methods
            ]
        self.jobs = p['jobs'] if args.jobs is None else args.jobs
        self.threads = args.threads or p['threads']
        if self.threads is None and self.jobs > 1:
            self.threads = max(1, (os.cpu_count() or 1) // self.jobs)
        self.seeds = args.seeds if args.seeds is not None else p['seeds']
        self.work_dir = osp.abspath(
            args.work_dir or osp.join('work_dirs', 'benchmark', args.preset))
        if args.classes_subset is not None:  # any file, some classes
            self.subset, task = list(args.classes_subset), '8'
        elif args.num_classes:  # any file, all its classes
            self.subset, task = None, '8'
        elif args.classes == '4':  # BloodMNIST, the paper task
            self.subset, task = PAPER_4, '4'
        else:  # BloodMNIST, all 8 classes
            self.subset, task = None, '8'
        self.num_classes = (
            len(self.subset) if self.subset is not None else
            args.num_classes or (4 if task == '4' else 8))
        self.downstream = DOWNSTREAM[task]
        self.channels = feature_channels(p['depth'])
        self.t0 = time.time()
        self.n_done = self.n_run = self.n_skipped = 0
        self.lock = threading.Lock()  # counters, records, results files
        self.stage_seconds = 0.0  # of finished stages, this run or before
        self.failed: List[str] = []
        self._check()

    # -- validation -------------------------------------------------------
    def _check(self):
        p, a = self.preset, self.args
        mixssl_like = [m for m in self.methods if METHODS[m].get('objective')]
        if mixssl_like and p['img_size'] and p['img_size'] % 32:
            raise SystemExit(
                f"preset {self.preset_name}: img_size={p['img_size']} is not "
                'a multiple of 32, which MixSSL needs (ResNet stride 32).')
        if 'imagenet_self' in self.methods:
            if not a.imagenet_ckpt:
                raise SystemExit(
                    'method imagenet-self fine-tunes from ImageNet weights: '
                    'pass --imagenet-ckpt PATH, a checkpoint converted with '
                    'tools/model_converters/ (see docs/model_converters.md).')
            if not osp.isfile(a.imagenet_ckpt):
                raise SystemExit(
                    f'--imagenet-ckpt {a.imagenet_ckpt}: no such file. '
                    'Convert torchvision or DINO ResNet weights with '
                    'tools/model_converters/ first.')
        for m in self.methods:
            cfg = METHODS[m]['config']
            if cfg and not osp.isfile(osp.join(REPO, cfg)):
                raise SystemExit(f'method {method_cli_name(m)}: config {cfg} '
                                 'is missing from this checkout.')
        if self.jobs < 1:
            raise SystemExit(f'--jobs must be >= 1, got {self.jobs}.')
        q = p['method_options'].get('mocov2', {}).get('model.queue_len')
        if 'mocov2' in self.methods and q and q % p['batch_size']:
            raise SystemExit(
                f'MoCo queue_len {q} is not a multiple of the batch size '
                f"{p['batch_size']}.")

    # -- overrides --------------------------------------------------------
    def _data_options(self, loaders: Sequence[str]) -> dict:
        a, o = self.args, OrderedDict()
        for ld in loaders:
            if a.data_root is not None:
                o[f'{ld}.dataset.data_root'] = a.data_root
            if a.ann_file is not None:
                o[f'{ld}.dataset.ann_file'] = a.ann_file
        return o

    def _common_train_options(self, cfg, epochs: int, seed: int) -> dict:
        p, o = self.preset, OrderedDict()
        o['randomness.seed'] = seed
        o['model.backbone.depth'] = p['depth']
        o['train_cfg.max_epochs'] = epochs
        o['train_dataloader.batch_size'] = p['batch_size']
        o['default_hooks.checkpoint.max_keep_ckpts'] = 1
        o['default_hooks.logger.interval'] = 10
        self._loader_options(o, ['train_dataloader'])
        if p['train_subset']:
            o['train_dataloader.dataset.indices'] = p['train_subset']
        if p['img_size']:
            o.update(resolution_options(cfg, p['img_size']))
        return o

    def _loader_options(self, o: dict, loaders: Sequence[str]) -> None:
        w = self.preset['num_workers']
        for ld in loaders:
            o[f'{ld}.num_workers'] = w
            o[f'{ld}.persistent_workers'] = w > 0
            o[f'{ld}.pin_memory'] = False if w == 0 else True

    def pretrain_options(self, method: str, seed: int) -> dict:
        p, m = self.preset, METHODS[method]
        cfg = load_config(m['config'])
        o = self._common_train_options(cfg, p['pretrain_epochs'], seed)
        o.update(m['channels'](self.channels))
        if p['pretrain_lr'] is not None:
            o['optim_wrapper.optimizer.lr'] = p['pretrain_lr']
        if self.subset is not None:
            o['train_dataloader.dataset.classes_subset'] = self.subset
        o.update(self._data_options(['train_dataloader']))
        o.update(p['method_options'].get(method, {}))
        return o

    def _downstream_model_options(self, cfg, loader: str) -> dict:
        o = OrderedDict()
        o['model.head.in_channels'] = self.channels
        necks = cfg.model.get('neck')
        if isinstance(necks, (list, tuple)):  # e.g. GAP + ClsBatchNormNeck
            for i, n in enumerate(necks):
                if 'input_features' in n:
                    o[f'model.neck.{i}.input_features'] = self.channels
        if self.args.classes_subset is not None or self.args.num_classes:
            o['model.head.num_classes'] = self.num_classes
            o['data_preprocessor.num_classes'] = self.num_classes
            o[f'{loader}.dataset.classes_subset'] = self.subset
        return o

    def downstream_train_options(self, protocol: str, seed: int,
                                 ckpt: Optional[str]) -> dict:
        p = self.preset
        cfg = load_config(self.downstream[protocol])
        epochs = p['finetune_epochs' if protocol == 'finetune' else
                   'linear_epochs']
        o = self._common_train_options(cfg, epochs, seed)
        for k in [k for k in o if k.startswith('val_dataloader.')]:
            del o[k]  # validation is off
        o.update(self._downstream_model_options(cfg, 'train_dataloader'))
        # the final checkpoint is tested; no model selection on val
        o['val_dataloader'] = None
        o['val_cfg'] = None
        o['val_evaluator'] = None
        o['default_hooks.checkpoint.save_best'] = None
        if ckpt is None:  # Rand: no pretrained weights
            o['model.backbone.init_cfg'] = None
        else:
            o['model.backbone.init_cfg.checkpoint'] = ckpt
        o.update(self._data_options(['train_dataloader']))
        return o

    def test_options(self, protocol: str, seed: int) -> dict:
        p, o = self.preset, OrderedDict()
        cfg = load_config(self.downstream[protocol])
        o['randomness.seed'] = seed
        o['model.backbone.depth'] = p['depth']
        o['model.backbone.init_cfg'] = None  # weights come from the ckpt
        o.update(self._downstream_model_options(cfg, 'test_dataloader'))
        self._loader_options(o, ['test_dataloader'])
        if p['img_size']:
            o.update({
                k: v
                for k, v in resolution_options(cfg, p['img_size']).items()
                if k.startswith('test_dataloader')
            })
        o.update(self._data_options(['test_dataloader']))
        return o

    # -- stage bookkeeping -----------------------------------------------
    def stage_dir(self, method, seed, stage) -> str:
        return osp.join(self.work_dir, method, f'seed{seed}', stage)

    def _fingerprint(self, cmd: List[str]) -> List[str]:
        # stable across moving the work dir and the python executable
        return [
            c.replace(self.work_dir, '<work_dir>').replace(REPO, '<repo>')
            for c in cmd[1:]
        ]

    def _read_done(self, sdir: str) -> Optional[dict]:
        path = osp.join(sdir, 'done.json')
        if not osp.isfile(path):
            return None
        with open(path) as f:
            return json.load(f)

    def _log(self, msg: str) -> None:
        el = time.time() - self.t0
        print(f'[{el / 60:6.1f} min] {msg}', flush=True)

    def run_stage(self, label: str, sdir: str, cmd: List[str],
                  result_fn) -> dict:
        """Run ``cmd`` unless ``sdir/done.json`` says it already ran with the
        same command; ``result_fn()`` returns what to record when done."""
        with self.lock:
            self.n_done += 1
            tag = f'[{self.n_done:2d}/{self.n_total}] {label}'
        # --resume (added when a checkpoint exists) is not a setting
        fp = self._fingerprint([c for c in cmd if c != '--resume'])
        done = self._read_done(sdir)
        if done is not None:
            if done.get('fingerprint') != fp and not self.args.ignore_changes:
                raise SystemExit(
                    f'{sdir} was finished with other settings:\n  '
                    f'{" ".join(done.get("fingerprint", []))}\nnow:\n  '
                    f'{" ".join(fp)}\nUse another --work-dir, delete that '
                    'stage folder to redo it, or pass --ignore-changes.')
            with self.lock:
                self.n_skipped += 1
                self.stage_seconds += done.get('seconds', 0.0)
            self._log(f'{tag}: done before, skipped')
            return done['result']
        if self.args.dry_run:
            self._log(f'{tag}: would run\n    {shlex.join(cmd)}')
            return {}
        os.makedirs(sdir, exist_ok=True)
        log_path = osp.join(sdir, 'stage.log')
        self._log(f'{tag}: running (log: {osp.relpath(log_path)})')
        if self.args.verbose:
            print('    ' + shlex.join(cmd), flush=True)
        start = time.time()
        with open(log_path, 'a') as log:
            log.write(f'$ {shlex.join(cmd)}\n')
            log.flush()
            env = dict(os.environ)
            env['PYTHONUNBUFFERED'] = '1'
            if self.threads:
                # not part of the fingerprint: it changes speed, not settings
                for var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
                    env[var] = str(self.threads)
            if self.args.verbose:
                proc = subprocess.Popen(
                    cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, text=True)
                for line in proc.stdout:
                    log.write(line)
                    sys.stdout.write('    | ' + line)
                rc = proc.wait()
            else:
                rc = subprocess.call(
                    cmd, cwd=REPO, env=env, stdout=log,
                    stderr=subprocess.STDOUT)
        secs = time.time() - start
        if rc != 0:
            with open(log_path) as f:
                tail = f.readlines()[-25:]
            self._log(f'{tag}: FAILED (exit {rc}) after {secs:.0f}s; last '
                      f'lines of {log_path}:\n' +
                      ''.join('    ' + t for t in tail))
            raise StageFailed(label)
        result = result_fn()
        with open(osp.join(sdir, 'done.json'), 'w') as f:
            json.dump(
                dict(fingerprint=fp, command=shlex.join(cmd),
                     seconds=round(secs, 1), result=result), f, indent=1)
        with self.lock:
            self.n_run += 1
            self.stage_seconds += secs
        self._log(f'{tag}: done in {secs:.0f}s')
        return result

    @staticmethod
    def _last_checkpoint(sdir: str) -> str:
        path = osp.join(sdir, 'last_checkpoint')
        if not osp.isfile(path):
            raise StageFailed(f'{sdir} has no last_checkpoint')
        with open(path) as f:
            ckpt = f.read().strip()
        if not osp.isabs(ckpt):
            ckpt = osp.join(REPO, ckpt)
        return ckpt

    def _train_cmd(self, config, sdir, opts, extra) -> List[str]:
        cmd = [sys.executable, TRAIN, config, '--work-dir', sdir]
        if osp.isfile(osp.join(sdir, 'last_checkpoint')):
            cmd.append('--resume')  # an interrupted run goes on from there
        return cmd + ['--cfg-options'] + to_cfg_options(opts) + list(extra)

    def run_train(self, label, sdir, config, opts, extra) -> dict:
        cmd = self._train_cmd(config, sdir, opts, extra)
        return self.run_stage(
            label, sdir, cmd,
            lambda: dict(checkpoint=self._last_checkpoint(sdir)))

    def run_test(self, label, sdir, config, ckpt, opts, extra) -> dict:
        out = osp.join(sdir, 'metrics.json')
        cmd = [
            sys.executable, TEST, config, ckpt, '--work-dir', sdir, '--out',
            out, '--out-item', 'metrics', '--cfg-options'
        ] + to_cfg_options(opts) + list(extra)

        def result():
            with open(out) as f:
                metrics = json.load(f)
            if 'accuracy/top1' not in metrics:
                raise StageFailed(f'{out} has no accuracy/top1: {metrics}')
            return dict(metrics=metrics)

        return self.run_stage(label, sdir, cmd, result)

    # -- main loop -------------------------------------------------------
    def plan_size(self) -> int:
        n = 0
        for m in self.methods:
            n += len(self.seeds) * (
                (1 if METHODS[m]['config'] else 0) + 2 * len(self.protocols))
        return n

    def run(self) -> int:
        a, p = self.args, self.preset
        self.protocols = a.protocols
        self.n_total = self.plan_size()
        os.makedirs(self.work_dir, exist_ok=True)
        self._log(f'preset {self.preset_name}: {p["description"]}')
        self._log(f'methods {self.methods}, seeds {self.seeds}, classes '
                  f'{self.subset or "all"}, work dir {self.work_dir}, '
                  f'{self.n_total} stages, {self.jobs} at a time')
        records: List[dict] = []
        chains = [(m, s) for s in self.seeds for m in self.methods]

        def chain(method_seed):
            method, seed = method_seed
            try:
                self._run_method(method, seed, records)
            except StageFailed as e:
                with self.lock:
                    self.failed.append(f'{method} seed {seed}: {e}')
            if not a.dry_run:
                with self.lock:
                    self.write_results(records)

        if self.jobs == 1 or a.dry_run:
            for c in chains:
                chain(c)
        else:  # each (method, seed) is an independent chain of runs
            with ThreadPoolExecutor(self.jobs) as pool:
                list(pool.map(chain, chains))
        total = time.time() - self.t0
        self._log(f'finished: {self.n_run} stages run, {self.n_skipped} '
                  f'skipped, {len(self.failed)} failed, wall time '
                  f'{total / 60:.1f} min')
        for f in self.failed:
            self._log(f'FAILED: {f}')
        if not a.dry_run:
            path = osp.join(self.work_dir, 'results.md')
            self._log(f'results: {path}')
            with open(path) as f:
                print(f.read())
        return 1 if self.failed else 0

    def _run_method(self, method: str, seed: int, records: List[dict]):
        a, m = self.args, METHODS[method]
        ckpt = None
        if m['config']:
            sdir = self.stage_dir(method, seed, 'pretrain')
            res = self.run_train(
                f'{method} seed {seed} pretrain', sdir, m['config'],
                self.pretrain_options(method, seed), a.pretrain_cfg_options)
            ckpt = res.get('checkpoint', '<pretrain checkpoint>')
        elif m.get('external'):
            ckpt = osp.abspath(a.imagenet_ckpt)
        for proto in self.protocols:
            try:
                self._run_protocol(method, seed, proto, ckpt, records)
            except StageFailed as e:  # the other protocol may still work
                with self.lock:
                    self.failed.append(f'{method} seed {seed}: {e}')

    def _run_protocol(self, method, seed, proto, ckpt, records):
        a = self.args
        config = self.downstream[proto]
        sdir = self.stage_dir(method, seed, proto)
        res = self.run_train(
            f'{method} seed {seed} {proto}', sdir, config,
            self.downstream_train_options(proto, seed, ckpt),
            a.downstream_cfg_options)
        ds_ckpt = res.get('checkpoint', f'<{proto} checkpoint>')
        res = self.run_test(
            f'{method} seed {seed} {proto} test',
            self.stage_dir(method, seed, f'{proto}_test'), config, ds_ckpt,
            self.test_options(proto, seed), a.downstream_cfg_options)
        if res.get('metrics'):
            with self.lock:
                records.append(
                    dict(method=method, protocol=proto, seed=seed,
                         metrics=res['metrics']))

    # -- outputs ----------------------------------------------------------
    def header_lines(self) -> List[str]:
        p = self.preset
        size = p['img_size'] or 'config (224)'
        subset = (f'first {p["train_subset"]} train images'
                  if p['train_subset'] else 'the full train split')
        classes = ('4 classes (BloodMNIST labels 1, 4, 5, 6: the paper task)'
                   if self.subset == PAPER_4 else
                   f'classes {self.subset}' if self.subset else 'all classes')
        return [
            f'# Benchmark results — preset `{self.preset_name}`', '',
            f'- Task: {classes}; data '
            f'`{self.args.ann_file or "bloodmnist.npz"}`.',
            f'- Encoder: ResNet-{p["depth"]}, {size} px, batch '
            f'{p["batch_size"]}; pretraining and downstream training on '
            f'{subset}.',
            f'- Pretraining: {p["pretrain_epochs"]} epochs, Adam lr '
            f'{p["pretrain_lr"] or "1e-4 (config)"}, same for every method.',
            f'- Fine-tune: {p["finetune_epochs"]} epochs, Adam 1e-4; linear '
            f'probe: {p["linear_epochs"]} epochs, Adam 1e-3, frozen encoder. '
            'The final checkpoint is tested.',
            f'- CPU threads per run (OMP_NUM_THREADS): '
            f'{self.threads or "torch default"}; runs at a time: '
            f'{self.jobs}.',
        ] + ([
            '- Extra pretraining cfg-options (override the above): `' +
            ' '.join(self.args.pretrain_cfg_options) + '`'
        ] if self.args.pretrain_cfg_options else []) + ([
            '- Extra downstream cfg-options (override the above): `' +
            ' '.join(self.args.downstream_cfg_options) + '`'
        ] if self.args.downstream_cfg_options else []) + [
            f'- Time: the finished stages took {self.stage_seconds / 60:.1f} '
            'min in all (sum of the stage subprocesses, over every '
            'invocation).',
            '- Command: `' + shlex.join(
                ['python', 'tools/benchmark.py'] + self.args.argv) + '`',
        ]

    def write_results(self, records: List[dict]) -> None:
        missing = []
        for seed in self.seeds:
            for m in self.methods:
                for proto in self.protocols:
                    if not any(r['method'] == m and r['protocol'] == proto
                               and r['seed'] == seed for r in records):
                        missing.append(f'{METHODS[m]["name"]} '
                                       f'{PROTOCOLS[proto].lower()}, seed '
                                       f'{seed}')
        md = render_markdown(records, self.methods, self.header_lines(),
                             missing)
        with open(osp.join(self.work_dir, 'results.md'), 'w') as f:
            f.write(md + '\n')
        write_csv(osp.join(self.work_dir, 'results.csv'), records)
        if records:
            plot_bars(
                osp.join(self.work_dir, 'results.png'), records,
                self.methods,
                title=f'BloodMNIST, preset {self.preset_name}, '
                f'{self.num_classes} classes, seeds '
                f'{" ".join(map(str, self.seeds))}')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='Presets:\n' + '\n'.join(
            f'  {k.replace("_", "-"):10s} {v["description"]}'
            for k, v in PRESETS.items()))
    parser.add_argument('--preset', default='cpu-small',
                        choices=preset_names())
    parser.add_argument(
        '--methods', nargs='+', metavar='METHOD',
        help='methods or groups to run (default: the preset\'s). Methods: ' +
        ', '.join(method_cli_name(m) for m in METHODS) + '. Groups: ' +
        '; '.join(f'{g} = {" ".join(method_cli_name(m) for m in ms)}'
                  for g, ms in METHOD_GROUPS.items()))
    parser.add_argument(
        '--ablations', action='store_true',
        help='run MixSSL\'s objectives (T, R, R+T, R+C, R+A; after the '
        '--methods, when given) and add the paper\'s Table 3 to results.md')
    parser.add_argument(
        '--imagenet-ckpt', metavar='PATH',
        help='converted ImageNet ResNet weights for method imagenet-self '
        '(tools/model_converters/)')
    parser.add_argument(
        '--jobs', type=int,
        help='runs at a time (independent method/seed chains; default: the '
        'preset\'s)')
    parser.add_argument('--seeds', nargs='+', type=int,
                        help='seeds (default: the preset\'s)')
    parser.add_argument('--work-dir',
                        help='default: work_dirs/benchmark/<preset>')
    parser.add_argument(
        '--classes', choices=['4', '8'], default='4',
        help='4: the paper task (BloodMNIST labels 1, 4, 5, 6); 8: all')
    parser.add_argument(
        '--classes-subset', nargs='+', type=int,
        help='original label ids to keep (any MedMNIST file); overrides '
        '--classes')
    parser.add_argument(
        '--num-classes', type=int,
        help='number of classes of a non-BloodMNIST file used whole')
    parser.add_argument('--data-root',
                        help='folder of the .npz (default data/medmnist/)')
    parser.add_argument(
        '--ann-file', help='MedMNIST .npz, relative to --data-root or '
        'absolute (default bloodmnist.npz)')
    parser.add_argument('--protocols', nargs='+', choices=list(PROTOCOLS),
                        default=list(PROTOCOLS))
    parser.add_argument('--pretrain-cfg-options', nargs='+', default=[],
                        metavar='KEY=VALUE',
                        help='extra --cfg-options for pretraining stages')
    parser.add_argument('--downstream-cfg-options', nargs='+', default=[],
                        metavar='KEY=VALUE',
                        help='extra --cfg-options for fine-tune / linear '
                        'probe / test stages')
    parser.add_argument(
        '--threads', type=int,
        help='CPU threads per run (OMP_NUM_THREADS); 1 is much faster when '
        'other jobs share the cores (default: the preset\'s, else cores / '
        'jobs when jobs > 1, else torch\'s default)')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the commands, run nothing')
    parser.add_argument('--verbose', action='store_true',
                        help='echo the commands and the runs\' output')
    parser.add_argument(
        '--ignore-changes', action='store_true',
        help='reuse finished stages even if their command differs')
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    return Benchmark(args).run()


if __name__ == '__main__':
    sys.exit(main())
