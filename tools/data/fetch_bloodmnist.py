#!/usr/bin/env python
"""Fetch the official BloodMNIST ``.npz`` into ``data/medmnist/``.

Without ``--src`` the 28x28 ``bloodmnist.npz`` (md5
``7053d0359d879ad8a5505303e11de1dc``) is taken from the PyPI wheel
``kosmos-core==0.6.2`` (only downloaded, never installed). ``--src`` copies
an official MedMNIST file that you already have, any size variant; its md5
must be one of the official ones. A failed run leaves nothing behind.
The logic (and the md5 table): ``mixssl_mm/datasets/utils/fetch.py``.

Examples::

    python tools/data/fetch_bloodmnist.py
    python tools/data/fetch_bloodmnist.py --src ~/Downloads/bloodmnist_64.npz
    python tools/data/fetch_bloodmnist.py --out /data/medmnist
"""
import argparse
import os.path as osp
import sys

from mixssl_mm.datasets.utils.fetch import (BLOODMNIST_MD5, FetchError,
                                            copy_from_src, fetch, summary)
from mixssl_mm.utils.cli_help import HelpFormatter

# this checkout's data/medmnist (the package's default is ./data/medmnist,
# relative to the working directory; the same folder when run from the root)
CHECKOUT_DATA = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'data',
    'medmnist')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=HelpFormatter,
        description='Fetch the official BloodMNIST npz (md5-verified) into '
        'data/medmnist/.')
    parser.add_argument(
        '--out',
        default=None,
        help='output directory (the file keeps its official name) or a path '
        'ending in .npz. Default: <repo>/data/medmnist/')
    parser.add_argument(
        '--src',
        default=None,
        help='copy an official MedMNIST BloodMNIST npz you already have (any '
        'of ' + ', '.join(BLOODMNIST_MD5) + ') instead of downloading; its '
        'md5 is checked against the official table.')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.src is not None:
            path = copy_from_src(args.src, args.out, CHECKOUT_DATA)
        else:
            path = fetch(args.out, CHECKOUT_DATA)
    except FetchError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'BloodMNIST is at {path}')
    print('\n'.join(summary(path)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
