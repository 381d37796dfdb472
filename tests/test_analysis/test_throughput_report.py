"""mixssl_mm.analysis.throughput_report on hand rows: statistics, pooled
repeats, ratios, the Markdown table and the output files."""
import json

import pytest

from mixssl_mm.analysis.throughput import MODES, parse_throughput_args
from mixssl_mm.analysis.throughput_report import (markdown, median_min_max,
                                                  merge_repeats, ratios,
                                                  write_outputs)


def _row(name, key, mode, ms, **extra):
    return dict(
        method=name,
        key=key,
        mode=mode,
        step_ms_median=ms,
        step_ms_min=ms - 1,
        step_ms_max=ms + 1,
        samples_per_s=32e3 / ms,
        peak_mem_mib=100.0,
        mem_kind='cpu x',
        **extra)


def test_markdown_and_ratios_on_hand_rows():
    rows = [
        _row('MixSSL', 'mixssl', 'synthetic', 60.0),
        _row('SimCLR', 'simclr', 'synthetic', 100.0),
        _row('MoCo v2', 'mocov2', 'synthetic', 80.0),
        _row(
            'MixSSL',
            'mixssl',
            'pipeline',
            90.0,
            loader_samples_per_s=500.0,
            data_wait_ms_median=3.0),
        _row(
            'SimCLR',
            'simclr',
            'pipeline',
            120.0,
            loader_samples_per_s=400.0,
            data_wait_ms_median=1.0)
    ]
    assert ratios(rows, MODES) == {
        'synthetic/mixssl_over_simclr': pytest.approx(0.6),
        'synthetic/mixssl_over_mocov2': pytest.approx(0.75),
        'pipeline/mixssl_over_simclr': pytest.approx(0.75)
    }
    args = vars(
        parse_throughput_args(
            ['--device', 'cpu', '--depth', '18', '--repeat', '2']))
    text = markdown(
        dict(
            environment=dict(device='cpu', cpu='X', torch_threads=2),
            args=args,
            load_before=[1, 1, 1],
            load_after=[2, 2, 2],
            results=rows))
    assert text.startswith(
        'ResNet-18, batch 32, 224 px, cpu (X, 2 torch threads), levers: '
        'none; 20 timed steps after 5 warm-up (x 2 repeats, pooled); load '
        'average before / after: [1, 1, 1] / [2, 2, 2].\n\n')
    assert '| MixSSL | synthetic | 60 | 59 | 61 | 533.3 | 0.60x | 100 |' \
        in text
    assert '| SimCLR | pipeline | 120 | 119 | 121 | 266.7 | 1.00x | 100 | ' \
        '1 | 400 |' in text
    assert '| MoCo v2 | synthetic | 80 | 79 | 81 | 400.0 | 0.80x | 100 | ' \
        '- | - |' in text
    assert text.endswith('\nPeak memory: cpu x.\n')


def test_repeats_pool_their_steps():
    runs = [
        dict(
            method='MixSSL',
            key='mixssl',
            mode='pipeline',
            step_ms=[10.0, 30.0],
            data_wait_ms=[1.0, 1.0],
            loader_batch_ms=[4.0],
            peak_mem_mib=5.0),
        dict(
            method='MixSSL',
            key='mixssl',
            mode='pipeline',
            step_ms=[20.0],
            data_wait_ms=[3.0],
            loader_batch_ms=[12.0],
            peak_mem_mib=7.0)
    ]
    row = merge_repeats(runs, batch=4)
    assert row['step_ms'] == [10.0, 30.0, 20.0] and row['repeats'] == 2
    assert (row['step_ms_median'], row['step_ms_min'],
            row['step_ms_max']) == (20.0, 10.0, 30.0)
    assert row['samples_per_s'] == pytest.approx(200.0)
    assert row['data_wait_ms_median'] == 1.0
    assert row['loader_batch_ms_median'] == 8.0
    assert row['loader_samples_per_s'] == pytest.approx(1e3 * 8 / 16)
    assert row['peak_mem_mib'] == 7.0


def test_outputs_go_where_asked(tmp_path):
    out, md = tmp_path / 'a' / 'r.json', tmp_path / 'b' / 'r.md'
    write_outputs(dict(x=1), '| t |\n', str(out), str(md))
    assert json.loads(out.read_text()) == dict(x=1)
    assert md.read_text() == '| t |\n'
    write_outputs(dict(x=1), 'm', None, None)  # neither asked: nothing


def test_median_min_max():
    assert median_min_max([10.0, 30.0, 20.0]) == (20.0, 10.0, 30.0)
    assert median_min_max([1, 2, 3, 10]) == (2.5, 1.0, 10.0)
    with pytest.raises(ValueError, match='no values'):
        median_min_max([])
