"""tools/analysis_tools/benchmark_throughput.py: runs in both modes on CPU
with tiny settings and writes valid JSON / Markdown with all three methods;
its config plumbing (crop size, channels, MoCo queue) and its levers."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'analysis_tools' / 'benchmark_throughput.py'
DATA = REPO / 'data' / 'medmnist' / 'bloodmnist.npz'
TINY = ['--device', 'cpu', '--depth', '18', '--size', '32', '--batch', '4',
        '--iters', '2', '--warmup', '1']


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('benchmark_throughput',
                                                  TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_both_modes_all_three_methods_json_and_markdown(tmp_path):
    if not DATA.exists():
        pytest.skip('fetch the data first: '
                    'python tools/data/fetch_bloodmnist.py')
    out, md = tmp_path / 'r.json', tmp_path / 'r.md'
    proc = subprocess.run(
        [sys.executable, str(TOOL), *TINY, '--num-workers', '1',
         '--out', str(out), '--md', str(md)],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(out.read_text())
    rows = result['results']
    assert [(r['key'], r['mode']) for r in rows] == [
        (m, mode) for mode in ('synthetic', 'pipeline')
        for m in ('mixssl', 'simclr', 'mocov2')
    ]
    for r in rows:
        assert (r['depth'], r['batch'], r['size']) == (18, 4, 32)
        assert 0 < r['step_ms_min'] <= r['step_ms_median'] <= r['step_ms_max']
        assert r['samples_per_s'] == pytest.approx(
            4 / (r['step_ms_median'] / 1e3))
        assert r['peak_mem_mib'] >= 0 and r['mem_kind'].startswith('cpu')
        assert r['loss'] == r['loss']  # finite, checked by the tool too
        assert r['optim_wrapper'] == 'OptimWrapper'
        if r['mode'] == 'pipeline':
            assert r['num_workers'] == 1
            assert r['loader_samples_per_s'] > 0
            assert r['data_wait_ms_median'] >= 0
        else:
            assert 'loader_samples_per_s' not in r
    assert rows[0]['decoder'] == dict(res_channels=256, ngf=64, n_blocks=6)
    assert set(result['ratios']) == {
        f'{mode}/mixssl_over_{b}' for mode in ('synthetic', 'pipeline')
        for b in ('simclr', 'mocov2')
    }
    env = result['environment']
    assert env['device'] == 'cpu' and env['torch'] == torch.__version__
    assert len(result['load_before']) == 3
    text = md.read_text()
    for name in ('MixSSL', 'SimCLR', 'MoCo v2', 'synthetic', 'pipeline',
                 'loader alone', 'vs SimCLR', 'ResNet-18, batch 4, 32 px'):
        assert name in text
    table = [line for line in text.splitlines() if line.startswith('|')]
    assert len(table) == 2 + 6
    assert len({line.count('|') for line in table}) == 1
    assert 'MixSSL' in proc.stdout  # the table is printed too


def test_levers_run_through_the_tool(tool, tmp_path):
    """MixSSL alone with channels_last, fused Adam, the FLOP count and
    mmengine-style compile (eager backend: see test_mixssl_speed_levers)."""
    result = tool.main([
        *TINY, '--modes', 'synthetic', '--methods', 'mixssl',
        '--channels-last', '--fused', '--flops', '--compile',
        '--compile-backend', 'eager', '--mixssl-options',
        'model.neck.n_blocks=1', 'model.neck.ngf=32',
        '--md', str(tmp_path / 'r.md')
    ])
    (row, ) = result['results']
    assert row['channels_last'] is True and row['fused'] is True
    assert row['compile'] == dict(backend='eager')
    assert row['decoder'] == dict(res_channels=256, ngf=32, n_blocks=1)
    assert row['gflop_per_step'] > 0
    assert result['ratios'] == {}
    text = (tmp_path / 'r.md').read_text()
    assert 'GFLOP/step' in text and 'model.neck.ngf' in text


def test_config_plumbing(tool):
    args = tool.parse_args([*TINY, '--batch', '48', '--num-workers', '0'])
    for key in ('mixssl', 'simclr', 'mocov2', 'byol'):
        cfg = tool.load_config(key, args)
        assert cfg.model.backbone.depth == 18
        assert cfg.model.neck.in_channels == 512
        assert cfg.train_dataloader.batch_size == 48
        assert cfg.train_dataloader.num_workers == 0
        assert cfg.train_dataloader.persistent_workers is False
        assert cfg.train_dataloader.pin_memory is False  # CPU run
        scales = []

        def crops(node):
            if isinstance(node, dict):
                if node.get('type') == 'RandomResizedCrop':
                    scales.append(node['scale'])
                for v in node.values():
                    crops(v)
            elif isinstance(node, list):
                for v in node:
                    crops(v)

        crops(cfg.train_dataloader.dataset.pipeline)
        # MixSSL: target and auxiliary views; BYOL: two pipelines
        assert scales and set(scales) == {32}, key
        if key == 'mixssl':
            assert len(scales) == 2
    # MoCo's queue must hold whole batches: 4096 -> 85 x 48
    assert tool.load_config('mocov2', args).model.queue_len == 4080


def test_bad_arguments_are_refused(tool):
    for argv in (['--size', '48'], ['--amp', '--device', 'cpu'],
                 ['--iters', '0']):
        with pytest.raises(SystemExit):
            tool.parse_args(argv)


def test_markdown_and_ratios_on_hand_rows(tool):
    def row(key, mode, ms, **extra):
        return dict(method=tool.METHODS[key]['name'], key=key, mode=mode,
                    step_ms_median=ms, step_ms_min=ms - 1,
                    step_ms_max=ms + 1, samples_per_s=32e3 / ms,
                    peak_mem_mib=100.0, mem_kind='cpu x', **extra)

    rows = [row('mixssl', 'synthetic', 60.0), row('simclr', 'synthetic',
                                                   100.0),
            row('mocov2', 'synthetic', 80.0),
            row('mixssl', 'pipeline', 90.0, loader_samples_per_s=500.0,
                data_wait_ms_median=3.0),
            row('simclr', 'pipeline', 120.0, loader_samples_per_s=400.0,
                data_wait_ms_median=1.0)]
    ratios = tool.ratios(rows)
    assert ratios == {
        'synthetic/mixssl_over_simclr': pytest.approx(0.6),
        'synthetic/mixssl_over_mocov2': pytest.approx(0.75),
        'pipeline/mixssl_over_simclr': pytest.approx(0.75)
    }
    args = vars(tool.parse_args(TINY))
    text = tool.markdown(dict(
        environment=dict(device='cpu', cpu='X', torch_threads=2),
        args=args, load_before=[1, 1, 1], load_after=[1, 1, 1],
        results=rows))
    assert '| MixSSL | synthetic | 60 | 59 | 61 | 533.3 | 0.60x | 100 |' \
        in text
    assert '| SimCLR | pipeline | 120 | 119 | 121 | 266.7 | 1.00x | 100 | ' \
        '1 | 400 |' in text
    assert '| MoCo v2 | synthetic | 80 | 79 | 81 | 400.0 | 0.80x | 100 | ' \
        '- | - |' in text


def test_loader_only(tool, tmp_path):
    if not DATA.exists():
        pytest.skip('fetch the data first: '
                    'python tools/data/fetch_bloodmnist.py')
    result = tool.main([*TINY, '--loader-only', '--methods', 'mixssl',
                        'simclr', '--num-workers', '0',
                        '--md', str(tmp_path / 'r.md')])
    rows = result['results']
    assert [(r['key'], r['mode']) for r in rows] == [('mixssl', 'pipeline'),
                                                     ('simclr', 'pipeline')]
    assert all(r['loader_samples_per_s'] > 0 and 'step_ms_median' not in r
               for r in rows)
    assert result['ratios'] == {}
    assert '| MixSSL | pipeline | - | - | - | - | - | - | - |' in \
        (tmp_path / 'r.md').read_text()


def test_repeats_pool_their_steps(tool):
    runs = [dict(method='MixSSL', key='mixssl', mode='pipeline',
                 step_ms=[10.0, 30.0], data_wait_ms=[1.0, 1.0],
                 loader_batch_ms=[4.0], peak_mem_mib=5.0),
            dict(method='MixSSL', key='mixssl', mode='pipeline',
                 step_ms=[20.0], data_wait_ms=[3.0], loader_batch_ms=[12.0],
                 peak_mem_mib=7.0)]
    row = tool.merge_repeats(runs, batch=4)
    assert row['step_ms'] == [10.0, 30.0, 20.0] and row['repeats'] == 2
    assert (row['step_ms_median'], row['step_ms_min'],
            row['step_ms_max']) == (20.0, 10.0, 30.0)
    assert row['samples_per_s'] == pytest.approx(200.0)
    assert row['data_wait_ms_median'] == 1.0
    assert row['loader_samples_per_s'] == pytest.approx(1e3 * 8 / 16)
    assert row['peak_mem_mib'] == 7.0
