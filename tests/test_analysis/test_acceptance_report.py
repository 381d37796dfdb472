"""mixssl_mm.analysis.acceptance_report: the acceptance report, the
performance goals and the verdict, from a hand-made state (the tool itself:
tests/test_tools/test_gpu_acceptance.py)."""
from mixssl_mm.analysis.acceptance_report import (budget_hit, goal_lines,
                                                  passed, render)


def _state(**parts):
    state = dict(
        mode='gpu',
        budget=480,
        command='cmd',
        date='today',
        environment=dict(
            device='NVIDIA H200',
            gpu_mem_gib=139.8,
            bf16=True,
            torch='2.11',
            cuda='12.8',
            python='3.12',
            host_cpus=16),
        status='finished',
        skipped=[],
        a=[],
        b=[],
        c=[],
        d=None)
    state.update(parts)
    return state


def test_goals_and_verdict():
    rows = [
        dict(
            method='mixssl',
            mode='synthetic',
            status='ok',
            samples_per_s=3600.0,
            peak_mem_mib=9000.0),
        dict(
            method='simclr',
            mode='synthetic',
            status='ok',
            samples_per_s=1200.0,
            peak_mem_mib=22000.0),
        dict(
            method='mixssl',
            mode='pipeline',
            status='ok',
            samples_per_s=2500.0,
            peak_mem_mib=9000.0)
    ]
    synthetic, pipeline = goal_lines(rows)
    assert 'goal >= 3500: met' in synthetic and '3.00x SimCLR' in synthetic
    assert 'peak 9000 vs SimCLR 22000 MiB (met)' in synthetic
    assert 'goal >= 3000: NOT met' in pipeline
    ok = dict(config='x', status='ok')
    state = _state(
        a=[ok],
        b=[dict(step='s', backend='nccl', status='ok')],
        c=rows,
        d=dict(preset='gpu-quick', status='cut at the budget', seconds=10))
    assert passed(state, 'abcd') and budget_hit(state)
    md = render(state, elapsed=470)
    assert 'NVIDIA H200 (139.8 GiB, bf16 yes)' in md
    assert 'Goals (one H100/H200):' in md and '1 of 1 ok' in md
    assert '## (a) Every pretraining config, bf16 AMP\n' in md
    state['mode'] = 'tiny'
    assert '## (a) Representative pretraining configs' in render(
        state, elapsed=1)
    state['mode'] = 'gpu'
    state['a'] = [ok, dict(config='y', status='failed', error='E\nboom')]
    assert not passed(state, 'abcd')
    assert '| boom |' in render(state, elapsed=1)
    assert not passed(_state(), 'a')  # a part that never ran did not pass
