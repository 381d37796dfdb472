"""tools/benchmark.py end to end: the ``tiny`` preset (real BloodMNIST,
real mm runs, two chains at a time), then a re-run that must skip every
stage. The package's parts are tested in tests/test_benchmark/."""
import csv
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'benchmark.py'
DATA = REPO / 'data' / 'medmnist' / 'bloodmnist.npz'


def _run_tiny(work_dir):
    start = time.time()
    out = subprocess.run(
        # one thread per run: CI cores are often shared, and oversubscribed
        # OpenMP threads slow a run down far more than one thread does;
        # two chains at a time exercise the parallel runner
        [sys.executable, str(TOOL), '--preset', 'tiny', '--threads', '1',
         '--jobs', '2', '--work-dir', str(work_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=900)
    return out, time.time() - start


@pytest.mark.skipif(
    not DATA.exists(),
    reason='needs data/medmnist/bloodmnist.npz '
    '(python tools/data/fetch_bloodmnist.py)')
def test_tiny_preset_end_to_end_and_resume(tmp_path):
    work = tmp_path / 'bench'
    out, secs = _run_tiny(work)
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-5000:]
    # 2 CPU cores: < 3 minutes when the machine is not shared
    print(f'tiny preset: {secs:.0f}s')
    assert '9 stages run, 0 skipped, 0 failed' in out.stdout

    md = (work / 'results.md').read_text()
    assert [line for line in md.splitlines() if line.startswith('#')] == [
        '# Benchmark results — preset `tiny`',
        '## Table 1 — per-class test accuracy (%)', '### Fine-tune',
        '### Linear probe',
        '## Table 2 — macro precision / recall / F1, ROC-AUC (one-vs-rest, '
        'macro) and top-1 accuracy (%)', '### Fine-tune', '### Linear probe'
    ]
    for name in ('MixSSL (n=1)', 'Rand (n=1)'):
        assert md.count(f'| {name} |') == 4, name  # 2 tables x 2 protocols
    assert '| Method | eosinophil | lymphocyte | monocyte | neutrophil | ' \
        'Average |' in md

    rows = list(csv.DictReader(open(work / 'results.csv')))
    assert list(rows[0]) == [
        'method', 'protocol', 'seed', 'precision', 'recall', 'f1', 'roc_auc',
        'accuracy', 'mean_class_accuracy', 'acc_eosinophil',
        'acc_lymphocyte', 'acc_monocyte', 'acc_neutrophil'
    ]
    assert {(r['method'], r['protocol']) for r in rows} == {
        ('MixSSL', 'finetune'), ('MixSSL', 'linear'), ('Rand', 'finetune'),
        ('Rand', 'linear')
    }
    for r in rows:
        for key in ('accuracy', 'precision', 'recall', 'f1', 'roc_auc',
                    'acc_eosinophil'):
            v = float(r[key])
            assert 0.0 <= v <= 100.0 and not math.isnan(v), (key, r)

    png = (work / 'results.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 5000

    # each stage is a normal mm run with its own work dir
    pre = work / 'mixssl' / 'seed0' / 'pretrain'
    assert (pre / 'last_checkpoint').exists()
    ft = json.loads((work / 'mixssl' / 'seed0' / 'finetune' /
                     'done.json').read_text())
    assert 'model.backbone.init_cfg.checkpoint=' in ft['command']
    assert str(pre) in ft['command']
    assert not (work / 'rand' / 'seed0' / 'pretrain').exists()
    metrics = json.loads((work / 'rand' / 'seed0' / 'linear_test' /
                          'metrics.json').read_text())
    assert 'accuracy/top1' in metrics and 'roc_auc' in metrics

    # re-run: every stage is skipped, results are rewritten
    done = sorted(work.glob('*/seed0/*/done.json'))
    assert len(done) == 9
    stamps = [p.stat().st_mtime for p in done]
    out2, secs2 = _run_tiny(work)
    assert out2.returncode == 0, out2.stdout[-3000:] + out2.stderr[-3000:]
    assert '0 stages run, 9 skipped, 0 failed' in out2.stdout
    assert out2.stdout.count('done before, skipped') == 9
    assert [p.stat().st_mtime for p in done] == stamps
    assert (work / 'results.md').read_text() == md
    assert secs2 < 60
