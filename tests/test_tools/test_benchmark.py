"""Tests of tools/benchmark.py: the table / aggregation code on hand values,
the generated commands, and the ``tiny`` preset end to end (real BloodMNIST,
real mm runs, then a re-run that must skip every stage)."""
import csv
import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'benchmark.py'
DATA = REPO / 'data' / 'medmnist' / 'bloodmnist.npz'


@pytest.fixture(scope='module')
def bench():
    spec = importlib.util.spec_from_file_location('benchmark_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _metrics(acc, classes, pc=None, auc=90.0):
    pc = pc if pc is not None else [acc] * len(classes)
    m = {
        'accuracy/top1': acc,
        'single-label/precision': acc - 1,
        'single-label/recall': acc - 2,
        'single-label/f1-score': acc - 3,
    }
    for c, v in zip(classes, pc):
        m[f'per_class_accuracy/{c}'] = v
    m['per_class_accuracy/mean'] = sum(pc) / len(pc)
    m['roc_auc'] = auc
    return m


CLASSES = ['eosinophil', 'lymphocyte', 'monocyte', 'neutrophil']


def _records():
    recs = []
    for seed, (a, b) in enumerate([(80.0, 60.0), (82.0, 64.0)]):
        recs.append(dict(method='mixssl', protocol='finetune', seed=seed,
                         metrics=_metrics(a, CLASSES,
                                          [a, a - 10, a + 10, a])))
        recs.append(dict(method='rand', protocol='finetune', seed=seed,
                         metrics=_metrics(b, CLASSES)))
        recs.append(dict(method='mixssl', protocol='linear', seed=seed,
                         metrics=_metrics(b, CLASSES)))
    return recs


# --------------------------------------------------------------------------
# aggregation and formatting
# --------------------------------------------------------------------------
def test_mean_std_is_sample_std(bench):
    mean, std = bench.mean_std([1.0, 2.0, 3.0])
    assert mean == pytest.approx(2.0) and std == pytest.approx(1.0)
    assert bench.mean_std([5.0]) == (5.0, None)
    assert bench.mean_std([]) == (None, None)
    # NaN (a class absent from the test set) and None are left out
    assert bench.mean_std([float('nan'), 4.0, None, 6.0])[0] == 5.0


def test_fmt_mean_std(bench):
    assert bench.fmt_mean_std([85.0, 87.0]) == '86.00 ± 1.41'
    assert bench.fmt_mean_std([10.0, 10.0]) == '10.00 ± 0.00'
    assert bench.fmt_mean_std([72.3149]) == '72.31'
    assert bench.fmt_mean_std([]) == '–'
    assert bench.fmt_mean_std([float('nan')]) == '–'
    assert bench.fmt_mean_std([1, 2, 3, 4], digits=1) == '2.5 ± 1.3'


def test_tables_have_table1_and_table2_layout(bench):
    tables = bench.build_tables(_records(), ['mixssl', 'rand'])
    assert set(tables) == {
        'table1_finetune', 'table2_finetune', 'table1_linear',
        'table2_linear'
    }
    t1 = tables['table1_finetune']
    assert t1[0] == ('| Method | eosinophil | lymphocyte | monocyte | '
                     'neutrophil | Average |')
    # MixSSL: seeds 80 / 82 -> per class [a, a-10, a+10, a]
    assert t1[2] == ('| MixSSL (n=2) | 81.00 ± 1.41 | 71.00 ± 1.41 | '
                     '91.00 ± 1.41 | 81.00 ± 1.41 | 81.00 ± 1.41 |')
    assert t1[3].startswith('| Rand (n=2) | 62.00 ± 2.83 |')
    t2 = tables['table2_finetune']
    assert t2[0] == ('| Method | Precision | Recall | F1 | ROC-AUC | '
                     'Accuracy |')
    assert t2[2] == ('| MixSSL (n=2) | 80.00 ± 1.41 | 79.00 ± 1.41 | '
                     '78.00 ± 1.41 | 90.00 ± 0.00 | 81.00 ± 1.41 |')
    # Rand has no linear-probe record: no row there
    assert len(tables['table1_linear']) == 3
    assert 'Rand' not in '\n'.join(tables['table2_linear'])


def test_render_markdown_lists_unfinished(bench):
    md = bench.render_markdown(_records(), ['mixssl', 'rand'], ['# T'],
                               missing=['Rand linear probe, seed 0'])
    assert md.startswith('# T')
    assert '## Table 1' in md and '## Table 2' in md
    assert '### Fine-tune' in md and '### Linear probe' in md
    assert '- Rand linear probe, seed 0' in md


def test_csv_one_row_per_method_protocol_seed(bench, tmp_path):
    path = tmp_path / 'r.csv'
    bench.write_csv(str(path), _records())
    rows = list(csv.DictReader(open(path)))
    assert len(rows) == 6
    assert rows[0]['method'] == 'MixSSL' and rows[0]['protocol'] == 'finetune'
    assert float(rows[0]['accuracy']) == 80.0
    assert float(rows[0]['acc_lymphocyte']) == 70.0
    assert {'precision', 'recall', 'f1', 'roc_auc', 'mean_class_accuracy'
            } <= set(rows[0])


def test_plot_writes_png(bench, tmp_path):
    path = tmp_path / 'r.png'
    bench.plot_bars(str(path), _records(), ['mixssl', 'rand'], title='t')
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_table3_rows_follow_objectives(bench):
    recs = []
    for seed, (t, r, rt) in enumerate([(70.0, 80.0, 90.0),
                                        (72.0, 84.0, 92.0)]):
        for m, v in (('mixssl_t', t), ('mixssl_r', r), ('mixssl', rt)):
            recs.append(dict(method=m, protocol='finetune', seed=seed,
                             metrics=_metrics(v, CLASSES)))
    recs.append(dict(method='rand', protocol='finetune', seed=0,
                     metrics=_metrics(50.0, CLASSES)))
    t3 = bench.build_table3(recs, ['rand', 'mixssl_t', 'mixssl_r',
                                   'mixssl', 'mixssl_rc'])
    assert t3[0] == ('| Objective | Loss | Fine-tune top-1 | '
                     'Linear probe top-1 |')
    assert t3[2] == '| T | L_trans | 71.00 ± 1.41 (n=2) | – |'
    assert t3[3] == '| R | L_rec | 82.00 ± 2.83 (n=2) | – |'
    assert t3[4].startswith('| R+T (MixSSL) | L_rec + γ·L_trans | '
                            '91.00 ± 1.41 (n=2) |')
    assert len(t3) == 5  # Rand is no objective; R+C has no results
    md = bench.render_markdown(recs, ['mixssl_t', 'mixssl_r', 'mixssl'])
    assert '## Table 3' in md
    # a single objective is nothing to compare: no Table 3
    assert bench.build_table3(recs, ['mixssl', 'rand']) == []
    assert '## Table 3' not in bench.render_markdown(recs, ['mixssl'])


def test_method_groups_expand_in_order(bench):
    assert bench.expand_methods(['mixssl', 'rand']) == ['mixssl', 'rand']
    assert bench.expand_methods(['ablations']) == [
        'mixssl_t', 'mixssl_r', 'mixssl', 'mixssl_rc', 'mixssl_ra'
    ]
    # CLI spelling with dashes; duplicates once
    assert bench.expand_methods(['mixup-simclr', 'builtin', 'mixssl']) == [
        'mixup_simclr', 'mixssl', 'simclr', 'mocov2', 'byol', 'rand'
    ]
    table1 = bench.expand_methods(['table1'])
    assert len(table1) == 9 and table1[-1] == 'mixssl'
    assert 'imagenet_self' not in bench.METHOD_GROUPS['all']
    with pytest.raises(SystemExit, match='unknown method .simclr2.'):
        bench.expand_methods(['simclr2'])
    for key, m in bench.METHODS.items():
        if m['config']:
            assert (REPO / m['config']).is_file(), key


def test_linear_probe_normalises_features_and_gets_channels(bench):
    args = bench.parse_args(['--preset', 'cpu-small', '--methods', 'rand'])
    b = bench.Benchmark(args)
    opts = b.downstream_train_options('linear', 0, None)
    assert opts['model.neck.1.input_features'] == 512
    assert opts['model.head.in_channels'] == 512
    cfg = bench.load_config(b.downstream['linear'])
    assert [n['type'] for n in cfg.model.neck] == [
        'GlobalAveragePooling', 'ClsBatchNormNeck'
    ]
    assert 'model.neck.1.input_features' not in b.downstream_train_options(
        'finetune', 0, None)


def test_imagenet_self_needs_a_converted_checkpoint(bench, tmp_path):
    with pytest.raises(SystemExit, match='--imagenet-ckpt'):
        bench.Benchmark(bench.parse_args(['--methods', 'imagenet-self']))
    with pytest.raises(SystemExit, match='no such file'):
        bench.Benchmark(bench.parse_args([
            '--methods', 'imagenet-self', '--imagenet-ckpt',
            str(tmp_path / 'missing.pth')
        ]))


def test_bad_jobs_and_missing_configs_are_refused(bench, monkeypatch):
    with pytest.raises(SystemExit, match='--jobs must be >= 1, got 0'):
        bench.Benchmark(bench.parse_args(['--methods', 'rand', '--jobs', '0']))
    entry = dict(bench.METHODS['mixssl'], config='configs/nowhere.py')
    monkeypatch.setitem(bench.METHODS, 'mixssl', entry)
    with pytest.raises(SystemExit, match='configs/nowhere.py is missing'):
        bench.Benchmark(bench.parse_args(['--methods', 'mixssl']))


# --------------------------------------------------------------------------
# cfg-options generation
# --------------------------------------------------------------------------
def test_cfg_option_values_round_trip_through_mmengine(bench):
    from mmengine.config import DictAction
    import argparse
    opts = {'a': None, 'b': [1, 4, 5, 6], 'c': (32, 32), 'd': 1e-3,
            'e': 'x/y.pth', 'f': False}
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    parsed = parser.parse_args(['--o'] + bench.to_cfg_options(opts)).o
    assert parsed == opts


def test_resolution_options_reach_nested_pipelines(bench):
    cfg = dict(train_dataloader=dict(dataset=dict(pipeline=[
        dict(type='RandomResizedCrop', scale=224),
        dict(type='MultiView', transforms=[[
            dict(type='RandomResizedCrop', scale=224)]]),
        dict(type='CrossDomainMixup', aux_dataset=dict(pipeline=[
            dict(type='RandomResizedCrop', scale=224)])),
        # DINO's local views keep their ratio to the full size
        dict(type='MultiView', transforms=[[
            dict(type='RandomResizedCrop', scale=96)]]),
    ])), test_dataloader=dict(dataset=dict(pipeline=[
        dict(type='Resize', scale=(224, 224))])))
    opts = bench.resolution_options(cfg, 32)
    assert opts == {
        'train_dataloader.dataset.pipeline.0.scale': 32,
        'train_dataloader.dataset.pipeline.1.transforms.0.0.scale': 32,
        'train_dataloader.dataset.pipeline.2.aux_dataset.pipeline.0.scale':
        32,
        'train_dataloader.dataset.pipeline.3.transforms.0.0.scale': 14,
        'test_dataloader.dataset.pipeline.0.scale': (32, 32),
    }
    assert bench.scaled_size(96, 64) == 27
    assert bench.scaled_size(256, 64) == 64


def test_presets_are_consistent(bench):
    assert bench.preset_names() == ['tiny', 'cpu-small', 'gpu-paper']
    for name, p in bench.PRESETS.items():
        assert set(p['methods']) <= set(bench.METHODS), name
        if p['img_size']:
            assert p['img_size'] % 32 == 0, name  # MixSSL needs it
        q = p['method_options'].get('mocov2', {}).get('model.queue_len')
        if q:
            assert q % p['batch_size'] == 0, name
    assert bench.PRESETS['gpu_paper']['depth'] == 50
    assert bench.PRESETS['gpu_paper']['pretrain_epochs'] == 20
    assert bench.PRESETS['gpu_paper']['finetune_epochs'] == 20
    assert bench.PRESETS['gpu_paper']['batch_size'] == 64
    assert {'mixssl', 'rand'} <= set(bench.PRESETS['tiny']['methods'])
    assert len(bench.PRESETS['cpu_small']['seeds']) >= 2


def test_dry_run_plans_every_stage(tmp_path):
    out = subprocess.run(
        [sys.executable, str(TOOL), '--preset', 'cpu-small', '--dry-run',
         '--work-dir', str(tmp_path), '--seeds', '0', '--classes', '8'],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    log = out.stdout
    # 4 pretrained methods x (pretrain + 2 x (train + test)) + Rand x 4
    assert '24 stages' in log
    assert log.count('would run') == 24
    for cfg in ('simclr_resnet50_1xb64-20e_bloodmnist.py',
                'mocov2_resnet50_1xb64-20e_bloodmnist.py',
                'byol_resnet50_1xb64-20e_bloodmnist.py',
                'mixssl_resnet50_1xb64-20e_bloodmnist.py',
                'resnet50_1xb64-20e_bloodmnist_linear-probe.py',
                'resnet50_1xb64-20e_bloodmnist_finetune.py'):
        assert cfg in log, cfg
    assert 'randomness.seed=0' in log
    assert 'model.backbone.init_cfg.checkpoint=' in log
    assert 'model.backbone.init_cfg=None' in log  # Rand
    assert 'classes_subset' not in log  # --classes 8
    assert not os.listdir(tmp_path)  # nothing run, nothing written


# --------------------------------------------------------------------------
# end to end
# --------------------------------------------------------------------------
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
    assert '## Table 1' in md and '## Table 2' in md
    for name in ('MixSSL (n=1)', 'Rand (n=1)'):
        assert md.count(f'| {name} |') == 4, name  # 2 tables x 2 protocols
    assert '| Method | eosinophil | lymphocyte | monocyte | neutrophil | ' \
        'Average |' in md

    rows = list(csv.DictReader(open(work / 'results.csv')))
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
