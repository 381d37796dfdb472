# Copyright (c) mixssl_mm contributors. All rights reserved.
"""REPORTS: results.md, results.csv, deltas.csv, results.png and the
console's closing lines from the *records* so far, each ``dict(method=
<METHODS key>, protocol=<protocol key>, seed=int, metrics=<the test stage's
metrics.json>)`` (k-NN's: ``{'knn/top1': value}``); mean ± std over seeds,
intervals from :mod:`.comparison`."""
import csv
import math
import os.path as osp
import shlex
import textwrap
from typing import List, Optional, Sequence

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

# metrics.json key -> (results.csv column, Table 2 header)
MACRO_METRICS = {
    'single-label/precision': ('precision', 'Precision'),
    'single-label/recall': ('recall', 'Recall'),
    'single-label/f1-score': ('f1', 'F1'),
    'roc_auc': ('roc_auc', 'ROC-AUC'),
    'accuracy/top1': ('accuracy', 'Accuracy'),
}
# a binary task's Table 2: PositiveClassMetric's values, same headers (the
# first three are also results.csv's pos_<column>)
BINARY_METRICS = dict(
    zip(('binary/precision', 'binary/recall', 'binary/f1-score',
         'binary/roc_auc', 'binary/accuracy'), MACRO_METRICS.values()))
TOP1 = dict(finetune='accuracy/top1', linear='accuracy/top1', knn='knn/top1')
# what write_results writes into the work dir, in the order named
RESULT_FILES = (
    ('results.md', 'the tables: per-class accuracy, macro metrics, '
     'differences to MixSSL'),
    ('results.csv', 'one row per method x protocol x seed'),
    ('deltas.csv', 'each method\'s difference to MixSSL with its interval'),
    ('results.png', 'top-1 per method and protocol; differences to MixSSL'),
)


def method_name(key: str) -> str:
    """METHODS key -> display name (an unknown key is shown as is)."""
    return METHODS[key]['name'] if key in METHODS else key


def _by(records: List[dict]) -> dict:
    """``{(method, protocol): its records in seed order}``."""
    by = {}
    for r in sorted(records, key=lambda r: r['seed']):
        by.setdefault((r['method'], r['protocol']), []).append(r)
    return by


def _vals(recs: List[dict], key: Optional[str] = None) -> list:
    """The values of ``key`` (default: the protocol's top-1) in ``recs``."""
    return [
        r['metrics'].get(key or TOP1[base_protocol(r['protocol'])])
        for r in recs
    ]


def _top1_delta(comparison: dict, proto: str, method: str):
    """The Interval of ``method``'s top-1 difference to MixSSL, or None."""
    row = comparison.get(proto, {}).get(method, {})
    return row.get(TOP1[base_protocol(proto)])


def _titles(protos: Sequence[str], suffix: str = '') -> List[str]:
    return [protocol_title(p, has_fractions(protos)) + suffix for p in protos]


def present_protocols(records: List[dict]) -> List[str]:
    """Fine-tune and linear probe, and the label fractions and k-NN when a
    record has them, in report order."""
    return ordered_protocols(
        list(TRAINED_PROTOCOLS) + [r['protocol'] for r in records])


def build_top1_table(records: List[dict],
                     methods: Sequence[str],
                     first=lambda m: [method_name(m)],
                     header: Sequence[str] = ('Method', ),
                     suffix: str = '') -> List[str]:
    """A row per method with records and ``first(method)`` (its leading
    cells, default its name; None: no row), then its top-1 per
    :func:`present_protocols`, ``'85.31 ± 1.20 (n=3)'`` (mean ± std over
    seeds, the seed count)."""
    by, protos = _by(records), present_protocols(records)

    def cell(vals):
        n = len(finite(vals))
        return fmt_mean_std(vals) + (f' (n={n})' if n else '')

    rows = [
        first(m) + [cell(_vals(by.get((m, p), []))) for p in protos]
        for m in methods
        if any(r['method'] == m for r in records) and first(m) is not None
    ]
    return md_table([*header] + _titles(protos, suffix), rows)


def _objective(m: str) -> Optional[List[str]]:
    """Table 3's leading cells of a MixSSL objective (None: not one)."""
    obj = METHODS.get(m, {}).get('objective')
    if obj is not None:
        name = f'{obj} ({METHODS[m]["name"]})' if obj == 'R+T' else obj
        return [name, OBJECTIVE_LOSSES[obj]]


def render_markdown(
    records: List[dict],
    methods: Sequence[str],
    header_lines: Sequence[str] = (),
    missing: Sequence[str] = (),
    positive_class: str = 'the positive class',
    sections: Sequence[str] = ()
) -> str:
    """The whole results.md: ``header_lines``, top-1 by protocol, Table 1
    (a column per class and their average), Table 2 (macro metrics, or the
    positive class's for a binary task) per trained protocol, Table 3 (the
    paper's MixSSL objectives, with two or more of them), the lines of
    further ``sections`` and the ``missing`` (unfinished) runs;
    ``positive_class`` names a binary task's positive class."""
    seeds = ' '.join(map(str, sorted({r['seed'] for r in records})))
    out = list(header_lines) + [
        '', 'All values are percentages on the official test split, mean ± '
        f'sample std over seeds {seeds or "–"} (n = number of seeds '
        'finished; a single seed shows no std).', ''
    ]
    if records:
        out += [
            '## Top-1 accuracy by protocol (%)', '',
            *build_top1_table(records, methods), ''
        ]
    binary = any('binary/f1-score' in r['metrics'] for r in records)
    classes = dict.fromkeys(
        c for r in records for c in class_keys(r['metrics']))
    table1 = {PER_CLASS_PREFIX + c: c.replace('_', ' ') for c in classes}
    table1[PER_CLASS_MEAN] = 'Average'
    table2 = {
        k: header
        for k, (_, header) in (
            BINARY_METRICS if binary else MACRO_METRICS).items()
    }
    trained = [
        p for p in present_protocols(records)
        if base_protocol(p) in TRAINED_PROTOCOLS
    ]
    by = _by(records)
    what = (f'precision / recall / F1 of {positive_class}, ROC-AUC of '
            'its score and accuracy' if binary else
            'macro precision / recall / F1, ROC-AUC (one-vs-rest, macro) '
            'and top-1 accuracy')
    for head, cols in (([
            '## Table 1 — per-class test accuracy (%)', '',
            '"Average" is the unweighted mean of the class '
            'accuracies (balanced accuracy).'
    ], table1), ([f'## Table 2 — {what} (%)'], table2)):
        out += head + ['']
        for proto, title in zip(trained, _titles(trained)):
            rows = [[f'{method_name(m)} (n={len(by[m, proto])})'] +
                    [fmt_mean_std(_vals(by[m, proto], k)) for k in cols]
                    for m in methods if (m, proto) in by]
            if rows:
                out += [
                    f'### {title}', '',
                    *md_table(['Method', *cols.values()], rows), ''
                ]
    table3 = build_top1_table(records, methods, _objective,
                              ['Objective', 'Loss'], ' top-1')
    if len(table3) >= 4:  # 2 header lines + 2 objectives
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


def header_lines(plan, stage_seconds: float) -> List[str]:
    """results.md's header: the settings of ``plan`` (a
    :class:`~mixssl_mm.benchmark.planning.Plan`) and the summed time of the
    finished stages."""
    p, args, t, task = plan.preset, plan.args, plan.target, plan.task
    names = ', '.join(task.classes)
    if task.paper == '4':
        classes = ('4 classes (BloodMNIST labels 1, 4, 5, 6: the paper '
                   f'task): {names}')
    elif task.num_classes == len(t.classes):
        classes = f'all {task.num_classes} classes: {names}'
    else:
        classes = (f'{task.num_classes} of its {len(t.classes)} classes '
                   f'(ids {task.ids}): {names}')
    where = t.path if t.kind == 'folder' else osp.basename(t.path)
    lines = [
        f'# Benchmark results — {t.name}, preset `{plan.preset_name}`', '',
        f'- Task: {classes}; data {t.name} (`{where}`, {t.layout}).'
    ]
    if plan.positive is not None:
        lines.append(
            f'- Binary task, positive class: {task.classes[plan.positive]} '
            f'(index {plan.positive}; `--positive-class`).')
    subset = (f'first {p["train_subset"]} train images'
              if p['train_subset'] else 'the full train split')
    lines.append(f'- Encoder: ResNet-{p["depth"]}, '
                 f'{p["img_size"] or "config (224)"} px, batch '
                 f'{p["batch_size"]}; pretraining and downstream training on '
                 f'{subset}.')
    for m, enc in plan.encoders.items():
        b = enc['backbone']  # a config's own, non-ResNet encoder
        arch = f' {b["arch"]}' if isinstance(b.get('arch'), str) else ''
        lines.append(
            f'- {METHODS[m]["name"]}: its config\'s own encoder, '
            f'{b["type"]}{arch} ({enc["channels"]} channels, stride '
            f'{enc["stride"]} px), not the ResNet, in pretraining and every '
            'downstream stage (decoder and heads fitted to it).')
    if plan.recipe == 'paper':
        recipe = ('Recipe `paper` (`--recipe paper`): the shipped configs\' '
                  'constant Adam with L2 weight decay (1e-4; linear probe 0), '
                  'for every method.')
    else:
        recipe = (
            f'Recipe `fair` (the default), the same for every method and '
            f'stage: AdamW (weight decay {WEIGHT_DECAY:g}, none on BatchNorm '
            f'and biases; linear probe 0), linear warm-up over the first '
            f'{WARMUP_FRACTION:.0%} of the steps, cosine decay to 0; '
            f'`zero_init_residual={ZERO_INIT_RESIDUAL}` in every ResNet '
            'encoder.')
    pretrain_lr = ('1e-4 (config)' if plan.recipe == 'paper' else
                   p['pretrain_lr'] or '1e-4 (config)')
    n_test = sum(t.counts['test'][i] for i in task.ids)
    held_out = ('the official test split'
                if t.kind == 'npz' else 'the test folder')
    lines += [
        f'- Pretraining: {p["pretrain_epochs"]} epochs, peak lr '
        f'{pretrain_lr}; fine-tune: {p["finetune_epochs"]} epochs, lr 1e-4; '
        f'linear probe: {p["linear_epochs"]} epochs, lr 1e-3. {recipe}',
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
         'see below' if args.recalibrate_bn else '') + '), for every method.'
    ]
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
        elif not args.aux_root:
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
    if args.recalibrate_bn:
        lines.append(
            '- BatchNorm statistics re-estimated on clean target train '
            'images before the linear probe and k-NN, for every method '
            '(`--recalibrate-bn`, BNRecalibrationHook).')
    below = [f for f in plan.fraction_stages.fractions if f < 1.0]
    if below:
        lines.append('- Label fractions: fine-tune also on ' +
                     ', '.join(f'{percent(f)} %' for f in below) +
                     ' of the training labels (see "Label fractions").')
    lines.append(f'- CPU threads per run (OMP_NUM_THREADS): '
                 f'{plan.threads or "torch default"}; runs at a time: '
                 f'{plan.jobs}.')
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
    """results.csv: one row per record, the columns of
    :data:`MACRO_METRICS` (k-NN's top-1 as ``accuracy``), a binary task's
    ``pos_precision`` / ``pos_recall`` / ``pos_f1``, the mean class
    accuracy and ``acc_<class>``."""
    rows = []
    for r in records:
        m = r['metrics']
        row = dict(
            method=method_name(r['method']),
            protocol=r['protocol'],
            seed=r['seed'])
        row.update({col: m.get(k) for k, (col, _) in MACRO_METRICS.items()})
        if r['protocol'] == 'knn':
            row['accuracy'] = m.get(TOP1['knn'])
        for k, (col, _) in list(BINARY_METRICS.items())[:3]:
            if k in m:
                row['pos_' + col] = m[k]
        row['mean_class_accuracy'] = m.get(PER_CLASS_MEAN)
        row.update(
            {f'acc_{c}': m.get(PER_CLASS_PREFIX + c)
             for c in class_keys(m)})
        rows.append(row)
    write_rows(path, rows)


def write_rows(path: str, rows: List[dict]) -> None:
    """A CSV of dict rows; floats with 4 decimals; the columns are the
    union over rows, in first-seen order."""
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=fields or ['method'])
        writer.writeheader()
        writer.writerows({
            k: (f'{v:.4f}' if isinstance(v, float) else v)
            for k, v in row.items()
        } for row in rows)


def plot_bars(path: str,
              records: List[dict],
              methods: Sequence[str],
              title: str = '',
              deltas: Optional[dict] = None) -> None:
    """A PNG at ``path``: top-1 per method, the protocols side by side,
    error bars = sample std over seeds; with ``deltas``
    (:func:`~.comparison.compare`) a second panel of each method's top-1
    difference to MixSSL with its 95 % interval (:func:`draw_deltas`)."""
    import matplotlib
    matplotlib.use('Agg')  # no display: only files are written
    import matplotlib.pyplot as plt

    by, protos = _by(records), present_protocols(records)
    present = [m for m in methods if any(r['method'] == m for r in records)]
    # room for every protocol's bar and a wrapped method name per method
    width_in = max(6.0, (0.3 * len(protos) + 0.5) * len(present) + 1.5)
    if deltas:
        fig, (ax, ax_delta) = plt.subplots(
            2, 1, figsize=(width_in, 7.5), height_ratios=[4, 3])
        draw_deltas(ax_delta, deltas, _wrap, {
            p: f'C{i}'
            for i, p in enumerate(protos)
        })
    else:
        fig, ax = plt.subplots(figsize=(width_in, 4))
    width = 0.76 / len(protos)
    for i, (proto, label) in enumerate(zip(protos, _titles(protos))):
        stats = [mean_std(_vals(by.get((m, proto), []))) for m in present]
        means = [0.0 if mean is None else mean for mean, _ in stats]
        bars = ax.bar(
            _xs(i, len(protos), len(present), width),
            means,
            width,
            yerr=[std or 0.0 for _, std in stats],
            capsize=3,
            label=label)
        # at the top of the error bar; none on an empty bar
        ax.bar_label(
            bars, [f'{v:.1f}' if v else '' for v in means],
            padding=2,
            fontsize=7)
    ax.set_xticks(range(len(present)))
    ax.set_xticklabels([_wrap(m) for m in present], fontsize=8)
    ax.set_ylabel('test top-1 accuracy (%)')
    ax.set_ylim(0, 105)
    if title:
        ax.set_title(title, fontsize=9)
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


def _xs(i: int, count: int, slots: int, width: float) -> List[float]:
    """The x of protocol ``i`` of ``count`` in each method's slot."""
    return [j + (i - (count - 1) / 2) * width for j in range(slots)]


def _wrap(method: str) -> str:
    """A method's name in lines of at most 14 characters (tick labels)."""
    return textwrap.fill(method_name(method), 14)


def draw_deltas(ax, comparison: dict, name_fn, colors: Optional[dict] = None):
    """The plot's second panel: each method's top-1 difference (k-NN's for
    k-NN) to MixSSL per protocol, its interval as an error bar and its value
    beside it; a hollow marker when the interval contains 0 (within noise).
    ``colors``: protocol -> matplotlib colour (default ``C0``, ``C1``, ...
    in ``comparison``'s order), so that both panels colour a protocol
    alike."""
    methods = list(
        dict.fromkeys(m for rows in comparison.values() for m in rows))
    for i, proto in enumerate(comparison):
        color = (colors or {}).get(proto, f'C{i}')
        xs = _xs(i, len(comparison), len(methods),
                 0.8 / max(len(comparison), 1))
        for x, m in zip(xs, methods):
            iv = _top1_delta(comparison, proto, m)
            if iv is None or math.isnan(iv.low):
                continue
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
    # axis shrinks to the points, away from their method's label
    ax.set_xlim(-0.5, max(len(methods), 1) - 0.5)
    ax.set_xticks(range(len(methods)))
    ax.set_xticklabels([name_fn(m) for m in methods], fontsize=8)
    ax.set_ylabel('Δ top-1 vs MixSSL (points)')
    ax.set_title(
        'difference to MixSSL, 95 % CI; hollow: within noise', fontsize=8)


def design_section(records: List[dict], methods: Sequence[str],
                   comparison: dict) -> List[str]:
    """results.md's design-choices section: MixSSL and each design variant
    with results, a variant's cell ``top-1 (Δ [low, high])`` from
    ``comparison`` (:func:`~.comparison.compare`); ``[]`` without
    variants."""
    by = _by(records)
    protos = ordered_protocols(r['protocol'] for r in records)
    variants = [
        m for m in methods
        if METHODS[m].get('design') and any(k[0] == m for k in by)
    ]
    if not variants:
        return []

    def cell(m, proto):
        if (m, proto) not in by:
            return '–'
        top1 = fmt_mean_std(_vals(by[m, proto]))
        if m == REFERENCE:
            return top1
        return f'{top1} ({fmt_interval(_top1_delta(comparison, proto, m))})'

    rows = [[choice, METHODS[m]['name']] + [cell(m, p) for p in protos]
            for choice, m in [('paper\'s reading of each', REFERENCE)] +
            [(METHODS[m]['design'], m) for m in variants]]
    return [
        '## Design choices — MixSSL with one open choice changed', '',
        'Top-1 accuracy (%), mean ± std over seeds '
        f'{" ".join(map(str, sorted({r["seed"] for r in records})))}; in '
        'brackets the paired difference to MixSSL (the paper\'s reading of '
        'every choice) and its 95 % interval, as in "Δ vs MixSSL" (≈: the '
        'interval contains 0, within noise). The choices: '
        'configs/mixssl/design_choices/README.md.', '',
        *md_table(['Choice', 'Config'] + _titles(protos), rows), ''
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
    header = ['Fraction', 'Seed', 'Images'
              ] + [c.replace('_', ' ')
                   for c in subsets[0].classes] + ['Indices (SHA-256)']
    return [
        '## Label fractions', '',
        'Fine-tuning on a class-stratified fraction of the training labels '
        '(scikit-learn `train_test_split(stratify=...)`, at least one image '
        'per class), drawn once per seed and the same for every method, '
        'with the optimizer steps of the full fine-tune. Indices: positions '
        'in the train split after the class filter, listed in the file.', '',
        *md_table(header, rows, (0, -1)), ''
    ]


def write_results(plan, records: List[dict], stage_seconds: float) -> None:
    """Rewrite :data:`RESULT_FILES` in the work dir of ``plan`` from the
    records so far."""
    work = plan.work_dir
    positive = (f'the positive class {plan.task.classes[plan.positive]}'
                if plan.positive is not None else 'the positive class')
    deltas = compare(records, plan.methods)
    md = render_markdown(
        records,
        plan.methods,
        header_lines(plan, stage_seconds),
        missing_runs(records, plan.methods, plan.seeds, plan.protocols),
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
    lines += [
        f'  {osp.join(work_dir, name)}  {what}' for name, what in RESULT_FILES
        if osp.isfile(osp.join(work_dir, name))
    ]
    if inputs:
        lines.append(f'  and {len(inputs)} generated stage inputs '
                     '(configs, image lists) next to the stages, named '
                     'above as "wrote ..."')
    return lines
