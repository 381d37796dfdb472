# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The benchmark's outputs: ``results.md`` (Table 1: per-class test
accuracy; Table 2: macro precision / recall / F1 / ROC-AUC / accuracy;
Table 3: MixSSL's objectives; mean ± std over seeds), ``results.csv`` (one
row per method x protocol x seed) and ``results.png`` (top-1 per method).

A *record* is ``dict(method=<METHODS key>, protocol='finetune'|'linear',
seed=int, metrics=<the test stage's metrics.json>)``.
"""
import csv
import shlex
from collections import OrderedDict
from typing import Dict, List, Sequence

from .methods import METHODS, OBJECTIVE_LOSSES, PAPER_4, PROTOCOLS
from .stats import finite, fmt_mean_std, mean_std

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


def method_name(key: str) -> str:
    """METHODS key -> display name (an unknown key is shown as is)."""
    return METHODS[key]['name'] if key in METHODS else key


def class_keys(metrics: dict) -> List[str]:
    """Per-class accuracy keys (class names), in the metric's order."""
    return [
        k[len(PER_CLASS_PREFIX):] for k in metrics
        if k.startswith(PER_CLASS_PREFIX) and k != PER_CLASS_MEAN
    ]


def flatten_record(method: str, protocol: str, seed: int,
                   metrics: dict) -> 'OrderedDict[str, object]':
    """One results.csv row."""
    row = OrderedDict(method=method_name(method), protocol=protocol,
                      seed=seed)
    for key, (col, _) in MACRO_METRICS.items():
        row[col] = metrics.get(key)
    row['mean_class_accuracy'] = metrics.get(PER_CLASS_MEAN)
    for name in class_keys(metrics):
        row[f'acc_{name}'] = metrics.get(PER_CLASS_PREFIX + name)
    return row


def md_table(header: List[str], rows: List[List[str]]) -> List[str]:
    """Markdown table lines; every column but the first is centred."""
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join(['---'] + [':-:'] * (len(header) - 1)) + '|']
    lines += ['| ' + ' | '.join(r) + ' |' for r in rows]
    return lines


def build_tables(records: List[dict], methods: Sequence[str],
                 digits: int = 2) -> Dict[str, List[str]]:
    """Markdown tables from ``records``: Table 1 (a column per class + their
    average) and Table 2 (macro metrics), one of each per protocol, mean ±
    std over seeds; keys ``table1_<protocol>``, ``table2_<protocol>``."""
    by = OrderedDict()
    for r in records:
        by.setdefault((r['protocol'], r['method']), []).append(r)
    classes = []
    for r in records:
        for c in class_keys(r['metrics']):
            if c not in classes:
                classes.append(c)
    tables = OrderedDict()
    for proto in PROTOCOLS:
        t1, t2 = [], []
        for m in methods:
            recs = sorted(by.get((proto, m), []), key=lambda r: r['seed'])
            if not recs:
                continue
            name = f'{method_name(m)} (n={len(recs)})'
            vals = lambda key: [r['metrics'].get(key) for r in recs]  # noqa
            t1.append([name] + [
                fmt_mean_std(vals(PER_CLASS_PREFIX + c), digits)
                for c in classes
            ] + [fmt_mean_std(vals(PER_CLASS_MEAN), digits)])
            t2.append([name] +
                      [fmt_mean_std(vals(k), digits) for k in MACRO_METRICS])
        if t1:
            tables[f'table1_{proto}'] = md_table(
                ['Method'] + [c.replace('_', ' ') for c in classes] +
                ['Average'], t1)
            tables[f'table2_{proto}'] = md_table(
                ['Method'] + [h for _, h in MACRO_METRICS.values()], t2)
    return tables


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
            n = len(finite(vals))
            row.append(fmt_mean_std(vals, digits) + (f' (n={n})' if n else ''))
        rows.append(row)
    if len(rows) < 2:
        return []
    return md_table(['Objective', 'Loss'] +
                    [f'{t} top-1' for t in PROTOCOLS.values()], rows)


def render_markdown(records: List[dict], methods: Sequence[str],
                    header_lines: Sequence[str] = (),
                    missing: Sequence[str] = (), digits: int = 2) -> str:
    """The whole results.md: ``header_lines``, Tables 1-3 and the list of
    ``missing`` (unfinished) runs."""
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
    for table in ('table1', 'table2'):
        if table == 'table2':
            out += [
                '## Table 2 — macro precision / recall / F1, ROC-AUC '
                '(one-vs-rest, macro) and top-1 accuracy (%)', ''
            ]
        for proto, title in PROTOCOLS.items():
            if f'{table}_{proto}' in tables:
                out += [f'### {title}', '', *tables[f'{table}_{proto}'], '']
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


def missing_runs(records: List[dict], methods: Sequence[str],
                 seeds: Sequence[int], protocols: Sequence[str]) -> List[str]:
    """``'MixSSL linear probe, seed 0'`` for each planned (seed, method,
    protocol) without a record, in plan order."""
    done = {(r['method'], r['protocol'], r['seed']) for r in records}
    return [
        f'{METHODS[m]["name"]} {PROTOCOLS[p].lower()}, seed {s}'
        for s in seeds for m in methods for p in protocols
        if (m, p, s) not in done
    ]


def header_lines(plan, stage_seconds: float) -> List[str]:
    """results.md's header: the settings of ``plan`` (a
    :class:`~mixssl_mm.benchmark.planning.Plan`) and the summed time of the
    finished stages."""
    p, args = plan.preset, plan.args
    size = p['img_size'] or 'config (224)'
    subset = (f'first {p["train_subset"]} train images'
              if p['train_subset'] else 'the full train split')
    classes = ('4 classes (BloodMNIST labels 1, 4, 5, 6: the paper task)'
               if plan.subset == PAPER_4 else
               f'classes {plan.subset}' if plan.subset else 'all classes')
    lines = [
        f'# Benchmark results — preset `{plan.preset_name}`', '',
        f'- Task: {classes}; data `{args.ann_file or "bloodmnist.npz"}`.',
        f'- Encoder: ResNet-{p["depth"]}, {size} px, batch '
        f'{p["batch_size"]}; pretraining and downstream training on '
        f'{subset}.',
        f'- Pretraining: {p["pretrain_epochs"]} epochs, Adam lr '
        f'{p["pretrain_lr"] or "1e-4 (config)"}, same for every method.',
        f'- Fine-tune: {p["finetune_epochs"]} epochs, Adam 1e-4; linear '
        f'probe: {p["linear_epochs"]} epochs, Adam 1e-3, frozen encoder. '
        'The final checkpoint is tested.',
        f'- CPU threads per run (OMP_NUM_THREADS): '
        f'{plan.threads or "torch default"}; runs at a time: {plan.jobs}.',
    ]
    for kind, extra in (('pretraining', args.pretrain_cfg_options),
                        ('downstream', args.downstream_cfg_options)):
        if extra:
            lines.append(f'- Extra {kind} cfg-options (override the above): '
                         '`' + ' '.join(extra) + '`')
    return lines + [
        f'- Time: the finished stages took {stage_seconds / 60:.1f} min in '
        'all (sum of the stage subprocesses, over every invocation).',
        '- Command: `' +
        shlex.join(['python', 'tools/benchmark.py'] + args.argv) + '`',
    ]


def write_csv(path: str, records: List[dict]) -> None:
    """results.csv: one row per record; floats with 4 decimals; the columns
    are the union over rows, in first-seen order."""
    rows = [
        flatten_record(r['method'], r['protocol'], r['seed'], r['metrics'])
        for r in records
    ]
    fields = []
    for row in rows:
        fields += [k for k in row if k not in fields]
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
    = sample std over seeds; a PNG at ``path``."""
    import matplotlib
    matplotlib.use('Agg')  # no display: only files are written
    import matplotlib.pyplot as plt

    present = [m for m in methods if any(r['method'] == m for r in records)]
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
    ax.set_xticklabels([method_name(m) for m in present])
    ax.set_ylabel('test top-1 accuracy (%)')
    ax.set_ylim(0, 105)
    ax.legend(ncol=2, loc='upper center', bbox_to_anchor=(0.5, -0.1),
              frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
