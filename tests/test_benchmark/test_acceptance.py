"""mixssl_mm.benchmark.acceptance: the hard stop (a child and its whole
process group killed at the part's deadline; a part out of time reported as
not run), without depending on how fast the machine is. The whole run:
tests/test_tools/test_gpu_acceptance.py."""
import os
import time

import pytest

from mixssl_mm.benchmark.acceptance import Acceptance, parse_args
from mixssl_mm.benchmark.acceptance_report import budget_hit, render


@pytest.fixture
def acceptance(repo_cwd, tmp_path):
    return Acceptance(parse_args(['--tiny', '--out', str(tmp_path)]))


def _gone(pid: int, wait_s: float = 10.0) -> bool:
    end = time.time() + wait_s
    while time.time() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_a_child_and_its_process_group_are_killed_at_the_deadline(
        acceptance, tmp_path):
    pid_file = tmp_path / 'grandchild.pid'
    # a child that starts a grandchild (as torchrun starts its ranks)
    cmd = ['bash', '-c', f'sleep 300 & echo $! > {pid_file}; wait']
    ticks = []
    t0 = time.time()
    res = acceptance.run(cmd, str(tmp_path / 'child.log'),
                         until=time.time() + 2, on_tick=lambda: ticks.append(1))
    assert res['cut'] and res['rc'] != 0
    assert time.time() - t0 < 2 + 2 * 5 + 5  # the deadline + kill grace
    assert _gone(int(pid_file.read_text()))
    assert (tmp_path / 'child.log').read_text().startswith('$ bash -c')


def test_a_finished_child_is_not_cut(acceptance, tmp_path):
    res = acceptance.run(['bash', '-c', 'exit 3'], str(tmp_path / 'x.log'),
                         until=time.time() + 60)
    assert res == dict(rc=3, seconds=res['seconds'], cut=False)


def test_a_part_out_of_time_reports_every_config_not_run(acceptance):
    acceptance.folder = None
    acceptance.part_a(until=time.time())  # its share already spent
    rows = acceptance.state['a']
    assert len(rows) >= 16
    assert {r['status'] for r in rows} == {'not run (budget)'}
    assert budget_hit(acceptance.state)
    assert 'not run (budget)' in render(acceptance.state, elapsed=1)
