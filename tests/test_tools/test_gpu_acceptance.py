"""tools/analysis_tools/gpu_acceptance.py (mixssl_mm.analysis.acceptance)
end to end in its tiny CPU mode, and the refused arguments. The hard stop:
tests/test_analysis/test_acceptance.py; the report and goals:
tests/test_analysis/test_acceptance_report.py."""
import os.path as osp
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOL = 'tools/analysis_tools/gpu_acceptance.py'
DATA = 'data/medmnist/bloodmnist.npz'


@pytest.fixture
def repo_cwd(monkeypatch):
    """The tool runs from the repository root (config paths)."""
    monkeypatch.chdir(REPO)
    return REPO


def _run(args, cwd, timeout):
    return subprocess.run([sys.executable, TOOL, '--tiny', *args],
                          cwd=cwd,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT,
                          text=True,
                          timeout=timeout)


def test_tiny_mode_runs_every_part_end_to_end(repo_cwd, tmp_path):
    assert osp.isfile(DATA), 'python tools/data/fetch_bloodmnist.py first'
    # a budget no loaded CI machine reaches (the hard stop is tested in
    # tests/test_analysis/test_acceptance.py)
    out = _run(['--budget', '5400', '--out', str(tmp_path)], repo_cwd, 5600)
    report = (tmp_path / 'report.md').read_text()
    assert out.returncode == 0, report + out.stdout[-3000:]
    assert 'finished' in report.splitlines()[4]
    # (a) on its two tiny-mode configs (every pretraining config in GPU
    # mode: tests/test_analysis/test_acceptance.py)
    from mixssl_mm.analysis.acceptance import TINY_CONFIGS
    n = len(TINY_CONFIGS)
    assert f'{n} of {n} ok' in report
    for config in TINY_CONFIGS:
        assert re.search(rf'\| `{re.escape(config)}` \| ok \| 3 \| \d',
                         report), config
    part_b = report.split('## (b)')[1].split('## (c)')[0]
    assert part_b.count('| gloo | ok |') == 4
    assert re.search(r'accuracy/top1: \d', part_b)  # dist_test's metric
    part_c = report.split('## (c)')[1].split('## (d)')[0]
    for method in ('mixssl', 'simclr'):
        for mode in ('synthetic', 'pipeline'):
            # one timed step still gives samples/s
            assert re.search(rf'\| {method} \| {mode} \| ok \| \d+ \|',
                             part_c), part_c
    assert 'Preset `tiny`: ok' in report
    assert 'Fine-tune' in report.split('## (d)')[1]  # results.md inside


@pytest.mark.parametrize(
    'argv', [['--parts', 'e'], ['--budget', '1'], ['--out', '{file}/a']])
def test_bad_arguments_are_refused(argv, tmp_path, capsys):
    from mixssl_mm.analysis.acceptance import parse_args
    (tmp_path / 'file').write_text('x')
    with pytest.raises(SystemExit):
        parse_args(
            ['--tiny', *(a.format(file=tmp_path / 'file') for a in argv)])
    assert 'error: --' in capsys.readouterr().err
