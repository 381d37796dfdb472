"""The residual-norm measurement behind the recipe's optimizer choice runs
as the command docs/benchmark.md gives (an entry point of its own: it
applies the compat fixes, or the config's ``mmpretrain::`` base would not
load on today's setuptools) and measures normalised inputs, as in
training."""
import subprocess
import sys

import pytest
from mmengine.config import Config

from mixssl_mm.benchmark.methods import METHODS
from mixssl_mm.utils import runner_model_cfg
from tests._helpers.training import REPO, subprocess_env


def test_the_documented_command_prints_a_row_per_variant():
    proc = subprocess.run([
        sys.executable, '-m', 'mixssl_mm.analysis.residual_norms', '--steps',
        '1', '--method', 'mixssl'
    ],
                          cwd=REPO,
                          env=subprocess_env(),
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [r for r in proc.stdout.splitlines() if r.startswith('| Adam')]
    assert len(rows) == 4, proc.stdout
    assert all(r.count('×') == 4 for r in rows)


@pytest.mark.parametrize('method', ['mixssl', 'simclr'])
def test_the_measured_model_normalises_its_inputs(method):
    from mixssl_mm.compat import apply_compat_fixes
    apply_compat_fixes()
    cfg = Config.fromfile(METHODS[method]['config'])
    pre = runner_model_cfg(cfg)['data_preprocessor']
    assert pre.get('mean') and pre.get('std'), pre
