# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The throughput tool's summary: per-row statistics (samples/s = batch /
median step; step time median / min / max; the loader's own rate), repeats
pooled, MixSSL's step-time ratios, the environment, the Markdown table and
the JSON / Markdown files."""
import datetime
import json
import os
import os.path as osp
import platform
import sys
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch


def median_min_max(values: Sequence[float]) -> Tuple[float, float, float]:
    """Median, minimum and maximum of a non-empty sequence (the median of
    an even count is the mean of the two middle values).

    Raises:
        ValueError: ``values`` is empty.
    """
    vals = np.asarray(values, dtype=np.float64)
    if not vals.size:
        raise ValueError('median_min_max of no values')
    return float(np.median(vals)), float(vals.min()), float(vals.max())


TOOL = 'tools/analysis_tools/benchmark_throughput.py'
_RAW = ('step_ms', 'data_wait_ms', 'loader_batch_ms')


def summarise(row: Dict, batch: int) -> Dict:
    """Statistics from the raw per-step lists (also after merging
    repeats), added to ``row`` in place; ``row``."""
    if row.get('step_ms'):
        (row['step_ms_median'], row['step_ms_min'],
         row['step_ms_max']) = median_min_max(row['step_ms'])
        row['samples_per_s'] = 1e3 * batch / row['step_ms_median']
    if row.get('data_wait_ms'):
        row['data_wait_ms_median'] = median_min_max(row['data_wait_ms'])[0]
    if row.get('loader_batch_ms'):
        times = row['loader_batch_ms']
        row['loader_batch_ms_median'] = median_min_max(times)[0]
        row['loader_samples_per_s'] = 1e3 * batch * len(times) / sum(times)
    return row


def merge_repeats(runs: List[Dict], batch: int) -> Dict:
    """One row from the repeats of one method and mode: all their timed
    steps pooled, the largest peak memory."""
    row = OrderedDict(runs[0])
    for key in _RAW:
        if key in row:
            row[key] = [t for r in runs for t in r[key]]
    if 'peak_mem_mib' in row:
        row['peak_mem_mib'] = max(r['peak_mem_mib'] for r in runs)
    row['repeats'] = len(runs)
    return summarise(row, batch)


def environment(args) -> Dict:
    """Date, command, CPU / GPU, thread count and versions."""
    cpu = platform.processor()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    env = OrderedDict(
        date=datetime.datetime.now().isoformat(timespec='seconds'),
        command='python ' + ' '.join([TOOL] + sys.argv[1:]),
        cpu=cpu,
        cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        torch=torch.__version__,
        python=platform.python_version(),
        device=args.device)
    if args.device == 'cuda':
        env['gpu'] = torch.cuda.get_device_name()
    return env


def ratios(rows: List[Dict], modes: Sequence[str]) -> Dict:
    """MixSSL's median step time over each baseline's, per mode (in
    ``modes`` order)."""
    out = OrderedDict()
    for mode in modes:
        by = {
            r['key']: r
            for r in rows if r['mode'] == mode and 'step_ms_median' in r
        }
        if 'mixssl' not in by:
            continue
        for key, r in by.items():
            if key != 'mixssl':
                out[f'{mode}/mixssl_over_{key}'] = (
                    by['mixssl']['step_ms_median'] / r['step_ms_median'])
    return out


def _vs_simclr(row: Dict, rows: List[Dict]) -> str:
    simclr = [
        r for r in rows if r['mode'] == row['mode'] and r['key'] == 'simclr'
    ]
    if not simclr or 'step_ms_median' not in row or \
            'step_ms_median' not in simclr[0]:
        return '-'
    return f"{row['step_ms_median'] / simclr[0]['step_ms_median']:.2f}x"


def _title(result: Dict) -> str:
    env, a = result['environment'], result['args']
    levers = [
        name
        for name in ('amp', 'channels_last', 'compile', 'fused') if a.get(name)
    ] or ['none']
    repeats = (f" (x {a['repeat']} repeats, pooled)"
               if a.get('repeat', 1) > 1 else '')
    title = (f"ResNet-{a['depth']}, batch {a['batch']}, {a['size']} px, "
             f"{env['device']} ({env.get('gpu', env['cpu'])}, "
             f"{env['torch_threads']} torch threads), levers: "
             f"{', '.join(levers)}; {a['iters']} timed steps after "
             f"{a['warmup']} warm-up{repeats}; load average before / after: "
             f"{result['load_before']} / {result['load_after']}.")
    if a.get('mixssl_config') or a.get('mixssl_options'):
        title += (f" MixSSL: {a.get('mixssl_config') or 'default config'}"
                  f" {a.get('mixssl_options') or ''}".rstrip() + '.')
    return title


def markdown(result: Dict) -> str:
    """The settings line, one table row per result row (a GFLOP column
    when counted, data-wait and loader columns in pipeline mode) and what
    the peak memory measured."""
    rows = result['results']

    def num(key, spec='.0f'):
        return lambda r: format(r[key], spec) if key in r else '-'

    cols = [('method', lambda r: r['method']), ('mode', lambda r: r['mode']),
            ('step median (ms)', num('step_ms_median')),
            ('min', num('step_ms_min')), ('max', num('step_ms_max')),
            ('samples/s', num('samples_per_s', '.1f')),
            ('vs SimCLR', lambda r: _vs_simclr(r, rows)),
            ('peak mem (MiB)', num('peak_mem_mib'))]
    if any('gflop_per_step' in r for r in rows):
        cols.append(('GFLOP/step', num('gflop_per_step', '.1f')))
    if any(r['mode'] == 'pipeline' for r in rows):
        cols += [('data wait (ms)', num('data_wait_ms_median')),
                 ('loader alone (samples/s)', num('loader_samples_per_s'))]
    lines = [_title(result), '']
    lines += [
        '| ' + ' | '.join(name for name, _ in cols) + ' |',
        '|' + '|'.join(['---'] * 2 + ['---:'] * (len(cols) - 2)) + '|'
    ]
    for r in rows:
        lines.append('| ' + ' | '.join(f(r) for _, f in cols) + ' |')
    kinds = sorted({r['mem_kind'] for r in rows if 'mem_kind' in r})
    if kinds:
        lines += ['', f"Peak memory: {'; '.join(kinds)}."]
    return '\n'.join(lines) + '\n'


def write_outputs(result: Dict, md: str, out: Optional[str],
                  md_path: Optional[str]) -> None:
    """``result`` as JSON to ``out`` and ``md`` to ``md_path`` (either may
    be None); parent folders are created."""
    for path, text in ((out, json.dumps(result, indent=2,
                                        default=str)), (md_path, md)):
        if path:
            os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
            with open(path, 'w') as f:
                f.write(text + ('\n' if not text.endswith('\n') else ''))
