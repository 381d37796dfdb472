"""The benchmark's dry-run log, line by line, against golden files in
tests/data/benchmark_dry_run/: every stage's command line (configs,
--cfg-options, work dirs, the generated wrappers' content hashes) of a few
representative invocations. A refactor of the benchmark must leave them
unchanged; a deliberate change of a stage regenerates them with
``MIXSSL_UPDATE_GOLDEN=1 python -m pytest tests/test_benchmark/
test_dry_run_golden.py`` and the diff is reviewed like code.

Normalised: the minutes prefix, the wall time, the interpreter
(``python``), the work dir (``<work>``), the test's temporary folder
(``<tmp>``) and the repository (``<repo>``)."""
import os
import re
import sys

import pytest

from mixssl_mm.benchmark.runner import main
from tests._helpers.image_folders import write_split_folders
from .conftest import REPO

GOLDEN = REPO / 'tests' / 'data' / 'benchmark_dry_run'

CASES = {
    'tiny_all': ['--preset', 'tiny', '--methods', 'all'],
    'cpu_medium_fractions': [
        '--preset', 'cpu-medium', '--methods', 'mixssl', 'simclr',
        '--label-fractions', '0.1', '1.0'
    ],
    'tiny_image_folder': [
        '--preset', 'tiny', '--methods', 'mixssl', 'rand', '--protocols',
        'finetune', 'knn', '--data-root', '<work>/cells'
    ],
}


def normalise(log: str, work: str, tmp: str) -> str:
    """``log`` without what differs between machines and runs."""
    lines = []
    for line in log.splitlines():
        line = re.sub(r'^\[\s*[\d.]+ min\] ', '', line)
        line = re.sub(r'wall time [\d.]+ min', 'wall time <t> min', line)
        line = line.replace(sys.executable, 'python')
        line = line.replace(work, '<work>').replace(tmp, '<tmp>')
        line = line.replace(str(REPO), '<repo>')
        lines.append(line.rstrip())
    return '\n'.join(lines) + '\n'


@pytest.mark.parametrize('case', sorted(CASES))
def test_dry_run_commands_are_unchanged(case, repo_cwd, tmp_path, capsys):
    work = str(tmp_path / 'w')
    write_split_folders(
        tmp_path / 'w' / 'cells', ['a', 'b', 'c'], {
            'train': 8,
            'test': 2
        },
        size=8)
    argv = [a.replace('<work>', work) for a in CASES[case]]
    assert main(argv + ['--dry-run', '--work-dir', work]) == 0
    log = normalise(capsys.readouterr().out, work, str(tmp_path))
    path = GOLDEN / f'{case}.txt'
    if os.environ.get('MIXSSL_UPDATE_GOLDEN') == '1':
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(log)
    assert log == path.read_text(), (
        f'the dry run of {case} changed; if on purpose, regenerate with '
        'MIXSSL_UPDATE_GOLDEN=1 (see this file\'s docstring)')
    # a dry run writes nothing besides the test's own image folder
    assert sorted(os.listdir(work)) == ['cells']
