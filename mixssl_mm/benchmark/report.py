# Copyright (c) mixssl_mm contributors. All rights reserved.
"""REPORTS: results.md (header: data, task, start, recipe; top-1 by
protocol; Table 1 per-class accuracy; Table 2 macro or positive-class
metrics; Table 3 MixSSL's objectives; design choices; Δ vs MixSSL; label
subsets), results.csv, deltas.csv, results.png, and the console's closing
lines; mean ± std over seeds, intervals from :mod:`.comparison`.

A *record* is ``dict(method=<METHODS key>, protocol=<protocol key>,
seed=int, metrics=<the test stage's metrics.json>)``; a k-NN record's
metrics are ``{'knn/top1': value}``.
"""
import csv
import os.path as osp
import shlex
import textwrap
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np

from mixssl_mm.datasets.utils.natural_photos import (FALLBACK_NOTE,
                                                     describe_pool)
from .comparison import (PER_CLASS_MEAN, PER_CLASS_PREFIX, REFERENCE,
                         class_keys, compare, delta_rows, delta_section,
                         finite, fmt_interval, fmt_mean_std, md_table,
                         mean_std, within_noise)
from .methods import (METHODS, OBJECTIVE_LOSSES, TRAINED_PROTOCOLS,
                      base_protocol, has_fractions, mixes_images,
                      ordered_protocols, percent, protocol_title)
from .recipe import WARMUP_FRACTION, WEIGHT_DECAY, ZERO_INIT_RESIDUAL

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
# each protocol's top-1 key
TOP1 = dict(finetune='accuracy/top1', linear='accuracy/top1', knn='knn/top1')


def top1(record: dict):
    """The record's top-1 accuracy (k-NN's for a k-NN record)."""
    return record['metrics'].get(TOP1[base_protocol(record['protocol'])])


def _top1s(records: List[dict], method: str, proto: str) -> list:
    return [
        top1(r) for r in records
        if r['method'] == method and r['protocol'] == proto
    ]


def _with_n(vals: list, digits: int) -> str:
    """``'85.31 ± 1.20 (n=3)'``."""
    n = len(finite(vals))
    return fmt_mean_std(vals, digits) + (f' (n={n})' if n else '')


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


def _top1_rows(records: List[dict], methods: Sequence[str], first,
               digits: int) -> List[List[str]]:
    """A row per method with records and ``first(method)`` (its leading
    cells; None: no row), then its top-1 per :func:`present_protocols`."""
    protos = present_protocols(records)
    return [
        first(m) + [_with_n(_top1s(records, m, p), digits) for p in protos]
        for m in methods
        if any(r['method'] == m for r in records) and first(m) is not None
    ]


def build_top1_table(records: List[dict],
                     methods: Sequence[str],
                     digits: int = 2) -> List[str]:
    """One row per method, a top-1 column per protocol run (fine-tune,
    linear probe, k-NN), mean ± std over seeds with the seed count."""
    protos = present_protocols(records)
    shown = has_fractions(protos)
    return md_table(['Method'] + [protocol_title(p, shown) for p in protos],
                    _top1_rows(records, methods, lambda m: [method_name(m)],
                               digits))


def build_table3(records: List[dict],
                 methods: Sequence[str],
                 digits: int = 2) -> List[str]:
    """The paper's Table 3 (MixSSL objectives): one row per objective that
    has results, top-1 per protocol, mean ± std over seeds; ``[]`` when fewer
    than two objectives have results (nothing to compare)."""

    def first(m):
        obj = METHODS.get(m, {}).get('objective')
        if obj is not None:
            name = f'{obj} ({METHODS[m]["name"]})' if obj == 'R+T' else obj
            return [name, OBJECTIVE_LOSSES[obj]]

    rows = _top1_rows(records, methods, first, digits)
    protos = present_protocols(records)
    shown = has_fractions(protos)
    return md_table(['Objective', 'Loss'] +
                    [f'{protocol_title(p, shown)} top-1'
                     for p in protos], rows) if len(rows) >= 2 else []


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
    table2 = (f'precision / recall / F1 of {positive_class}, ROC-AUC of '
              'its score and accuracy' if is_binary(records) else
              'macro precision / recall / F1, ROC-AUC (one-vs-rest, macro) '
              'and top-1 accuracy')
    heads = dict(
        table1=[
            '## Table 1 — per-class test accuracy (%)', '',
            '"Average" is the unweighted mean of the class accuracies '
            '(balanced accuracy).', ''
        ],
        table2=[f'## Table 2 — {table2} (%)', ''])
    shown = has_fractions(trained_protocols(records))
    for table, head in heads.items():
        out += head
        for proto in trained_protocols(records):
            if f'{table}_{proto}' in tables:
                out += [
                    f'### {protocol_title(proto, shown)}', '',
                    *tables[f'{table}_{proto}'], ''
                ]
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


def own_encoder_lines(plan) -> List[str]:
    """One line per method that keeps its config's own (non-ResNet)
    encoder (:func:`~mixssl_mm.benchmark.config_fit.own_encoder`)."""
    lines = []
    for m, enc in getattr(plan, 'encoders', {}).items():
        b = enc['backbone']
        arch = f' {b["arch"]}' if isinstance(b.get('arch'), str) else ''
        lines.append(
            f'- {METHODS[m]["name"]}: its config\'s own encoder, '
            f'{b["type"]}{arch} ({enc["channels"]} channels, stride '
            f'{enc["stride"]} px), not the ResNet, in pretraining and every '
            'downstream stage (decoder and heads fitted to it).')
    return lines


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
        *own_encoder_lines(plan),
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


def data_lines(plan) -> List[str]:
    """The data (name, layout, where), the task's classes (with BloodMNIST's
    paper task named as such) and a binary task's positive class."""
    t, task = plan.target, plan.task
    where = t.path if t.kind == 'folder' else osp.basename(t.path)
    if task.paper == '4':
        classes = ('4 classes (BloodMNIST labels 1, 4, 5, 6: the paper task)'
                   f': {", ".join(task.classes)}')
    elif task.num_classes == len(t.classes):
        classes = f'all {task.num_classes} classes: {", ".join(task.classes)}'
    else:
        classes = (f'{task.num_classes} of its {len(t.classes)} classes '
                   f'(ids {task.ids}): {", ".join(task.classes)}')
    lines = [f'- Task: {classes}; data {t.name} (`{where}`, {t.layout}).']
    if plan.positive is not None:
        lines.append(
            f'- Binary task, positive class: {task.classes[plan.positive]} '
            f'(index {plan.positive}; `--positive-class`). Table 2 reports '
            'its precision, recall and F1, the ROC-AUC of its score and the '
            'accuracy.')
    return lines


def recipe_line(recipe: str) -> str:
    """The training recipe of every stage (:mod:`.recipe`), one sentence."""
    if recipe == 'paper':
        return ('Recipe `paper` (`--recipe paper`): the shipped configs\' '
                'constant Adam with L2 weight decay (1e-4; linear probe 0), '
                'for every method.')
    return (f'Recipe `fair` (the default), the same for every method and '
            f'stage: AdamW (weight decay {WEIGHT_DECAY:g}, none on BatchNorm '
            f'and biases; linear probe 0), linear warm-up over the first '
            f'{WARMUP_FRACTION:.0%} of the steps, cosine decay to 0; '
            f'`zero_init_residual={ZERO_INIT_RESIDUAL}` in every ResNet '
            'encoder.')


def protocol_lines(plan) -> List[str]:
    """The held-out protocol, the crops and the linear probe's views."""
    p, test = plan.preset, plan.target.counts['test']
    n_test = sum(test[i] for i in plan.task.ids)
    held_out = ('the official test split'
                if plan.target.kind == 'npz' else 'the test folder')
    return [
        f'- Held-out protocol: every score is on {held_out} ({n_test} '
        'images), seen by no training stage; the validation split is not '
        'used (no model selection, no early stopping): the last checkpoint '
        'of every stage is tested.',
        f'- Crops: pretraining and fine-tune RandomResizedCrops keep at '
        f'least {p["crop_scale_min"]:g} of the image area (the preset\'s '
        '`crop_scale_min`, fitted to the source resolution); Gaussian blur '
        'radii scaled with the input size.',
        '- Linear probe: trained and tested on clean views (the test '
        'pipeline: the whole image, resized); frozen encoder in eval mode '
        '(`frozen_stages=4`, `norm_eval=True`: BatchNorm keeps its '
        'pretraining statistics' +
        (', re-estimated on clean train images: '
         'see below' if plan.args.recalibrate_bn else '') +
        '), for every method.',
    ]


def start_lines(plan) -> List[str]:
    """Where the encoders start, the auxiliary images, the k-NN protocol
    and the BatchNorm re-estimation."""
    lines = []
    if plan.init_ckpt:
        lines.append(
            f'- Start: every method\'s pretraining encoder starts from '
            f'`{plan.init_ckpt}` (sha256 {plan.init_sha256[:16]}…, '
            '`--init-ckpt`); ImageNet-self fine-tunes it directly; Rand '
            'starts from random weights.')
    elif 'imagenet_self' in plan.methods:
        lines.append(f'- ImageNet-self fine-tunes `{plan.imagenet_ckpt}`; '
                     'every other method starts from random weights.')
    else:
        lines.append('- Start: every method from random weights.')
    if any(plan.starts_random(m) for m in plan.methods):
        lines.append(
            '- Rand: the encoder a pretraining stage starts from '
            '(mmpretrain ResNet\'s init: Kaiming-normal convs, BatchNorm '
            'weight 1, zero-init residual BatchNorms), built with the seed '
            '(`<work_dir>/rand_start/`), fine-tuned like the others.')
    mixing = [METHODS[m]['name'] for m in plan.methods if mixes_images(m)]
    if mixing:
        if plan.aux is None:
            aux = FALLBACK_NOTE
        elif not plan.args.aux_root:
            aux = describe_pool(plan.aux.root)
        else:
            aux = (f'`{plan.aux.root}` ({plan.aux.num_images} images, ' +
                   (f'{len(plan.aux.classes)} classes'
                    if plan.aux.classes else 'unlabelled') + ', `--aux-root`)')
        lines.append(f'- Auxiliary images of {", ".join(mixing)}: {aux}.')
    if 'knn' in plan.protocols:
        lines.append(
            '- k-NN: KNNEvalHook (k = 20, T = 0.07) on the encoder as it '
            'enters the downstream stages; memory bank = the train subset, '
            'queries = the test split, both with the test pipeline.')
    if plan.args.recalibrate_bn:
        lines.append(
            '- BatchNorm statistics re-estimated on clean target train '
            'images before the linear probe and k-NN, for every method '
            '(`--recalibrate-bn`, BNRecalibrationHook).')
    return lines


def plot_bars(path: str,
              records: List[dict],
              methods: Sequence[str],
              title: str = '',
              deltas: Optional[dict] = None) -> None:
    """Top-1 per method, the protocols run (fine-tune per label fraction,
    linear probe, k-NN) side by side, error bars = sample std over seeds;
    with ``deltas`` (:func:`~.comparison.compare`) a second panel of each
    method's top-1 difference to MixSSL with its 95 % interval. A PNG at
    ``path``."""
    import matplotlib
    matplotlib.use('Agg')  # no display: only files are written
    import matplotlib.pyplot as plt

    present = [m for m in methods if any(r['method'] == m for r in records)]
    protos = present_protocols(records)
    shown = has_fractions(protos)
    # room for every protocol's bar and a wrapped method name per method
    width_in = max(6.0, (0.3 * len(protos) + 0.5) * len(present) + 1.5)
    if deltas:
        fig, (ax, ax_delta) = plt.subplots(
            2, 1, figsize=(width_in, 7.5), height_ratios=[4, 3])
    else:
        fig, ax = plt.subplots(figsize=(width_in, 4))
    width = 0.76 / len(protos)
    for i, proto in enumerate(protos):
        label = protocol_title(proto, shown)
        means, stds = [], []
        for m in present:
            mean, std = mean_std(_top1s(records, m, proto))
            means.append(mean if mean is not None else 0.0)
            stds.append(std or 0.0)
        xs = [
            j + (i - (len(protos) - 1) / 2) * width
            for j in range(len(present))
        ]
        bars = ax.bar(xs, means, width, yerr=stds, capsize=3, label=label)
        for b, v, s in zip(bars, means, stds):
            if v:
                ax.annotate(
                    f'{v:.1f}', (b.get_x() + b.get_width() / 2, v + s),
                    ha='center',
                    va='bottom',
                    fontsize=7,
                    xytext=(0, 2),
                    textcoords='offset points')
    ax.set_xticks(range(len(present)))
    ax.set_xticklabels([_wrap(method_name(m)) for m in present], fontsize=8)
    ax.set_ylabel('test top-1 accuracy (%)')
    ax.set_ylim(0, 105)
    if title:
        ax.set_title(title, fontsize=9)
    if deltas:
        draw_deltas(
            ax_delta,
            deltas,
            lambda m: _wrap(method_name(m)),
            colors={
                p: f'C{i}'
                for i, p in enumerate(protos)
            })
    # one legend for both panels (same colour per protocol), below them;
    # the tight bounding box keeps it and long labels inside the image
    handles, labels = ax.get_legend_handles_labels()
    fig.tight_layout()
    fig.legend(
        handles,
        labels,
        loc='upper center',
        frameon=False,
        ncol=min(len(protos), max(1, int(width_in // 3.2))),
        bbox_to_anchor=(0.5, 0.0),
        fontsize=8)
    fig.savefig(path, dpi=120, bbox_inches='tight')
    plt.close(fig)


def _wrap(name: str) -> str:
    """A method name in lines of at most 14 characters (tick labels)."""
    return textwrap.fill(name, 14)


def draw_deltas(ax,
                comparison: dict,
                name_fn,
                reference_name: str = 'MixSSL',
                colors: Optional[dict] = None) -> None:
    """The plot's second panel: each method's top-1 difference (k-NN's
    own top-1 for k-NN) to the reference per protocol, with its interval as
    an error bar and its value written beside it; a hollow marker when the
    interval contains 0 (within noise). ``colors``: protocol ->
    matplotlib colour (default: ``C0``, ``C1``, ... in ``comparison``'s
    order), so that both panels colour a protocol alike."""
    protos = list(comparison)
    methods = []
    for rows in comparison.values():
        methods += [m for m in rows if m not in methods]
    width = 0.8 / max(len(protos), 1)
    for i, proto in enumerate(protos):
        color = (colors or {}).get(proto, f'C{i}')
        for j, m in enumerate(methods):
            iv = comparison[proto].get(m, {}).get(TOP1[base_protocol(proto)])
            if iv is None or np.isnan(iv.low):
                continue
            x = j + (i - (len(protos) - 1) / 2) * width
            ax.errorbar([x], [iv.delta],
                        yerr=[[iv.delta - iv.low], [iv.high - iv.delta]],
                        fmt='o',
                        color=color,
                        capsize=3,
                        mfc='white' if within_noise(iv) else color)
            ax.annotate(
                f'{iv.delta:+.1f}', (x, iv.delta),
                ha='left',
                va='center',
                fontsize=7,
                color=color,
                xytext=(4, 0),
                textcoords='offset points')
    ax.axhline(0.0, color='0.4', lw=0.8)
    # a slot of width 1 per method, as in the bar panel: without it the
    # axis shrinks to the points, which then sit at the panel's edges, away
    # from their method's label
    ax.set_xlim(-0.5, max(len(methods), 1) - 0.5)
    ax.set_xticks(range(len(methods)))
    ax.set_xticklabels([name_fn(m) for m in methods], fontsize=8)
    ax.set_ylabel(f'Δ top-1 vs {reference_name} (points)')
    ax.set_title(
        f'difference to {reference_name}, 95 % CI; hollow: '
        'within noise',
        fontsize=8)


def design_section(records: List[dict],
                   methods: Sequence[str],
                   comparison: 'OrderedDict',
                   digits: int = 2) -> List[str]:
    """results.md's design-choices section: MixSSL and each design variant
    with results, a variant's cell ``top-1 (Δ [low, high])`` from
    ``comparison`` (:func:`~.comparison.compare`); ``[]`` without
    variants."""
    variants = [
        m for m in methods
        if METHODS[m].get('design') and any(r['method'] == m for r in records)
    ]
    if not variants:
        return []
    protos = ordered_protocols(r['protocol'] for r in records)
    shown = has_fractions(protos)
    seeds = sorted({r['seed'] for r in records})

    def cell(m, proto):
        vals = _top1s(records, m, proto)
        if not vals:
            return '–'
        text = fmt_mean_std(vals, digits)
        iv = comparison.get(proto, {}).get(m,
                                           {}).get(TOP1[base_protocol(proto)])
        return text + (f' ({fmt_interval(iv, digits)})'
                       if m != REFERENCE else '')

    rows = [['paper\'s reading of each', METHODS[REFERENCE]['name']] +
            [cell(REFERENCE, p) for p in protos]]
    rows += [[METHODS[m]['design'], METHODS[m]['name']] +
             [cell(m, p) for p in protos] for m in variants]
    return [
        '## Design choices — MixSSL with one open choice changed', '',
        'Top-1 accuracy (%), mean ± std over seeds '
        f'{" ".join(map(str, seeds))}; in brackets the paired difference '
        'to MixSSL (the paper\'s reading of every choice) and its 95 % '
        'interval, as in "Δ vs MixSSL" (≈: the interval contains 0, within '
        'noise). The choices: configs/mixssl/design_choices/README.md.', '',
        *md_table(
            ['Choice', 'Config'] + [protocol_title(p, shown)
                                    for p in protos], rows), ''
    ]


def subsets_section(subsets: Sequence, work_dir: str) -> List[str]:
    """results.md's record of the label subsets
    (:class:`~.planning.LabelSubset`): fraction, seed, images per class,
    the index file and its hash."""
    if not subsets:
        return []
    pool = subsets[0].pool_counts
    rows = [['100 % (pool)', '–', sum(pool), *pool, '–']] + [[
        f'{percent(s.fraction)} %', s.seed,
        len(s.indices), *s.counts,
        f'`{osp.relpath(s.record_path(work_dir), work_dir)}` '
        f'(`{s.sha256[:12]}`)'
    ] for s in subsets]
    return [
        '## Label fractions', '',
        'Fine-tuning on a class-stratified fraction of the training labels '
        '(scikit-learn `train_test_split(stratify=...)`, at least one image '
        'per class), drawn once per seed and the same for every method, '
        'with the optimizer steps of the full fine-tune. Indices: positions '
        'in the train split after the class filter, listed in the file.', '',
        *md_table(['Fraction', 'Seed', 'Images'] +
                  [c.replace('_', ' ')
                   for c in subsets[0].classes] + ['Indices (SHA-256)'], rows,
                  (0, -1)), ''
    ]


def write_results(plan, records: List[dict], stage_seconds: float) -> None:
    """Rewrite results.md / .csv / .png and deltas.csv in the work dir of
    ``plan`` from the records so far."""
    work = plan.work_dir
    missing = missing_runs(records, plan.methods, plan.seeds, plan.protocols)
    positive = (f'the positive class {plan.task.classes[plan.positive]}'
                if plan.positive is not None else 'the positive class')
    deltas = compare(records, plan.methods)
    md = render_markdown(
        records,
        plan.methods,
        header_lines(plan, stage_seconds),
        missing,
        positive_class=positive,
        sections=design_section(records, plan.methods, deltas) +
        delta_section(deltas, method_name) +
        subsets_section(plan.fraction_stages.subsets(), work))
    with open(osp.join(work, 'results.md'), 'w') as f:
        f.write(md + '\n')
    write_csv(osp.join(work, 'results.csv'), records)
    write_rows(osp.join(work, 'deltas.csv'), delta_rows(deltas, method_name))
    if records:
        plot_bars(
            osp.join(work, 'results.png'),
            records,
            plan.methods,
            title=f'{plan.target.name}, preset {plan.preset_name}, '
            f'{plan.num_classes} classes, seeds '
            f'{" ".join(map(str, plan.seeds))}',
            deltas=deltas)


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
    """The console's last lines: the top-1 summary and every file the run
    wrote (:data:`RESULT_FILES` present, the generated ``inputs``
    counted)."""
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
