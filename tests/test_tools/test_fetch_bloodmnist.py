"""Tests of tools/data/fetch_bloodmnist.py; nothing is downloaded."""
import hashlib
import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

TOOL = Path(__file__).resolve().parents[2] / 'tools/data/fetch_bloodmnist.py'
OFFICIAL_28 = '7053d0359d879ad8a5505303e11de1dc'


@pytest.fixture
def tool():
    spec = importlib.util.spec_from_file_location('fetch_bloodmnist', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_npz(tmp_path):
    """A small npz with the official keys but, of course, not the official
    content."""
    path = tmp_path / 'src' / 'bloodmnist.npz'
    path.parent.mkdir()
    arrays = {}
    for split, n in (('train', 6), ('val', 2), ('test', 3)):
        arrays[f'{split}_images'] = np.full((n, 28, 28, 3), n, np.uint8)
        arrays[f'{split}_labels'] = np.arange(n, dtype=np.uint8)[:, None]
    np.savez(path, **arrays)
    return path


def _md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def test_official_md5_table(tool):
    assert tool.BLOODMNIST_MD5['bloodmnist.npz'] == OFFICIAL_28
    assert set(tool.BLOODMNIST_MD5) == {
        'bloodmnist.npz', 'bloodmnist_64.npz', 'bloodmnist_128.npz',
        'bloodmnist_224.npz'
    }
    assert len(set(tool.BLOODMNIST_MD5.values())) == 4


def test_cli_refuses_wrong_md5_and_writes_nothing(fake_npz, tmp_path):
    out = tmp_path / 'out'
    proc = subprocess.run(
        [sys.executable,
         str(TOOL), '--src',
         str(fake_npz), '--out',
         str(out)],
        capture_output=True,
        text=True)
    assert proc.returncode != 0
    actual = _md5(fake_npz)
    # names the problem (expected vs actual md5) and the fix
    assert f'its md5 is {actual}' in proc.stderr
    assert f'expected {OFFICIAL_28} (official bloodmnist.npz)' in proc.stderr
    assert 'nothing was written' in proc.stderr
    assert 'zenodo.org' in proc.stderr
    assert not out.exists() or not any(out.iterdir())


def test_refusal_lists_all_variants_for_unknown_name(tool, fake_npz, tmp_path,
                                                     capsys):
    src = fake_npz.rename(fake_npz.with_name('my_blood.npz'))
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'bloodmnist.npz').write_bytes(b'keep me')
    assert tool.main(['--src', str(src), '--out', str(out)]) == 1
    err = capsys.readouterr().err
    for name, md5 in tool.BLOODMNIST_MD5.items():
        assert f'{md5} ({name})' in err
    # an existing file is left alone, and no temp file is left behind
    assert sorted(p.name for p in out.iterdir()) == ['bloodmnist.npz']
    assert (out / 'bloodmnist.npz').read_bytes() == b'keep me'


def test_src_with_official_md5_is_copied(tool, fake_npz, tmp_path, monkeypatch,
                                         capsys):
    md5 = _md5(fake_npz)
    # pretend the fake is the official 64x64 file
    monkeypatch.setitem(tool.BLOODMNIST_MD5, 'bloodmnist_64.npz', md5)
    src = fake_npz.rename(fake_npz.with_name('downloaded.npz'))
    out = tmp_path / 'out'
    assert tool.main(['--src', str(src), '--out', str(out)]) == 0
    # keeps the official name of the variant its md5 identifies
    dst = out / 'bloodmnist_64.npz'
    assert sorted(p.name for p in out.iterdir()) == ['bloodmnist_64.npz']
    assert dst.read_bytes() == src.read_bytes()
    printed = capsys.readouterr().out
    assert f'BloodMNIST is at {dst}' in printed
    assert 'train_images: (6, 28, 28, 3) uint8' in printed

    # --out may also name the file
    target = tmp_path / 'elsewhere' / 'blood.npz'
    assert tool.main(['--src', str(src), '--out', str(target)]) == 0
    assert _md5(target) == md5


def test_existing_official_file_is_not_fetched_again(tool, fake_npz, tmp_path,
                                                     monkeypatch, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'bloodmnist.npz').write_bytes(fake_npz.read_bytes())
    monkeypatch.setitem(tool.BLOODMNIST_MD5, 'bloodmnist.npz', _md5(fake_npz))

    def no_download(tmpdir):
        raise AssertionError('must not download')

    monkeypatch.setattr(tool, '_download_wheel', no_download)
    assert tool.main(['--out', str(out)]) == 0
    assert 'already exists with the official md5' in capsys.readouterr().out


def _fake_wheel(tool, tmpdir, payload):
    wheel = os.path.join(tmpdir, 'kosmos_core-0.6.2-py3-none-any.whl')
    with zipfile.ZipFile(wheel, 'w') as zf:
        zf.writestr('kosmos/__init__.py', '')
        zf.writestr(tool.WHEEL_MEMBER, payload)
    return wheel


def test_wheel_member_is_verified_before_install(tool, fake_npz, tmp_path,
                                                 monkeypatch, capsys):
    payload = fake_npz.read_bytes()
    monkeypatch.setattr(tool, '_download_wheel',
                        lambda tmpdir: _fake_wheel(tool, tmpdir, payload))
    out = tmp_path / 'out'

    # the member does not have the official md5: refused, nothing written
    assert tool.main(['--out', str(out)]) == 1
    err = capsys.readouterr().err
    assert f'expected {OFFICIAL_28}, got {_md5(fake_npz)}' in err
    assert not any(out.iterdir())

    # with a matching md5 only that member is extracted, under its name
    monkeypatch.setitem(tool.BLOODMNIST_MD5, 'bloodmnist.npz', _md5(fake_npz))
    assert tool.main(['--out', str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ['bloodmnist.npz']
    assert (out / 'bloodmnist.npz').read_bytes() == payload
    assert 'Fetched official bloodmnist.npz' in capsys.readouterr().out


def test_read_npz_header(tool, fake_npz):
    info = tool.read_npz_header(fake_npz)
    assert info['val_images'] == ((2, 28, 28, 3), np.dtype('uint8'))
    assert info['test_labels'][0] == (3, 1)
