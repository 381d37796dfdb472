"""tools/benchmark.py end to end: the ``tiny`` preset (real BloodMNIST,
real mm runs, two chains at a time) with a 10 % label fraction and the
paired intervals to MixSSL, then a re-run that must skip every stage; and
on generated image folders: a binary task (Kaggle layout, an
auxiliary folder, the positive class by name, BatchNorm re-estimation;
linear probe and k-NN) and a multi-class one (ImageNet layout; fine-tune
and k-NN). The package's parts are tested in
tests/test_benchmark/."""
import csv
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests._helpers.image_folders import write_split_folders

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'benchmark.py'
DATA = REPO / 'data' / 'medmnist' / 'bloodmnist.npz'


def _run_tiny(work_dir, *argv):
    start = time.time()
    out = subprocess.run(
        # one thread per run: CI cores are often shared, and oversubscribed
        # OpenMP threads slow a run down far more than one thread does;
        # two chains at a time exercise the parallel runner
        [
            sys.executable,
            str(TOOL), '--preset', 'tiny', '--threads', '1', '--jobs', '2',
            '--work-dir',
            str(work_dir), *argv
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900)
    return out, time.time() - start


def _run_ok(work_dir, stages: int, label: str, *argv):
    """A run that must finish all ``stages``; its output and results.md."""
    out, secs = _run_tiny(work_dir, *argv)
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-5000:]
    # 2 CPU cores: the BloodMNIST run < 3 minutes when the machine is idle
    print(f'{label}: {secs:.0f}s')
    assert f'{stages} stages run, 0 skipped, 0 failed' in out.stdout
    return out, (work_dir / 'results.md').read_text()


def _headings(md):
    return [line for line in md.splitlines() if line.startswith('#')]


@pytest.mark.skipif(
    not DATA.exists(),
    reason='needs data/medmnist/bloodmnist.npz '
    '(python tools/data/fetch_bloodmnist.py)')
def test_tiny_preset_end_to_end_and_resume(tmp_path):
    work = tmp_path / 'bench'
    # the paper's 4-class task (the default is 8): the test's own size
    fractions = ('--label-fractions', '0.1', '1.0', '--classes', '4')
    out, md = _run_ok(work, 15, 'tiny preset', *fractions)
    assert '- Held-out protocol: every score is on the official test ' \
        'split (1817 images)' in md
    assert (work / 'rand_start' / 'seed0' / 'encoder' /
            'backbone.pth').is_file()
    trained = [
        '### Fine-tune, 10 % of the labels',
        '### Fine-tune, 100 % of the labels', '### Linear probe'
    ]
    assert _headings(md) == [
        '# Benchmark results — BloodMNIST, preset `tiny`',
        '## Top-1 accuracy by protocol (%)',
        '## Table 1 — per-class test accuracy (%)', *trained,
        '## Table 2 — macro precision / recall / F1, ROC-AUC (one-vs-rest, '
        'macro) and top-1 accuracy (%)', *trained, '## Δ vs MixSSL [95 % CI]',
        *trained, '## Label fractions'
    ]
    for name in ('MixSSL (n=1)', 'Rand (n=1)'):
        assert md.count(f'| {name} |') == 6, name  # 2 tables x 3 protocols
    assert '| Method | Fine-tune, 10 % of the labels | Fine-tune, 100 % of ' \
        'the labels | Linear probe | k-NN |' in md
    # Rand minus MixSSL, paired by test image (one seed): a summary and a
    # per-class table per trained protocol; k-NN has no per-image results
    rand = [
        line for line in md.splitlines()
        if line.startswith('| Rand | bootstrap, 1817 images, seed 0 |')
    ]
    assert len(rand) == 6
    assert all(
        re.search(r'[+-]\d+\.\d\d \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\]', line)
        for line in rand)
    assert 'No interval for Rand (k-NN)' in md
    deltas = list(csv.DictReader(open(work / 'deltas.csv')))
    assert {r['protocol']
            for r in deltas} == {'finetune_10pct', 'finetune', 'linear'}
    for r in deltas:
        assert r['method'] == 'Rand' and r['kind'] == 'bootstrap'
        assert float(r['low']) <= float(r['delta']) <= float(r['high'])
        assert r['within_noise'] == str(
            float(r['low']) <= 0 <= float(r['high']))
    # the 10 % subset: 13 of the first 128 train images, every class
    record = json.loads(
        (work / 'label_fractions' / 'seed0_10pct.json').read_text())
    assert len(record['indices']) == sum(record['counts']) == 13
    assert min(record['counts']) >= 1 and sum(record['pool_counts']) == 128
    assert (f"| 10 % | 0 | 13 | {' | '.join(map(str, record['counts']))} | "
            f"`label_fractions/seed0_10pct.json` "
            f"(`{record['sha256'][:12]}`) |") in md
    for m in ('mixssl', 'rand'):
        assert (work / m / 'seed0' / 'finetune_10pct_test' /
                'predictions.pkl').is_file()
    assert '| Method | eosinophil | lymphocyte | monocyte | neutrophil | ' \
        'Average |' in md

    rows = list(csv.DictReader(open(work / 'results.csv')))
    assert list(rows[0]) == [
        'method', 'protocol', 'seed', 'precision', 'recall', 'f1', 'roc_auc',
        'accuracy', 'mean_class_accuracy', 'acc_eosinophil', 'acc_lymphocyte',
        'acc_monocyte', 'acc_neutrophil'
    ]
    assert {(r['method'], r['protocol'])
            for r in rows} == {(m, p)
                               for m in ('MixSSL', 'Rand')
                               for p in ('finetune_10pct', 'finetune',
                                         'linear', 'knn')}
    for r in rows:
        assert 0 <= float(r['accuracy']) <= 100
        if r['protocol'] == 'knn':
            continue
        for key in ('accuracy', 'precision', 'recall', 'f1', 'roc_auc',
                    'acc_eosinophil'):
            v = float(r[key])
            assert 0.0 <= v <= 100.0 and not math.isnan(v), (key, r)

    png = (work / 'results.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 5000

    # each stage is a normal mm run with its own work dir
    pre = work / 'mixssl' / 'seed0' / 'pretrain'
    assert (pre / 'last_checkpoint').exists()
    ft = json.loads(
        (work / 'mixssl' / 'seed0' / 'finetune' / 'done.json').read_text())
    assert 'model.backbone.init_cfg.checkpoint=' in ft['command']
    assert str(pre) in ft['command']
    assert not (work / 'rand' / 'seed0' / 'pretrain').exists()
    metrics = json.loads(
        (work / 'rand' / 'seed0' / 'linear_test' / 'metrics.json').read_text())
    assert 'accuracy/top1' in metrics and 'roc_auc' in metrics

    # re-run: every stage is skipped, results are rewritten
    done = sorted(work.glob('*/seed0/*/done.json'))
    assert len(done) == 15
    stamps = [p.stat().st_mtime for p in done]
    out2, _ = _run_tiny(work, *fractions)
    assert out2.returncode == 0, out2.stdout[-3000:] + out2.stderr[-3000:]
    assert '0 stages run, 15 skipped, 0 failed' in out2.stdout
    assert out2.stdout.count('done before, skipped') == 15
    assert [p.stat().st_mtime for p in done] == stamps
    assert (work / 'results.md').read_text() == md


def test_image_folders_binary_with_aux_folder_and_multi_class(tmp_path):
    """The same tool on generated image folders: a binary task in the
    Kaggle blood-cell layout with an auxiliary folder (MixSSL and Rand,
    linear probe and k-NN, BatchNorm re-estimation), then a 3-class
    ImageNet-style folder (Rand, fine-tune and k-NN): between them every
    protocol's stages on image folders, without training each twice."""
    cells = write_split_folders(
        tmp_path / 'blood-cell' / 'dataset2-master' / 'images',
        ['EOSINOPHIL', 'NEUTROPHIL'], dict(TRAIN=24, TEST=6))
    aux = write_split_folders(
        tmp_path / 'imagenette' / 'train', ['n01440764', 'n02102040'],
        {'.': 6},
        seed=3)
    work = tmp_path / 'binary'
    out, md = _run_ok(work, 7, 'binary image folders', '--data-root', cells,
                      '--aux-root', aux, '--positive-class', 'EOSINOPHIL',
                      '--recalibrate-bn', '--protocols', 'linear', 'knn')
    assert _headings(md) == [
        '# Benchmark results — dataset2-master, preset `tiny`',
        '## Top-1 accuracy by protocol (%)',
        '## Table 1 — per-class test accuracy (%)', '### Linear probe',
        '## Table 2 — precision / recall / F1 of the positive class '
        'EOSINOPHIL, ROC-AUC of its score and accuracy (%)',
        '### Linear probe', '## Δ vs MixSSL [95 % CI]', '### Linear probe'
    ]
    # the positive class's metrics get paired intervals too
    assert re.search(
        r'\| Method \| Interval \| Accuracy \|.* \| '
        r'F1 \(positive\) \|', md)
    assert '| Method | EOSINOPHIL | NEUTROPHIL | Average |' in md
    assert '- Binary task, positive class: EOSINOPHIL (index 0' in md
    assert f'- Auxiliary images of MixSSL: `{aux}` (12 images, 2 classes' \
        in md
    assert '(`--recalibrate-bn`, BNRecalibrationHook)' in md
    rows = list(csv.DictReader(open(work / 'results.csv')))
    assert {'pos_precision', 'pos_recall', 'pos_f1'} <= set(rows[0])
    metrics = json.loads((work / 'mixssl' / 'seed0' / 'linear_test' /
                          'metrics.json').read_text())
    p, r = metrics['binary/precision'], metrics['binary/recall']
    assert metrics['binary/f1-score'] == pytest.approx(2 * p * r /
                                                       (p + r) if p +
                                                       r else 0.0)
    pre = (work / 'mixssl' / 'seed0' / 'pretrain' / 'stage.log').read_text()
    assert 'CrossDomainMixup' in pre and aux in pre
    knn = (work / 'rand' / 'seed0' / 'knn' / 'stage.log').read_text()
    assert 'BNRecalibrationHook: 20 BatchNorm layers' in knn
    assert 'k-NN (k=20, T=0.07) top-1' in knn and '(bank 48, queries 12' \
        in knn
    assert (work / 'results.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

    three = write_split_folders(tmp_path / 'cells', ['a', 'b', 'c'],
                                dict(train=10, val=2, test=4))
    out, md = _run_ok(tmp_path / 'multi', 3, '3-class image folders',
                      '--data-root', three, '--methods', 'rand', '--protocols',
                      'finetune', 'knn', '--num-classes', '3')
    assert '| Method | a | b | c | Average |' in md
    assert '## Table 2 — macro precision' in md
    assert '- Task: all 3 classes: a, b, c; data cells' in md
    rand, = [line for line in md.splitlines() if line.startswith('| Rand |')]
    assert rand.count('(n=1)') == 2  # fine-tune and k-NN; no linear probe
    assert '### Fine-tune' in md and '### Linear probe' not in md
