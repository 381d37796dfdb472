# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The benchmark's outputs: ``results.md`` (top-1 by protocol: fine-tune,
linear probe, k-NN; Table 1: per-class test accuracy; Table 2: macro
precision / recall / F1 / ROC-AUC / accuracy, or for a binary task those of
the positive class, the paper's Table 2 layout; Table 3: MixSSL's
objectives; mean ± std over seeds), ``results.csv`` (one row per method x
protocol x seed) and ``results.png`` (top-1 per method and protocol).

A *record* is ``dict(method=<METHODS key>, protocol='finetune'|'linear'|
'knn', seed=int, metrics=<the test stage's metrics.json>)``; a k-NN record's
metrics are ``{'knn/top1': value}``.
"""
import csv
import shlex
from collections import OrderedDict
from typing import Dict, List, Sequence

from .methods import METHODS, OBJECTIVE_LOSSES, TRAINED_PROTOCOLS
from .protocols import (base_protocol, has_fractions, ordered_protocols,
                        percent, protocol_title)
from .setup_notes import data_lines, protocol_lines, recipe_line, start_lines
from .stats import finite, fmt_mean_std

# metric key in mmpretrain/mixssl_mm output -> (csv column, table header)
MACRO_METRICS = OrderedDict([
    ('single-label/precision', ('precision', 'Precision')),
    ('single-label/recall', ('recall', 'Recall')),
    ('single-label/f1-score', ('f1', 'F1')),
    ('roc_auc', ('roc_auc', 'ROC-AUC')),
    ('accuracy/top1', ('accuracy', 'Accuracy')),
])
# a binary task's Table 2: PositiveClassMetric (the positive class's P, R,
# F1; ROC-AUC of its score; accuracy)
BINARY_METRICS = OrderedDict([
    ('binary/precision', ('pos_precision', 'Precision')),
    ('binary/recall', ('pos_recall', 'Recall')),
    ('binary/f1-score', ('pos_f1', 'F1')),
    ('binary/roc_auc', ('pos_roc_auc', 'ROC-AUC')),
    ('binary/accuracy', ('pos_accuracy', 'Accuracy')),
])
PER_CLASS_PREFIX = 'per_class_accuracy/'
PER_CLASS_MEAN = 'per_class_accuracy/mean'
# each protocol's top-1 key
TOP1 = dict(finetune='accuracy/top1', linear='accuracy/top1', knn='knn/top1')


def top1(record: dict):
    """The record's top-1 accuracy (k-NN's for a k-NN record)."""
    return record['metrics'].get(TOP1[base_protocol(record['protocol'])])


def is_binary(records: List[dict]) -> bool:
    """Whether the test stages reported PositiveClassMetric's values."""
    return any('binary/f1-score' in r['metrics'] for r in records)


def present_protocols(records: List[dict]) -> List[str]:
    """The protocols to show: fine-tune and linear probe, the label
    fractions and k-NN when a record has them, in report order."""
    return ordered_protocols(
        list(TRAINED_PROTOCOLS) + [r['protocol'] for r in records])


def trained_protocols(records: List[dict]) -> List[str]:
    """:func:`present_protocols` that train a head (Tables 1 and 2)."""
    return [
        p for p in present_protocols(records)
        if base_protocol(p) in TRAINED_PROTOCOLS
    ]


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
    row = OrderedDict(method=method_name(method), protocol=protocol, seed=seed)
    for key, (col, _) in MACRO_METRICS.items():
        row[col] = metrics.get(key)
    if protocol == 'knn':
        row['accuracy'] = metrics.get(TOP1['knn'])
    for key in list(BINARY_METRICS)[:3]:  # ROC-AUC, accuracy: as above
        if key in metrics:
            row[BINARY_METRICS[key][0]] = metrics[key]
    row['mean_class_accuracy'] = metrics.get(PER_CLASS_MEAN)
    for name in class_keys(metrics):
        row[f'acc_{name}'] = metrics.get(PER_CLASS_PREFIX + name)
    return row


def md_table(header: List[str], rows: List[List[str]]) -> List[str]:
    """Markdown table lines; every column but the first is centred."""
    lines = [
        '| ' + ' | '.join(header) + ' |',
        '|' + '|'.join(['---'] + [':-:'] * (len(header) - 1)) + '|'
    ]
    lines += ['| ' + ' | '.join(r) + ' |' for r in rows]
    return lines


def build_tables(records: List[dict],
                 methods: Sequence[str],
                 digits: int = 2) -> Dict[str, List[str]]:
    """Markdown tables from ``records``: Table 1 (a column per class + their
    average) and Table 2 (macro metrics, or the positive class's for a
    binary task), one of each per trained protocol, mean ± std over seeds;
    keys ``table1_<protocol>``, ``table2_<protocol>``."""
    table2 = BINARY_METRICS if is_binary(records) else MACRO_METRICS
    by = OrderedDict()
    for r in records:
        by.setdefault((r['protocol'], r['method']), []).append(r)
    classes = []
    for r in records:
        for c in class_keys(r['metrics']):
            if c not in classes:
                classes.append(c)
    tables = OrderedDict()
    for proto in trained_protocols(records):
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
            t2.append([name] + [fmt_mean_std(vals(k), digits) for k in table2])
        if t1:
            tables[f'table1_{proto}'] = md_table(
                ['Method'] + [c.replace('_', ' ')
                              for c in classes] + ['Average'], t1)
            tables[f'table2_{proto}'] = md_table(
                ['Method'] + [h for _, h in table2.values()], t2)
    return tables


def build_top1_table(records: List[dict],
                     methods: Sequence[str],
                     digits: int = 2) -> List[str]:
    """One row per method, a top-1 column per protocol run (fine-tune,
    linear probe, k-NN), mean ± std over seeds with the seed count."""
    protos, rows = present_protocols(records), []
    for m in methods:
        recs = [r for r in records if r['method'] == m]
        if not recs:
            continue
        row = [method_name(m)]
        for proto in protos:
            vals = [top1(r) for r in recs if r['protocol'] == proto]
            n = len(finite(vals))
            row.append(fmt_mean_std(vals, digits) + (f' (n={n})' if n else ''))
        rows.append(row)
    shown = has_fractions(protos)
    return md_table(['Method'] + [protocol_title(p, shown) for p in protos],
                    rows)


def build_table3(records: List[dict],
                 methods: Sequence[str],
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
        row = [
            f'{obj} ({METHODS[m]["name"]})' if obj == 'R+T' else obj,
            OBJECTIVE_LOSSES[obj]
        ]
        for proto in present_protocols(records):
            vals = [top1(r) for r in recs if r['protocol'] == proto]
            n = len(finite(vals))
            row.append(fmt_mean_std(vals, digits) + (f' (n={n})' if n else ''))
        rows.append(row)
    if len(rows) < 2:
        return []
    protos = present_protocols(records)
    return md_table(
        ['Objective', 'Loss'] +
        [f'{protocol_title(p, has_fractions(protos))} top-1'
         for p in protos], rows)


def render_markdown(
    records: List[dict],
    methods: Sequence[str],
    header_lines: Sequence[str] = (),
    missing: Sequence[str] = (),
    digits: int = 2,
    positive_class: str = 'the positive class',
    sections: Sequence[str] = ()
) -> str:
    """The whole results.md: ``header_lines``, top-1 by protocol, Tables 1-3,
    the lines of further ``sections`` (the differences to MixSSL, the label
    subsets) and the list of ``missing`` (unfinished) runs;
    ``positive_class`` names a binary task's positive class in Table 2's
    title."""
    tables = build_tables(records, methods, digits)
    seeds = sorted({r['seed'] for r in records})
    out = list(header_lines)
    out += [
        '', 'All values are percentages on the official test split, mean ± '
        'sample std over seeds '
        f'{" ".join(map(str, seeds)) or "–"} (n = number of seeds '
        'finished; a single seed shows no std).', ''
    ]
    if records:
        out += [
            '## Top-1 accuracy by protocol (%)', '',
            'k-NN: weighted k-NN (k = 20, T = 0.07) of the frozen encoder\'s '
            'pooled features, train subset as memory bank, test split as '
            'queries (no training).', '',
            *build_top1_table(records, methods, digits), ''
        ]
    out += [
        '## Table 1 — per-class test accuracy (%)', '',
        '"Average" is the unweighted mean of the class accuracies '
        '(balanced accuracy).', ''
    ]
    for table in ('table1', 'table2'):
        if table == 'table2' and is_binary(records):
            out += [
                f'## Table 2 — precision / recall / F1 of {positive_class}, '
                'ROC-AUC of its score and accuracy (%)', ''
            ]
        elif table == 'table2':
            out += [
                '## Table 2 — macro precision / recall / F1, ROC-AUC '
                '(one-vs-rest, macro) and top-1 accuracy (%)', ''
            ]
        shown = has_fractions(trained_protocols(records))
        for proto in trained_protocols(records):
            title = protocol_title(proto, shown)
            if f'{table}_{proto}' in tables:
                out += [f'### {title}', '', *tables[f'{table}_{proto}'], '']
    table3 = build_table3(records, methods, digits)
    if table3:
        out += [
            '## Table 3 — MixSSL objectives, test top-1 accuracy (%)', '',
            'Same pretraining budget for every row; the paper reports the '
            'fine-tune column.', '', *table3, ''
        ]
    out += list(sections)
    if missing:
        out += ['## Not finished', ''] + [f'- {m}' for m in missing] + ['']
    return '\n'.join(out)


def missing_runs(records: List[dict], methods: Sequence[str],
                 seeds: Sequence[int], protocols: Sequence[str]) -> List[str]:
    """``'MixSSL linear probe, seed 0'`` for each planned (seed, method,
    protocol) without a record, in plan order."""
    done = {(r['method'], r['protocol'], r['seed']) for r in records}
    return [
        f'{METHODS[m]["name"]} '
        f'{protocol_title(p) if p == "knn" else protocol_title(p).lower()}, '
        f'seed {s}' for s in seeds for m in methods for p in protocols
        if (m, p, s) not in done
    ]


def fraction_lines(plan) -> List[str]:
    """The header line of the label fractions below 100 %, if any."""
    below = [f for f in plan.fraction_stages.fractions if f < 1.0]
    if not below:
        return []
    return [
        '- Label fractions: fine-tune also on ' + ', '.join(f'{percent(f)} %'
                                                            for f in below) +
        ' of the training labels '
        '(stratified, fixed per seed, the same for every method; the full '
        'fine-tune\'s optimizer steps; see "Label fractions").'
    ]


def header_lines(plan, stage_seconds: float) -> List[str]:
    """results.md's header: the settings of ``plan`` (a
    :class:`~mixssl_mm.benchmark.planning.Plan`) and the summed time of the
    finished stages."""
    p, args = plan.preset, plan.args
    size = p['img_size'] or 'config (224)'
    pretrain_lr = ('1e-4 (config)' if plan.recipe == 'paper' else
                   p['pretrain_lr'] or '1e-4 (config)')
    subset = (f'first {p["train_subset"]} train images'
              if p['train_subset'] else 'the full train split')
    lines = [
        f'# Benchmark results — {plan.target.name}, preset '
        f'`{plan.preset_name}`',
        '',
        *data_lines(plan),
        f'- Encoder: ResNet-{p["depth"]}, {size} px, batch '
        f'{p["batch_size"]}; pretraining and downstream training on '
        f'{subset}.',
        f'- Pretraining: {p["pretrain_epochs"]} epochs, peak lr '
        f'{pretrain_lr}; fine-tune: {p["finetune_epochs"]} epochs, lr 1e-4; '
        f'linear probe: {p["linear_epochs"]} epochs, lr 1e-3. '
        f'{recipe_line(plan.recipe)}',
        *protocol_lines(plan),
        *start_lines(plan),
        *fraction_lines(plan),
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
    """results.csv: one row per record (see :func:`write_rows`)."""
    write_rows(path, [
        flatten_record(r['method'], r['protocol'], r['seed'], r['metrics'])
        for r in records
    ])


def write_rows(path: str, rows: List[dict]) -> None:
    """A CSV of dict rows; floats with 4 decimals; the columns are the
    union over rows, in first-seen order."""
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
