"""tools/data/fetch_natural_photos.py and its logic
(mixssl_mm/datasets/utils/natural_photos.py) on a generated ``.deb``: the
pool and its manifest, idempotent re-runs, checksums refused, the error
without apt-get; and the benchmark's choice of auxiliary pool. Nothing is
downloaded: the real sources are only checked as tables."""
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

import mixssl_mm.datasets.utils.natural_photos as npool
from mixssl_mm.datasets.utils.fetch import FetchError
from mixssl_mm.datasets.utils.natural_photos import (FALLBACK_NOTE, MANIFEST,
                                                     PACKAGES, PHOTOS,
                                                     check_pool, deb_members,
                                                     fetch, pool_root)
from tests._helpers.fake_deb import PACKAGE, fake_sources

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'data' / 'fetch_natural_photos.py'


def _fetch(tmp_path, out, packages, photos, **kw):
    kw.setdefault('apt_get', str(tmp_path / 'no-apt-get'))
    return fetch(
        str(out),
        deb_dir=str(tmp_path / 'debs'),
        packages=packages,
        photos=photos,
        short_side=16,
        **kw)


def _leftovers(parent: Path):
    return [p.name for p in parent.iterdir() if p.name.startswith('.')]


def test_real_sources_are_pinned():
    """The shipped tables: at least 50 distinct photographs, each from a
    pinned package, with a sha256, a licence and an author."""
    assert len(PHOTOS) >= 50
    assert len({p.name for p in PHOTOS}) == len(PHOTOS)
    assert len({p.sha256 for p in PHOTOS}) == len(PHOTOS)
    for p in PHOTOS:
        assert p.package in PACKAGES and re.fullmatch('[0-9a-f]{64}', p.sha256)
        assert p.licence and p.author and re.fullmatch('[a-z0-9-]+', p.name)
    for pkg in PACKAGES.values():
        assert re.fullmatch('[0-9a-f]{64}', pkg.sha256) and pkg.size > 0
        assert pkg.pool_path.startswith('pool/main/') and pkg.copyright
    # every package is used
    assert {p.package for p in PHOTOS} == set(PACKAGES)
    # docs/data.md lists every checksum and licence of the tables
    doc = (REPO / 'docs' / 'data.md').read_text()
    for p in PHOTOS:
        assert f'| {p.name} | {p.package} | `/{p.member}` | `{p.sha256}` | ' \
            f'{p.licence} | {p.author} |' in doc, p.name
    for pkg in PACKAGES.values():
        assert f'| `{pkg.name}` | `{pkg.version}` | `{pkg.sha256}` |' in doc


def test_fetch_writes_pool_and_manifest(tmp_path, capsys):
    packages, photos = fake_sources(tmp_path / 'debs')
    out = tmp_path / 'data' / 'natural_photos'
    assert _fetch(tmp_path, out, packages, photos) == str(out)
    manifest = json.loads((out / MANIFEST).read_text())
    assert [p['name'] for p in manifest['photos']] == [p.name for p in photos]
    assert manifest['packages'][0]['sha256'] == packages[PACKAGE].sha256
    for rec, photo in zip(manifest['photos'], photos):
        path = out / rec['file']
        # one class folder per photo, as CustomDataset labels folders
        assert rec['file'] == f'{photo.name}/{photo.name}.jpg'
        assert rec['sha256'] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert rec['source_sha256'] == photo.sha256
        assert (rec['package'], rec['package_version']) == (PACKAGE, '1.0-1')
        assert (rec['licence'], rec['member']) == (photo.licence, photo.member)
        with Image.open(path) as img:
            # 60 x 40 source, shorter side resized to 16
            assert img.size == (24, 16) == (rec['width'], rec['height'])
    assert check_pool(str(out), photos) == []
    assert pool_root(str(out)) is None  # the real table lists other photos
    assert _leftovers(out.parent) == []
    assert 'Wrote 3 photos from 1 packages' in capsys.readouterr().out


def test_fetch_is_idempotent_and_repairs(tmp_path, capsys):
    packages, photos = fake_sources(tmp_path / 'debs')
    out = tmp_path / 'pool'
    _fetch(tmp_path, out, packages, photos)
    before = {p: p.stat().st_mtime_ns for p in out.rglob('*')}
    capsys.readouterr()
    _fetch(tmp_path, out, packages, photos)
    assert 'nothing to do' in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.rglob('*')} == before
    # a missing or changed photo makes the next run fetch again
    (out / 'fake-p1' / 'fake-p1.jpg').unlink()
    (out / 'fake-p2' / 'fake-p2.jpg').write_bytes(b'not a photo')
    assert len(check_pool(str(out), photos)) == 2
    _fetch(tmp_path, out, packages, photos)
    assert 'Wrote 3 photos' in capsys.readouterr().out
    assert check_pool(str(out), photos) == []


def test_deb_checksum_mismatch_is_refused(tmp_path):
    """A .deb that is not the pinned one is not used: without apt-get the
    error lists the files to download by hand; a downloaded one with
    another sha256 is refused. Nothing is written either way."""
    packages, photos = fake_sources(tmp_path / 'debs')
    bad = {PACKAGE: replace(packages[PACKAGE], sha256='0' * 64)}
    out = tmp_path / 'pool'
    with pytest.raises(FetchError, match='not available on this machine') \
            as e:
        _fetch(tmp_path, out, bad, photos)
    assert 'pool/main/f/fake-backgrounds_1.0-1_all.deb' in str(e.value)
    assert '--deb-dir' in str(e.value)
    # an "apt-get" that downloads the (unpinned) file into its cwd
    apt = tmp_path / 'apt-get'
    apt.write_text('#!/bin/sh\ncp ' + str(tmp_path / 'debs' / '*.deb') +
                   ' .\n')
    apt.chmod(apt.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(
            FetchError,
            match=f'expected a .deb with sha256 '
            f'{"0" * 64}, but fake-backgrounds_1.0-1_all.deb has '
            f'sha256 {packages[PACKAGE].sha256}'):
        _fetch(tmp_path, out, bad, photos, apt_get=str(apt))
    assert not out.exists() and _leftovers(tmp_path) == []


def test_apt_get_download_is_used_for_missing_debs(tmp_path):
    packages, photos = fake_sources(tmp_path / 'debs')
    apt = tmp_path / 'apt-get'
    log = tmp_path / 'apt.log'
    apt.write_text(f'#!/bin/sh\necho "$@" > {log}\ncp ' +
                   str(tmp_path / 'debs' / '*.deb') + ' .\n')
    apt.chmod(apt.stat().st_mode | stat.S_IEXEC)
    fetch(
        str(tmp_path / 'pool'),
        deb_dir=None,
        packages=packages,
        photos=photos,
        short_side=16,
        apt_get=str(apt))
    assert log.read_text().split() == ['download', 'fake-backgrounds=1.0-1']
    assert check_pool(str(tmp_path / 'pool'), photos) == []


def test_photo_checksum_mismatch_is_refused(tmp_path):
    packages, photos = fake_sources(tmp_path / 'debs')
    photos[1] = replace(photos[1], sha256='f' * 64)
    out = tmp_path / 'pool'
    with pytest.raises(
            FetchError,
            match=r'p1\.png has sha256 [0-9a-f]{64}, '
            f'expected {"f" * 64}; nothing was written'):
        _fetch(tmp_path, out, packages, photos)
    assert not out.exists() and _leftovers(tmp_path) == []


def test_an_earlier_pool_is_kept_when_a_fetch_fails(tmp_path):
    packages, photos = fake_sources(tmp_path / 'debs')
    out = tmp_path / 'pool'
    _fetch(tmp_path, out, packages, photos[:2])
    with pytest.raises(FetchError):
        _fetch(tmp_path, out, packages,
               [*photos[:2], replace(photos[2], sha256='f' * 64)])
    assert check_pool(str(out), photos[:2]) == []


def test_other_folders_are_not_replaced(tmp_path):
    packages, photos = fake_sources(tmp_path / 'debs')
    out = tmp_path / 'mine'
    out.mkdir()
    (out / 'notes.txt').write_text('keep me')
    with pytest.raises(FetchError, match='not a photo pool'):
        _fetch(tmp_path, out, packages, photos)
    assert (out / 'notes.txt').read_text() == 'keep me'


def test_deb_members_errors(tmp_path):
    fake_sources(tmp_path / 'debs')
    deb = next((tmp_path / 'debs').glob('*.deb'))
    with pytest.raises(FetchError, match=r"lacks \['usr/nothing.png'\]"):
        deb_members(str(deb), ['usr/nothing.png'])
    other = tmp_path / 'x.deb'
    other.write_bytes(b'PK\x03\x04 a zip')
    with pytest.raises(FetchError, match='not a .deb'):
        deb_members(str(other), [])


def test_tool_without_apt_get_says_what_to_do(tmp_path):
    """The command line on a machine without apt-get (PATH holds nothing):
    exit 1 and the pinned .deb files to download by hand. Nothing is
    downloaded."""
    out = tmp_path / 'pool'
    proc = subprocess.run([
        sys.executable,
        str(TOOL), '--out',
        str(out), '--deb-dir',
        str(tmp_path)
    ],
                          env=dict(os.environ, PATH=str(tmp_path)),
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = proc.stderr
    assert '`apt-get` is not available' in err and '--deb-dir' in err
    for pkg in PACKAGES.values():
        assert pkg.pool_path in err and pkg.sha256 in err
    assert not out.exists()


# the benchmark's auxiliary pool (mixssl_mm/benchmark/planning.py)


@pytest.fixture
def plan_of(monkeypatch, tmp_path):
    """Plans made from the repository root (the method configs are relative
    to it) on a generated BloodMNIST-format file."""
    from mixssl_mm.benchmark.cli import parse_benchmark_args
    from mixssl_mm.benchmark.planning import Plan
    from tests._helpers.image_folders import write_npz
    monkeypatch.chdir(REPO)
    npz = write_npz(tmp_path / 'b.npz',
                    dict(train=[0, 1] * 15, val=[0, 1], test=[0, 1] * 2))

    def make(*argv):
        return Plan(
            parse_benchmark_args([
                '--preset', 'tiny', '--ann-file', npz, '--work-dir',
                str(tmp_path / 'work'), *argv
            ]))

    return make


def _pretrain_aux(plan, method='mixssl'):
    cfg = plan.configs.config(plan.pretrain_config(method))
    mixup = [
        t for t in cfg.train_dataloader.dataset.pipeline
        if t['type'] == 'CrossDomainMixup'
    ]
    return mixup[0]['aux_dataset']


def test_benchmark_mixes_with_the_fetched_pool(plan_of, tmp_path, monkeypatch):
    from mixssl_mm.benchmark.report import header_lines
    packages, photos = fake_sources(tmp_path / 'debs')
    pool = tmp_path / 'natural_photos'
    _fetch(tmp_path, pool, packages, photos)
    monkeypatch.setattr(npool, 'PHOTOS', tuple(photos))
    monkeypatch.setattr(npool, 'DEFAULT_OUT_DIR', str(pool))
    plan = plan_of('--methods', 'mixssl', 'mixssl_ra', 'rand')
    assert plan.aux.root == str(pool) and plan.aux.num_images == 3
    # labelled by photo, so R+A predicts the source photo
    assert plan.aux.classes == [p.name for p in photos]
    assert plan.pretrain_options('mixssl_ra',
                                 0)['model.aux_head.num_classes'] == 3
    assert _pretrain_aux(plan) == str(pool)
    assert (f'- Auxiliary images of MixSSL, R+A: the natural photo '
            f'pool `{pool}` (3 photographs') in '\n'.join(
                header_lines(plan, 0))
    # --aux-root still wins
    other = tmp_path / 'other'
    (other / 'a').mkdir(parents=True)
    Image.new('RGB', (8, 8)).save(other / 'a' / 'x.png')
    plan = plan_of('--methods', 'mixssl', '--aux-root', str(other))
    assert plan.aux.root == str(other)
    assert '`--aux-root`' in '\n'.join(header_lines(plan, 0))


def test_benchmark_falls_back_loudly_without_the_pool(plan_of, tmp_path,
                                                      monkeypatch, capsys):
    from mixssl_mm.benchmark.report import header_lines
    monkeypatch.setattr(npool, 'DEFAULT_OUT_DIR', str(tmp_path / 'none'))
    plan = plan_of('--methods', 'mixssl', 'rand')
    assert plan.aux is None
    err = capsys.readouterr().err
    assert 'WARNING: the natural photo pool' in err
    assert 'python tools/data/fetch_natural_photos.py' in err
    assert _pretrain_aux(plan)['type'] == 'NaturalPhotoPool'
    assert f'Auxiliary images of MixSSL: {FALLBACK_NOTE}.' in '\n'.join(
        header_lines(plan, 0))
    # methods that mix nothing do not look for the pool
    plan = plan_of('--methods', 'rand', 'simclr')
    assert plan.aux is None and 'WARNING' not in capsys.readouterr().err
    assert not os.path.exists(tmp_path / 'none')


def test_an_out_that_lies_in_a_file_is_refused_before_any_download(tmp_path):
    (tmp_path / 'file').write_text('not a folder')
    with pytest.raises(FetchError, match=f'{tmp_path}/file is a file'):
        fetch(str(tmp_path / 'file' / 'photos'), apt_get='no-apt-get-here')
