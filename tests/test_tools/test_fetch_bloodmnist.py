"""tools/data/fetch_bloodmnist.py end to end; nothing is downloaded. The
fetch logic itself is tested in tests/test_datasets/test_utils/test_fetch.py.
"""
import hashlib
import os.path as osp
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools/data/fetch_bloodmnist.py'
DATA = REPO / 'data/medmnist/bloodmnist.npz'
OFFICIAL_28 = '7053d0359d879ad8a5505303e11de1dc'


def run_tool(*args):
    return subprocess.run(
        [sys.executable, str(TOOL), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300)


def test_cli_refuses_wrong_md5_and_writes_nothing(tmp_path):
    fake = tmp_path / 'src' / 'bloodmnist.npz'
    fake.parent.mkdir()
    np.savez(fake, train_images=np.zeros((2, 28, 28, 3), np.uint8))
    out = tmp_path / 'out'
    proc = run_tool('--src', fake, '--out', out)
    assert proc.returncode != 0
    actual = hashlib.md5(fake.read_bytes()).hexdigest()
    # names the problem (expected vs actual md5) and the fix
    assert f'its md5 is {actual}' in proc.stderr
    assert f'expected {OFFICIAL_28} (official bloodmnist.npz)' in proc.stderr
    assert 'nothing was written' in proc.stderr
    assert 'zenodo.org' in proc.stderr
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.skipif(
    not osp.exists(DATA),
    reason='fetch the data first: '
    'python tools/data/fetch_bloodmnist.py')
def test_cli_copies_the_official_file(tmp_path):
    proc = run_tool('--src', DATA, '--out', tmp_path / 'out')
    assert proc.returncode == 0, proc.stderr[-2000:]
    dst = tmp_path / 'out' / 'bloodmnist.npz'
    assert f'Copied official bloodmnist.npz (md5 {OFFICIAL_28})' in \
        proc.stdout
    assert f'BloodMNIST is at {dst}' in proc.stdout
    assert 'train_images: (11959, 28, 28, 3) uint8' in proc.stdout
    assert dst.read_bytes() == DATA.read_bytes()
    # given the file it would write, it is already in place
    proc = run_tool('--src', dst, '--out', tmp_path / 'out')
    assert 'is already the official bloodmnist.npz' in proc.stdout
