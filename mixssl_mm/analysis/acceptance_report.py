# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The acceptance run's Markdown report (:mod:`.acceptance`), rendered from
its state after every step; the performance goals part (c) is checked
against (issue 11; docs/performance.md); whether the run passed."""
from typing import List, Optional

# one H100/H200, ResNet-50, 224 px, batch 256 (GPU mode only)
GOALS = dict(mixssl_synthetic=3500, mixssl_pipeline=3000, vs_simclr=2.9)


def _num(v, spec: str = '.1f') -> str:
    return '-' if v is None else format(v, spec)


def _table(header: List[str], rows: List[List[str]]) -> List[str]:
    return ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)
            ] + ['| ' + ' | '.join(str(c) for c in r) + ' |' for r in rows]


def _error_line(row: dict) -> str:
    err = (row.get('error') or '').strip().splitlines()
    return err[-1][:160].replace('|', '/') if err else ''


def _throughput(rows: List[dict], method: str, mode: str) -> Optional[dict]:
    for r in rows:
        if r.get('method') == method and r.get('mode') == mode:
            return r
    return None


def goal_lines(rows: List[dict]) -> List[str]:
    """The goals: MixSSL (fast) samples/s synthetic and pipeline, the ratio
    to SimCLR in the same run, peak memory not above SimCLR's."""
    out = []
    for mode in ('synthetic', 'pipeline'):
        mix = _throughput(rows, 'mixssl', mode)
        sim = _throughput(rows, 'simclr', mode)
        if not mix or mix.get('samples_per_s') is None:
            out.append(f'- {mode}: MixSSL not measured')
            continue
        goal = GOALS[f'mixssl_{mode}']
        line = (f"- {mode}: MixSSL {mix['samples_per_s']:.0f} samples/s "
                f"(goal >= {goal}: "
                f"{'met' if mix['samples_per_s'] >= goal else 'NOT met'})")
        if sim and sim.get('samples_per_s'):
            ratio = mix['samples_per_s'] / sim['samples_per_s']
            line += (f"; {ratio:.2f}x SimCLR (goal >= {GOALS['vs_simclr']}"
                     f": {'met' if ratio >= GOALS['vs_simclr'] else 'NOT met'}"
                     ')')
            if mix.get('peak_mem_mib') and sim.get('peak_mem_mib'):
                low = mix['peak_mem_mib'] <= sim['peak_mem_mib']
                line += (f"; peak {mix['peak_mem_mib']:.0f} vs SimCLR "
                         f"{sim['peak_mem_mib']:.0f} MiB "
                         f"({'met' if low else 'NOT met'})")
        out.append(line)
    return out


def render(state: dict, elapsed: float) -> str:
    """The whole report for the current ``state``."""
    env = state.get('environment') or {}
    lines = [
        '# GPU acceptance run' +
        (' (tiny, CPU)' if state['mode'] == 'tiny' else ''), '',
        f"- date: {state['date']}; command: `{state['command']}`",
        f"- device: {env.get('device', '?')}" +
        (f" ({env['gpu_mem_gib']} GiB, bf16 "
         f"{'yes' if env.get('bf16') else 'no'})" if 'gpu_mem_gib' in env else
         '') + f"; torch {env.get('torch', '?')} (CUDA {env.get('cuda')}); "
        f"Python {env.get('python', '?')}; {env.get('host_cpus', '?')} CPUs",
        f"- budget {state['budget']:.0f} s, elapsed {elapsed:.0f} s: "
        f"{state['status']}" +
        (f" (parts not started: {', '.join(state['skipped'])})"
         if state.get('skipped') else ''), ''
    ]
    rows = state['a']
    lines += [
        '## (a) Every pretraining config, bf16 AMP' if state['mode'] == 'gpu'
        else '## (a) Representative pretraining configs, bf16 AMP (tiny '
        'mode; GPU mode and the launch matrix train every one)', ''
    ]
    if rows:
        ok = sum(r['status'] == 'ok' for r in rows)
        lines += [
            f'{ok} of {len(rows)} ok. Step: median of the iterations '
            'after the first quarter (train_step and hooks, '
            'synchronised); peak: max_memory_allocated on CUDA, RSS '
            'growth on a CPU; compile off (part (c) times it).', ''
        ]
        lines += _table(
            ['config', 'status', 'iters', 'step ms', 'peak MiB', 's', 'error'],
            [[
                f"`{r['config']}`", r['status'],
                r.get('iters', '-'),
                _num(r.get('step_ms')),
                _num(r.get('peak_mem_mib'), '.0f'),
                _num(r.get('seconds')),
                _error_line(r)
            ] for r in rows])
    lines += [
        '', '## (b) Launchers: dist_train.sh 1 process, --resume, '
        'dist_test.sh', ''
    ]
    if state['b']:
        lines += _table(['step', 'backend', 'status', 's', 'log', 'note'], [[
            r['step'], r['backend'], r['status'],
            _num(r.get('seconds')),
            r.get('log', ''),
            r.get('note', '')
        ] for r in state['b']])
    lines += ['', '## (c) Training-step throughput (levers on)', '']
    if state['c']:
        lines += _table([
            'method', 'mode', 'status', 'samples/s', 'step ms', 'first step s',
            'peak MiB', 'loader alone samples/s'
        ], [[
            r['method'],
            r.get('mode', '-'), r['status'],
            _num(r.get('samples_per_s'), '.0f'),
            _num(r.get('step_ms')),
            _num(r.get('first_step_s')),
            _num(r.get('peak_mem_mib'), '.0f'),
            _num(r.get('loader_samples_per_s'), '.0f')
        ] for r in state['c']])
        if state['mode'] == 'gpu':
            lines += ['', 'Goals (one H100/H200):'] + goal_lines(state['c'])
    lines += ['', '## (d) Benchmark preset with the time left', '']
    d = state.get('d')
    if d:
        lines += [
            f"Preset `{d['preset']}`: {d['status']}" +
            (f" after {d['seconds']:.0f} s" if 'seconds' in d else '') +
            f"; stages done: {len(d.get('stages_done', []))}" +
            (' (' + ', '.join(d['stages_done']) +
             ')' if d.get('stages_done') else ''), ''
        ]
        if d.get('results_md'):
            body = d['results_md'].replace('\n# ', '\n### ').replace(
                '\n## ', '\n### ')
            lines += [
                '<details><summary>results.md</summary>', '', body, '',
                '</details>'
            ]
    return '\n'.join(lines) + '\n'


def budget_hit(state: dict) -> bool:
    """Whether the budget cut or skipped anything."""
    rows = [r['status'] for k in 'abc' for r in state[k]]
    if state['d']:
        rows.append(state['d']['status'])
    return bool(state['skipped']) or any('budget' in s for s in rows)


def passed(state: dict, parts: str) -> bool:
    """(a)-(c) complete and ok, and no benchmark stage failed."""
    ok = all(r['status'] == 'ok' for k in 'abc' if k in parts
             for r in state[k]) and all(state[k] for k in 'abc' if k in parts)
    d = state.get('d')
    return ok and (d is None or not d['status'].startswith('failed'))
