#!/usr/bin/env python
"""Fetch the natural photo pool (62 photographs) into ``data/natural_photos/``.

MixSSL's auxiliary pool for real runs (issue 18): the photographs shipped by
five pinned Debian 12 packages (lomiri-wallpapers-16.04, mate-backgrounds,
lxqt-themes, plasma-workspace-wallpapers, opencv-doc; about 278 MB of
``.deb``, downloaded with ``apt-get download``, never installed). Every
``.deb`` and every photo is checked against its pinned sha256; the photos are
resized to a shorter side of 384 px (about 4 MB in all) and listed with their
source, licence and sha256 in ``manifest.json``. A failed run leaves nothing
behind; a run over a complete pool does nothing. Without apt-get (not
Debian/Ubuntu), download the listed ``.deb`` files by hand and pass
``--deb-dir``. Sources and licences: docs/data.md. The logic:
``mixssl_mm/datasets/utils/natural_photos.py``.

Examples::

    python tools/data/fetch_natural_photos.py
    python tools/data/fetch_natural_photos.py --deb-dir ~/Downloads/debs
    python tools/data/fetch_natural_photos.py --out /data/natural_photos
"""
import argparse
import os.path as osp
import sys

from mixssl_mm.datasets.utils.fetch import FetchError
from mixssl_mm.datasets.utils.natural_photos import fetch

# this checkout's data/natural_photos (the package's default is
# ./data/natural_photos, the same folder when run from the root)
CHECKOUT_DATA = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'data',
    'natural_photos')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Fetch the natural photo pool (62 photographs from pinned '
        'Debian packages, sha256-verified) into data/natural_photos/.')
    parser.add_argument(
        '--out',
        default=None,
        help='output folder (replaced as a whole; must be new, empty or an '
        'earlier pool). Default: <repo>/data/natural_photos/')
    parser.add_argument(
        '--deb-dir',
        default=None,
        help='folder with the .deb files already downloaded (packages not '
        'found there are downloaded with apt-get download)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        path = fetch(args.out or CHECKOUT_DATA, deb_dir=args.deb_dir)
    except FetchError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'The natural photo pool is at {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
