"""mixssl_mm.benchmark.report on hand-made records: Tables 1-3 (per label
fraction too), results.md, results.csv and the header."""
import csv

from mixssl_mm.benchmark.cli import parse_benchmark_args
from mixssl_mm.benchmark.planning import Plan
from mixssl_mm.benchmark.report import (header_lines, missing_runs, plot_bars,
                                        render_markdown, write_csv)

CLASSES = ['eosinophil', 'lymphocyte', 'monocyte', 'neutrophil']


def _metrics(acc, per_class=None):
    """A test stage's metrics.json: macro metrics 1-3 points under the
    top-1 ``acc``, ROC-AUC 90, per-class accuracies (default all ``acc``)."""
    per_class = per_class or [acc] * len(CLASSES)
    m = {
        'accuracy/top1': acc,
        'single-label/precision': acc - 1,
        'single-label/recall': acc - 2,
        'single-label/f1-score': acc - 3,
    }
    m.update({
        f'per_class_accuracy/{c}': v
        for c, v in zip(CLASSES, per_class)
    })
    m['per_class_accuracy/mean'] = sum(per_class) / len(per_class)
    m['roc_auc'] = 90.0
    return m


def _record(method, protocol, seed, acc, per_class=None):
    return dict(
        method=method,
        protocol=protocol,
        seed=seed,
        metrics=_metrics(acc, per_class))


def _records():
    recs = []
    for seed, (a, b) in enumerate([(80.0, 60.0), (82.0, 64.0)]):
        recs += [
            _record('mixssl', 'finetune', seed, a, [a, a - 10, a + 10, a]),
            _record('rand', 'finetune', seed, b),
            _record('mixssl', 'linear', seed, b)
        ]
    return recs


def _tables(md):
    """``{(section, protocol title or None): table lines}`` of a
    results.md; a section by its heading up to ' — ' ('Table 1')."""
    tables, section, title = {}, None, None
    for line in md.splitlines():
        if line.startswith('## '):
            section, title = line[3:].split(' — ')[0], None
        elif line.startswith('### '):
            title = line[4:]
        elif line.startswith('|'):
            tables.setdefault((section, title), []).append(line)
    return tables


TRAINED = {(t, p)
           for t in ('Table 1', 'Table 2')
           for p in ('Fine-tune', 'Linear probe')}


def test_tables_have_table1_and_table2_layout():
    tables = _tables(render_markdown(_records(), ['mixssl', 'rand']))
    assert set(tables) == {('Top-1 accuracy by protocol (%)', None), *TRAINED}
    t1 = tables['Table 1', 'Fine-tune']
    assert t1[0] == ('| Method | eosinophil | lymphocyte | monocyte | '
                     'neutrophil | Average |')
    assert t1[1] == '|---|:-:|:-:|:-:|:-:|:-:|'
    # MixSSL: seeds 80 / 82 -> per class [a, a-10, a+10, a]
    assert t1[2] == ('| MixSSL (n=2) | 81.00 ± 1.41 | 71.00 ± 1.41 | '
                     '91.00 ± 1.41 | 81.00 ± 1.41 | 81.00 ± 1.41 |')
    assert t1[3].startswith('| Rand (n=2) | 62.00 ± 2.83 |')
    t2 = tables['Table 2', 'Fine-tune']
    assert t2[0] == ('| Method | Precision | Recall | F1 | ROC-AUC | '
                     'Accuracy |')
    assert t2[2] == ('| MixSSL (n=2) | 80.00 ± 1.41 | 79.00 ± 1.41 | '
                     '78.00 ± 1.41 | 90.00 ± 0.00 | 81.00 ± 1.41 |')
    # Rand has no linear-probe record: no row there
    assert len(tables['Table 1', 'Linear probe']) == 3
    assert 'Rand' not in '\n'.join(tables['Table 2', 'Linear probe'])


def test_render_markdown_orders_sections_and_lists_unfinished():
    md = render_markdown(
        _records(), ['mixssl', 'rand'], ['# T'],
        missing=['Rand linear probe, seed 0'])
    assert md.startswith('# T\n\nAll values are percentages')
    order = [
        md.index(s)
        for s in ('## Table 1', '### Fine-tune', '### Linear probe',
                  '## Table 2', '## Not finished')
    ]
    assert order == sorted(order)
    assert md.count('### Fine-tune') == 2 and '## Table 3' not in md
    assert md.endswith('- Rand linear probe, seed 0\n')


def test_missing_runs_in_plan_order():
    recs = [_record('mixssl', 'finetune', 0, 80.0)]
    assert missing_runs(
        recs, ['mixssl', 'rand'], [0, 1], ['finetune', 'linear']) == [
            'MixSSL linear probe, seed 0', 'Rand fine-tune, seed 0',
            'Rand linear probe, seed 0', 'MixSSL fine-tune, seed 1',
            'MixSSL linear probe, seed 1', 'Rand fine-tune, seed 1',
            'Rand linear probe, seed 1'
        ]


def test_csv_one_row_per_method_protocol_seed(tmp_path):
    path = tmp_path / 'r.csv'
    write_csv(str(path), _records())
    rows = list(csv.DictReader(open(path)))
    assert len(rows) == 6
    assert list(rows[0])[:9] == [
        'method', 'protocol', 'seed', 'precision', 'recall', 'f1', 'roc_auc',
        'accuracy', 'mean_class_accuracy'
    ]
    assert rows[0]['method'] == 'MixSSL' and rows[0]['protocol'] == 'finetune'
    assert rows[0]['accuracy'] == '80.0000'
    assert float(rows[0]['acc_lymphocyte']) == 70.0
    write_csv(str(path), [])
    assert path.read_text().strip() == 'method'


def test_table3_rows_follow_objectives():
    recs = []
    for seed, (t, r, rt) in enumerate([(70.0, 80.0, 90.0),
                                       (72.0, 84.0, 92.0)]):
        recs += [
            _record(m, 'finetune', seed, v)
            for m, v in (('mixssl_t', t), ('mixssl_r', r), ('mixssl', rt))
        ]
    recs.append(_record('rand', 'finetune', 0, 50.0))
    t3 = _tables(
        render_markdown(
            recs, ['rand', 'mixssl_t', 'mixssl_r', 'mixssl', 'mixssl_rc'
                   ]))['Table 3', None]
    assert t3[0] == ('| Objective | Loss | Fine-tune top-1 | '
                     'Linear probe top-1 |')
    assert t3[2] == '| T | L_trans | 71.00 ± 1.41 (n=2) | – |'
    assert t3[3] == '| R | L_rec | 82.00 ± 2.83 (n=2) | – |'
    assert t3[4].startswith('| R+T (MixSSL) | L_rec + γ·L_trans | '
                            '91.00 ± 1.41 (n=2) |')
    assert len(t3) == 5  # Rand is no objective; R+C has no results
    assert '## Table 3' in render_markdown(recs,
                                           ['mixssl_t', 'mixssl_r', 'mixssl'])
    # a single objective is nothing to compare: no Table 3
    assert '## Table 3' not in render_markdown(recs, ['mixssl', 'rand'])
    assert '## Table 3' not in render_markdown(recs, ['mixssl'])


def test_header_describes_the_plan(repo_cwd):
    argv = [
        '--preset', 'tiny', '--methods', 'rand', '--jobs', '2', '--threads',
        '3', '--downstream-cfg-options', 'a=1'
    ]
    lines = header_lines(Plan(parse_benchmark_args(argv)), 90.0)
    assert lines[0] == '# Benchmark results — BloodMNIST, preset `tiny`'
    assert ('- Task: all 8 classes: basophil, eosinophil, erythroblast, '
            'immature granulocyte, lymphocyte, monocyte, neutrophil, '
            'platelet; data BloodMNIST (`bloodmnist.npz`, MedMNIST .npz).'
            ) in lines
    assert '- Start: every method from random weights.' in lines
    # the recipe, the held-out protocol, crops, linear probe, Rand's start
    text = '\n'.join(lines)
    assert 'Recipe `fair` (the default), the same for every method and ' \
        'stage: AdamW (weight decay 0.05' in text
    assert '- Held-out protocol: every score is on the official test split ' \
        '(3421 images), seen by no training stage; the validation split ' \
        'is not used' in text
    assert 'keep at least 0.33 of the image area' in text
    assert '- Linear probe: trained and tested on clean views' in text
    assert "- Rand: the encoder a pretraining stage starts from" in text
    paper = header_lines(
        Plan(
            parse_benchmark_args(
                ['--preset', 'tiny', '--recipe', 'paper', '--classes', '4'])),
        0.0)
    assert 'Recipe `paper` (`--recipe paper`)' in '\n'.join(paper)
    assert '(1817 images)' in '\n'.join(paper)
    assert ('- CPU threads per run (OMP_NUM_THREADS): 3; runs at a time: '
            '2.') in lines
    assert '- Extra downstream cfg-options (override the above): `a=1`' \
        in lines
    assert not any('Extra pretraining' in line for line in lines)
    assert lines[-2].startswith('- Time: the finished stages took 1.5 min')
    assert lines[-1] == ('- Command: `python tools/benchmark.py --preset '
                         'tiny --methods rand --jobs 2 --threads 3 '
                         '--downstream-cfg-options a=1`')


def _binary(acc, p, r):
    m = _metrics(acc)
    m.update({
        'binary/precision': p,
        'binary/recall': r,
        'binary/f1-score': 2 * p * r / (p + r),
        'binary/roc_auc': 91.0,
        'binary/accuracy': acc
    })
    return m


def test_binary_task_table2_is_the_positive_class(tmp_path):
    recs = [
        dict(
            method='mixssl',
            protocol=proto,
            seed=0,
            metrics=_binary(80.0, 60.0, 90.0))
        for proto in ('finetune', 'linear')
    ]
    t2 = _tables(render_markdown(recs, ['mixssl']))['Table 2', 'Linear probe']
    assert t2[0] == '| Method | Precision | Recall | F1 | ROC-AUC | Accuracy |'
    assert t2[2] == '| MixSSL (n=1) | 60.00 | 90.00 | 72.00 | 91.00 | 80.00 |'
    md = render_markdown(
        recs, ['mixssl'], positive_class='the positive class CIN2+')
    assert ('## Table 2 — precision / recall / F1 of the positive class '
            'CIN2+, ROC-AUC of its score and accuracy (%)') in md
    write_csv(str(tmp_path / 'r.csv'), recs)
    row = next(csv.DictReader(open(tmp_path / 'r.csv')))
    assert (row['pos_precision'], row['pos_recall'],
            row['pos_f1']) == ('60.0000', '90.0000', '72.0000')


def test_knn_is_a_third_top1_column(tmp_path):
    recs = _records() + [
        dict(method=m, protocol='knn', seed=s, metrics={'knn/top1': v})
        for m, s, v in (('mixssl', 0, 70.0), ('mixssl', 1, 72.0),
                        ('rand', 0, 50.0))
    ]
    md = render_markdown(recs, ['mixssl', 'rand'])
    top1 = md[md.index('## Top-1 accuracy by protocol'):md.index('## Table 1')]
    assert '| Method | Fine-tune | Linear probe | k-NN |' in top1
    assert ('| MixSSL | 81.00 ± 1.41 (n=2) | 62.00 ± 2.83 (n=2) | '
            '71.00 ± 1.41 (n=2) |') in top1
    assert '| Rand | 62.00 ± 2.83 (n=2) | – | 50.00 (n=1) |' in top1
    # the per-class and macro tables stay per trained protocol
    assert set(_tables(md)) == {('Top-1 accuracy by protocol (%)', None),
                                *TRAINED}
    write_csv(str(tmp_path / 'r.csv'), recs)
    knn = [
        r for r in csv.DictReader(open(tmp_path / 'r.csv'))
        if r['protocol'] == 'knn'
    ]
    assert [r['accuracy'] for r in knn] == ['70.0000', '72.0000', '50.0000']
    plot_bars(str(tmp_path / 'r.png'), recs, ['mixssl', 'rand'])
    assert (tmp_path / 'r.png').read_bytes()[:4] == b'\x89PNG'


def test_label_fractions_get_their_tables_in_order():
    recs = _records() + [
        _record('mixssl', 'finetune_10pct', 0, 50.0),
        _record('rand', 'finetune_1pct', 0, 40.0)
    ]
    md = render_markdown(
        recs, ['mixssl', 'rand'], ['# T'],
        missing=['x'],
        sections=['## Extra', ''])
    titles = [line for line in md.splitlines() if line.startswith('### ')]
    assert titles[:4] == [
        '### Fine-tune, 1 % of the labels',
        '### Fine-tune, 10 % of the labels',
        '### Fine-tune, 100 % of the labels', '### Linear probe'
    ]
    assert titles[4:] == titles[:4]  # Table 2's
    assert md.index('## Extra') < md.index('## Not finished')
    assert '| Method | Fine-tune, 1 % of the labels | Fine-tune, 10 % of ' \
        'the labels | Fine-tune, 100 % of the labels | Linear probe |' in md
    assert missing_runs(recs, ['rand'], [0], ['finetune_10pct']) == [
        'Rand fine-tune, 10 % of the labels, seed 0'
    ]
