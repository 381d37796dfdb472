"""tools/analysis_tools/benchmark_throughput.py end to end: runs in both
modes on CPU with tiny settings and writes valid JSON / Markdown with all
three methods. The package's parts: tests/test_benchmark/."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'analysis_tools' / 'benchmark_throughput.py'
DATA = REPO / 'data' / 'medmnist' / 'bloodmnist.npz'
TINY = [
    '--device', 'cpu', '--depth', '18', '--size', '32', '--batch', '4',
    '--iters', '2', '--warmup', '1'
]


def test_both_modes_all_three_methods_json_and_markdown(tmp_path):
    if not DATA.exists():
        pytest.skip('fetch the data first: '
                    'python tools/data/fetch_bloodmnist.py')
    out, md = tmp_path / 'r.json', tmp_path / 'r.md'
    proc = subprocess.run([
        sys.executable,
        str(TOOL), *TINY, '--num-workers', '1', '--out',
        str(out), '--md',
        str(md)
    ],
                          cwd=str(REPO),
                          capture_output=True,
                          text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    # the run is described as the tool's command line
    assert json.loads(out.read_text())['environment']['command'].startswith(
        'python tools/analysis_tools/benchmark_throughput.py --device cpu')
    result = json.loads(out.read_text())
    rows = result['results']
    assert [(r['key'], r['mode'])
            for r in rows] == [(m, mode) for mode in ('synthetic', 'pipeline')
                               for m in ('mixssl', 'simclr', 'mocov2')]
    for r in rows:
        assert (r['depth'], r['batch'], r['size']) == (18, 4, 32)
        assert 0 < r['step_ms_min'] <= r['step_ms_median'] <= r['step_ms_max']
        assert r['samples_per_s'] == pytest.approx(4 /
                                                   (r['step_ms_median'] / 1e3))
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
        f'{mode}/mixssl_over_{b}'
        for mode in ('synthetic', 'pipeline')
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


def test_amp_on_a_cpu_times_bf16_through_the_cpu_amp_fix(tmp_path):
    """--amp on a CPU: the tool applies compat's cpu-amp fix, so mmengine's
    AmpOptimWrapper runs bf16 autocast (stock mmengine 0.10.7 asserts CUDA;
    the tool used to refuse --amp on a CPU)."""
    out = tmp_path / 'r.json'
    proc = subprocess.run([
        sys.executable,
        str(TOOL), *TINY, '--modes', 'synthetic', '--methods', 'mixssl',
        '--amp', '--mixssl-options', 'model.neck.n_blocks=1',
        'model.neck.ngf=16', '--out',
        str(out)
    ],
                          cwd=str(REPO),
                          capture_output=True,
                          text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (row, ) = json.loads(out.read_text())['results']
    assert row['optim_wrapper'] == 'AmpOptimWrapper'
    assert row['dtype'] == 'torch.bfloat16'
    assert row['loss'] == row['loss']
