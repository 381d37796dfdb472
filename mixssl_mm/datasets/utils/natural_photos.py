# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The natural photo pool: 62 photographs from five pinned Debian packages,
the logic behind ``tools/data/fetch_natural_photos.py`` and the check that
the pool is there (:func:`pool_root`).

MixSSL's auxiliary images stood in for Imagenette with the 16 photos of
:class:`~mixssl_mm.datasets.NaturalPhotoPool`, few enough for the un-mixing
to memorise (issue 18). This pool is 62 different photographs (landscapes,
plants, animals, objects, buildings, an aerial view), each kept only after
looking at it: drawings, renders and abstract wallpapers of the same
packages are left out. Every source is an ``_all.deb`` of Debian 12
(bookworm) main at a pinned version, checked by the sha256 of the ``.deb``
(the ``SHA256`` of the archive's ``Packages`` index) and of every member
that is used. Licences: the packages' ``debian/copyright`` (and, where it
names one, the upstream licence file or metadata); see ``docs/data.md``.

:func:`fetch` gets the ``.deb`` files with ``apt-get download`` (no root
needed, nothing installed) or takes them from ``deb_dir``, verifies them,
reads the members with the standard library (``ar`` + ``tarfile``, no
``dpkg``), resizes every photo to a shorter side of ``SHORT_SIDE`` px and
writes::

    <out>/<photo name>/<photo name>.jpg   one class folder per photo
    <out>/manifest.json                   file, source, licence, sha256

The class-folder layout is what ``CustomDataset`` labels by sub-folder,
so the folder also works as a benchmark ``--aux-root`` (R+A predicts the
source photo). Everything is built in a staging folder next to ``out`` and
moved into place at the end, so a failed run leaves the old pool (or
nothing) behind, and a run over a complete pool does nothing.
"""
import hashlib
import io
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import asdict, dataclass
from typing import Dict, Iterable, List, Optional, Sequence

from mixssl_mm.utils.hashing import file_hash
from mixssl_mm.utils.paths import file_in_the_way
from .fetch import FetchError

__all__ = [
    'DEFAULT_OUT_DIR', 'FETCH_COMMAND', 'MANIFEST', 'SHORT_SIDE', 'Package',
    'Photo', 'PACKAGES', 'PHOTOS', 'deb_members', 'read_manifest',
    'check_pool', 'pool_root', 'fetch', 'describe_pool', 'FALLBACK_NOTE',
    'benchmark_pool'
]

# relative: resolved against the current working directory at call time
DEFAULT_OUT_DIR = osp.join('data', 'natural_photos')
FETCH_COMMAND = 'python tools/data/fetch_natural_photos.py'
MANIFEST = 'manifest.json'
# shorter side of the written photos: above the 224 px training crop, and
# the whole pool stays a few MB
SHORT_SIDE = 384
JPEG_QUALITY = 90


@dataclass(frozen=True)
class Package:
    """A pinned Debian binary package.

    Attributes:
        name, version: as ``apt-get download name=version`` takes them.
        sha256, size: of the ``.deb`` (Debian 12 ``Packages`` index).
        pool_path: its path below a Debian mirror's root, for a manual
            download.
        copyright: what its ``debian/copyright`` says about the photos.
    """
    name: str
    version: str
    sha256: str
    size: int
    pool_path: str
    copyright: str


@dataclass(frozen=True)
class Photo:
    """One photograph: ``member`` of the ``package`` .deb (sha256 of the
    original file) and its licence and author as the package states them."""
    name: str
    package: str
    member: str
    sha256: str
    licence: str
    author: str


_LOMIRI = 'lomiri-wallpapers-16.04'
_MATE = 'mate-backgrounds'
_LXQT = 'lxqt-themes'
_PLASMA = 'plasma-workspace-wallpapers'
_OPENCV = 'opencv-doc'

PACKAGES: Dict[str, Package] = {
    p.name: p
    for p in [
        Package(
            _LOMIRI, '20.04.0-2',
            'a99ff6a3bfe451e4cc0682ecb3cc82e71740626d59e4845ae34a0a0e45421eab',
            15783184, 'pool/main/l/lomiri-wallpapers/'
            'lomiri-wallpapers-16.04_20.04.0-2_all.deb',
            'one Files: stanza per photo (CC-BY-4.0, CC-BY-SA-4.0, CC0-1.0)'),
        Package(
            _MATE, '1.26.0-1',
            '7bf4c2209f34b4f61ba6d24c8b58c28b361e82e4b943aae6d42c030169af9e04',
            46638500,
            'pool/main/m/mate-backgrounds/mate-backgrounds_1.26.0-1_all.deb',
            'nature/*: GPL-2+, one stanza per author'),
        Package(
            _LXQT, '1.2.0-1',
            'd518df36b515b09d36cb00b12645dd8ce170bb82bb0966297741905ce3edc8e1',
            25778012, 'pool/main/l/lxqt-themes/lxqt-themes_1.2.0-1_all.deb',
            'Files: * LGPL-2.1+ (LXQt team); the upstream '
            'wallpapers/License shipped next to the photos: CC-BY-SA-3.0'),
        Package(
            _PLASMA, '4:5.27.5-2',
            '32cd18b71c8c938a18b3b351f217c02ac590e323caa3cf322fbb875ce8892f8b',
            94047772, 'pool/main/p/plasma-workspace-wallpapers/'
            'plasma-workspace-wallpapers_5.27.5-2_all.deb',
            'Files: * GPL-2+ (KDE Visual Design Group); each wallpaper\'s '
            'metadata.json: License LGPLv3 and its author'),
        Package(
            _OPENCV, '4.6.0+dfsg-12',
            '4b12681df35878207ac7097dc66184b2ae552e4bf4ddd2af04a0f03ed0b8682a',
            95715012, 'pool/main/o/opencv/opencv-doc_4.6.0+dfsg-12_all.deb',
            'samples/data falls under Files: * Apache-2.0 AND BSD-3-Clause '
            '(OpenCV contributors; the Debian source removed the Lena '
            'images)'),
    ]
}

_L = 'usr/share/backgrounds/'
_M = 'usr/share/backgrounds/mate/nature/'
_X = 'usr/share/lxqt/wallpapers/'
_P = 'usr/share/wallpapers/'
_PI = '/contents/images/2560x1600.jpg'  # the others link to it
_O = 'usr/share/doc/opencv-doc/examples/data/'
_BY, _BYSA, _CC0 = 'CC-BY-4.0', 'CC-BY-SA-4.0', 'CC0-1.0'
_GPL = 'GPL-2+'
_LXQT_LIC = 'CC-BY-SA-3.0 (upstream); LGPL-2.1+ (debian/copyright)'
_KDE_LIC = 'LGPL-3 (metadata.json); GPL-2+ (debian/copyright)'
_CV_LIC = 'Apache-2.0 AND BSD-3-Clause (debian/copyright)'
_CV = 'OpenCV samples/data (no author named)'
_RS = 'Risto Saukonpää'

# (name, package, member, sha256 of the member, licence, author)
PHOTOS: tuple = tuple(
    Photo(*row) for row in [
        ('lomiri-bridge', _LOMIRI, _L + 'Bridge_by_Sander_Klootwijk.jpg',
         'bd86b081f9975e2b83527f71e49b9271a8ab40885428395969d9f7d834d7f050',
         _BYSA, 'Sander Klootwijk'),
        ('lomiri-dragonfly', _LOMIRI, _L + 'Dragonfly_by_Bolly.jpg',
         'af5af17841009732def24b09bb1e669a1b09d2b4bdeee7812c371101c30d2bb3',
         _BYSA, '"Bolly"'),
        ('lomiri-picture-0b', _LOMIRI, _L + 'Picture_0B_by_freespace.jpg',
         'c8c0ab18e48d9e0419fe42881112137f3afafc27dfddc29ec3a6d54c56d225ad',
         _BY, 'Trevor "Freespace"'),
        ('lomiri-picture-1a', _LOMIRI, _L + 'Picture_1A_by_freespace.jpg',
         '89e86af38d04daaef975665dc2127e9fa76f0fd68f4eea105a2d0ae3390b010b',
         _BY, 'Trevor "Freespace"'),
        ('lomiri-wine', _LOMIRI, _L + 'Wine_by_Jakkub_Mede.jpg',
         'd2e96e6d4da40dd804b3d0ce295e94de04a2d7d9b6785d42cd9d92ba58bced74',
         _BY, 'Jakub Mede'),
        ('lomiri-aitzgorri', _LOMIRI,
         _L + 'aitzgorri_by_Aitzol_Berasategi.jpg',
         '66268e7b48f8854d36a28765fac6e23ec1aee251daa6da1f64715f201020ad36',
         _BY, 'Aitzol Berasategi'),
        ('lomiri-free', _LOMIRI, _L + 'free_by_Peter_Nerlich.jpg',
         '85a5453c2fed514c75973016f3d862aca62eb7ca087618822469274ac1092373',
         _BYSA, 'Peter Nerlich'),
        ('lomiri-friends', _LOMIRI, _L + 'friends_by_Aitzol_Berasategi.jpg',
         'cc40e313c74e421edffe3403def413c16878ce14661cce7ec5915baeab35538d',
         _BY, 'Aitzol Berasategi'),
        ('lomiri-greentock', _LOMIRI, _L + 'greentock_by_Peter_Nerlich.jpg',
         'e7b20e2db9dcd6e2b278ca55873c2110b35d89cd38b04d0b18728726888e6889',
         _BYSA, 'Peter Nerlich'),
        ('lomiri-life', _LOMIRI, _L + 'life_by_Aitzol_Berasategi.jpg',
         '4c119350ead80201fe256850c3d316309ddfb4bdf10b235ce982dcde0c667c05',
         _BY, 'Aitzol Berasategi'),
        ('lomiri-picosdeeuropa', _LOMIRI,
         _L + 'picosdeeuropa_by_Aitzol_Berasategi.jpg',
         '414d0072b2f6f2c555deafeaef6e45c4fed6fa9ad26eba6560ca8803959cf97a',
         _BY, 'Aitzol Berasategi'),
        ('lomiri-seeding', _LOMIRI, _L + 'seeding_by_Clements_Engelhardt.jpg',
         'a5634d1ab5e41a3568e92d4a894a500c92b891f9ff734e50bd224d6e185a605f',
         _CC0, 'Clemens Engelhardt'),
        ('lomiri-sunset', _LOMIRI, _L + 'sunset_by_Aitzol_Berasategi.jpg',
         '474dab6a4b9f94dc76c29dfe30e9f5db4af0fd2e33fe5d695f8152b371efca18',
         _BY, 'Aitzol Berasategi'),
        ('mate-aqua', _MATE, _M + 'Aqua.jpg',
         '5c30118205982da441bf7e6a1ada636a8a0be879408140b3148280c665ed6bce',
         _GPL, 'Charles Barbin'),
        ('mate-blinds', _MATE, _M + 'Blinds.jpg',
         'f7aac0dcc2e06d0491643e84df3da1d9db7c4610f58806a880d56e074799f600',
         _GPL, 'Lennart Poettering, Andrea Cimitan'),
        ('mate-dune', _MATE, _M + 'Dune.jpg',
         '8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91',
         _GPL, 'Marco Cogoni, Hylke Bons'),
        ('mate-freshflower', _MATE, _M + 'FreshFlower.jpg',
         '972b0a0c4e5e3fa93f4f244fc84bc64b121a5eac3aaa5856f1308c1f38a02f8e',
         _GPL, 'Jens Ansorg'),
        ('mate-garden', _MATE, _M + 'Garden.jpg',
         'd3095ee09d425ef23d27155412136cf14fc3c9af76ca58b452f55e23da324e78',
         _GPL, 'Charles Barbin'),
        ('mate-greenmeadow', _MATE, _M + 'GreenMeadow.jpg',
         '8fa0de0aa4089f7319c9fb7a6d006d4cab6023e8c8853731557cff53567b4832',
         _GPL, 'Timothy Schellhase, Lapo Calamandrei'),
        ('mate-ladybird', _MATE, _M + 'LadyBird.jpg',
         'e35a9a4126ef969c90b29c038058c5a575a20eadd84106a37bf1fa9931e7b61d',
         _GPL, 'Charles Barbin'),
        ('mate-raindrops', _MATE, _M + 'RainDrops.jpg',
         '3e4ea9671c28c90a86cf67b3db9daf18c4741587c596333a7529ca589aaa0c16',
         _GPL, '"blackcombwhistler07"'),
        ('mate-storm', _MATE, _M + 'Storm.jpg',
         '77ca53077831d3237f73393a91fc879158abc046d852941c26e90de336356957',
         _GPL, 'Sergey Nazarov'),
        ('mate-twowings', _MATE, _M + 'TwoWings.jpg',
         '665e5abf8a5399070a91a9a8e455fe071e5b61697ff78fdeda4e9843ef545aeb',
         _GPL, 'Charles Barbin, Hylke Bons'),
        ('mate-wood', _MATE, _M + 'Wood.jpg',
         '19c78500ac00a622e19907ab9cc7d06d46fe08c4a6142759a84195696150ec07',
         _GPL, 'Jean-François Fortin Tam'),
        ('mate-yellowflower', _MATE, _M + 'YellowFlower.jpg',
         '254da96256acb7add685679775a04d1e4a5bc8cd13e5a5a3d61351ce198a5306',
         _GPL, 'Charles Barbin'),
        ('lxqt-butterfly-kenneth-wimer', _LXQT,
         _X + 'Butterfly-Kenneth-Wimer.jpg',
         'c237c26f6f0b18db3afa62a0eff13cb8208b79a1ef35aaadcb745d8f9faef146',
         _LXQT_LIC, 'Kenneth Wimer'),
        ('lxqt-valendas', _LXQT, _X + 'Valendas.png',
         'f2d275c51d116942cea8e7d80d30c7d3c130349a0695caf2aa235f926ae15759',
         _LXQT_LIC, 'LXQt team'),
        ('lxqt-after-the-rain', _LXQT, _X + 'after-the-rain.jpg',
         'e6cb8b3e09b904cc493ff17fddcd564d4e46a1761d05adf972c285a1fd878234',
         _LXQT_LIC, 'stefonarch'),
        ('lxqt-appleflower', _LXQT, _X + 'appleflower.png',
         'bae8a8eb8274b29509f1cbbfe250081331c5704a1fea25d5052166a0451e67f3',
         _LXQT_LIC, 'stefonarch'),
        ('lxqt-beam', _LXQT, _X + 'beam.png',
         '3d199194b048cb793c0ad558337cda3e16f14cd054168d1d813620e24a0a5659',
         _LXQT_LIC, 'stefonarch'),
        ('lxqt-butterfly', _LXQT, _X + 'butterfly.png',
         '13175434d99075e075de7321942e66169e3c99ac9416024dcf4123bd3b38749c',
         _LXQT_LIC, 'stefonarch'),
        ('lxqt-cloud', _LXQT, _X + 'cloud.png',
         '522dbf79dfaff751cf8ef2f337c9d196a231fa096bc38806a76ce048b8c7b5a2',
         _LXQT_LIC, 'LXQt team'),
        ('lxqt-drop', _LXQT, _X + 'drop.png',
         '3b726aea9a6f8af36431c6f1974f982f7f4c5a4443499500bda31be27e4ffde8',
         _LXQT_LIC, 'stefonarch'),
        ('lxqt-flowers', _LXQT, _X + 'flowers.png',
         '3a935d8be4d6c9784f9079ff2814acd2de2c8406e9fe584be03e90264f37c371',
         _LXQT_LIC, 'stefonarch'),
        ('lxqt-fog', _LXQT, _X + 'fog.jpg',
         'a8235344ee6b5ab1b6de3ccef731bcc0e6509cf33ce832db87eae1eb75987083',
         _LXQT_LIC, 'stefonarch'),
        ('lxqt-this-is-not-windows', _LXQT, _X + 'this-is-not-windows.jpg',
         '2d885e0438c0ab244f818d33d8f745a1cc486558462faf9bf3948675c68ac227',
         _LXQT_LIC, 'stefonarch'),
        ('plasma-bythewater', _PLASMA, _P + 'BytheWater' + _PI,
         'c272434ef39f2abf1ed48a15a8910088020f3165329a5092f3940ec9464bc05f',
         _KDE_LIC, 'Maciej Wiklo'),
        ('plasma-coldripple', _PLASMA, _P + 'ColdRipple' + _PI,
         '05bef6722fc0ed81292cceb3ed026c38d17e510f3c84be7d68610c2b1a723c3f',
         _KDE_LIC, _RS),
        ('plasma-darkesthour', _PLASMA, _P + 'DarkestHour' + _PI,
         '8e3703fae3a3c217b1fc2b399b706cd3720584268d071ba153e4809daa55f1ce',
         _KDE_LIC, _RS),
        ('plasma-eveningglow', _PLASMA, _P + 'EveningGlow' + _PI,
         '586682dcb362b9f620068f10138f87d0d3649939aef238adc5807cb951976a7a',
         _KDE_LIC, 'Ian Hex'),
        ('plasma-fallenleaf', _PLASMA, _P + 'FallenLeaf' + _PI,
         '95603a6560c7e8d50e0e03b3f4adbe39c5258c72528e74e4ecaea1daf4e499de',
         _KDE_LIC, 'Martin Klapetek'),
        ('plasma-grey', _PLASMA, _P + 'Grey' + _PI,
         '88c31d8944b7e6935d1b9a296654c692f0772cb512491713eb30a972a604c0ed',
         _KDE_LIC, 'Sigi Sagi'),
        ('plasma-kite', _PLASMA, _P + 'Kite' + _PI,
         'bdca288ce296a981e80659c021cf707caddc702c0c8d4247e60bd618476d47f8',
         _KDE_LIC, _RS),
        ('plasma-onestandsout', _PLASMA, _P + 'OneStandsOut' + _PI,
         'cb507baf1dafdcae362264f3aba9483ed4be5f6c9fdd770f0ec0920c6d9e80fd',
         _KDE_LIC, _RS),
        ('plasma-path', _PLASMA, _P + 'Path' + _PI,
         '7477457d7f17b736259f1b021864778ad4ba802cf3214e6728181ff29126bba8',
         _KDE_LIC, _RS),
        ('plasma-summer-1am', _PLASMA, _P + 'summer_1am' + _PI,
         'c868b50789591dd42910153c768053f1ba0a98cb36bbfc2b7a96a1045d0477f8',
         _KDE_LIC, _RS),
        ('plasma-colorfulcups', _PLASMA, _P + 'ColorfulCups' + _PI,
         '6e0f3a72feb5a4a9fec191b77e34874c3c69e2d93040deb3f07773e73385023d',
         _KDE_LIC, 'Dmitri Popov'),
        ('opencv-aero1', _OPENCV, _O + 'aero1.jpg',
         'd9a69191f6e3642ea361bc3c62e677b2f40fe6534b78da540f4155e0734b59ef',
         _CV_LIC, _CV),
        ('opencv-aloel', _OPENCV, _O + 'aloeL.jpg',
         'cce5736808efe80d9f04b118dbb978c344d4345672b332718c3e039a3eeb8eee',
         _CV_LIC, _CV),
        ('opencv-apple', _OPENCV, _O + 'apple.jpg',
         'e86879de3d9a807dedc742a8f464f39e6b74bbb531a1fba3583155d94997d1cd',
         _CV_LIC, _CV),
        ('opencv-board', _OPENCV, _O + 'board.jpg',
         '4c9a24ba67138ad5486d550f586cc5dd1161be112f1c1bea336d6c550cdf255f',
         _CV_LIC, _CV),
        ('opencv-building', _OPENCV, _O + 'building.jpg',
         '742a1baad62ac82e91e718e77eedf7e85c2eddc4badfb8c87c6cbc86c45a8b07',
         _CV_LIC, _CV),
        ('opencv-butterfly', _OPENCV, _O + 'butterfly.jpg',
         '34a99716b78ded10eae87b4880de739d3e68cc7dd1a96812bb28f469d5eeaea8',
         _CV_LIC, _CV),
        ('opencv-chicky-512', _OPENCV, _O + 'chicky_512.png',
         '4d2cf040de084fd3f34d5e3f96f1251faaa4787c1ac3b548fec5809a0d01854e',
         _CV_LIC, _CV),
        ('opencv-fruits', _OPENCV, _O + 'fruits.jpg',
         '9c031d80a1c52da5eca790db896baffec6a7e52bf786cdb7bbfca5c7f880e6a1',
         _CV_LIC, _CV),
        ('opencv-graf1', _OPENCV, _O + 'graf1.png',
         '1504b769303c7bde00fa578eeaad3c68e02aceabeb1242e556f1f8d19e4bdea5',
         _CV_LIC, _CV),
        ('opencv-home', _OPENCV, _O + 'home.jpg',
         '23b8cf46a1965d0ec33459b875aed43187802834db49e0daa9fa2cc842e9d8d2',
         _CV_LIC, _CV),
        ('opencv-leuvena', _OPENCV, _O + 'leuvenA.jpg',
         'b2977cdbd9fb3f94dadd6f76cf586d145676deb8a22b5f0f42149d21c058c09f',
         _CV_LIC, _CV),
        ('opencv-orange', _OPENCV, _O + 'orange.jpg',
         '152c20d2f380ac985de25e474e1a5f06ed34b932191342099b8272a63a15a079',
         _CV_LIC, _CV),
        ('opencv-rubberwhale1', _OPENCV, _O + 'rubberwhale1.png',
         'eb312435369dac9efcc92f7e098edbd9ed8d7e6dfede8b3b4d8e3702cd80b796',
         _CV_LIC, _CV),
        ('opencv-squirrel-cls', _OPENCV, _O + 'squirrel_cls.jpg',
         '20bb6e8ae96918a36c9886b6d48e54eedeb3948591e1485c206bc1dc60c8dc8b',
         _CV_LIC, _CV),
        ('opencv-stuff', _OPENCV, _O + 'stuff.jpg',
         '21cd00afbdd0727f445dd91c0a09633e6345ed5b05a3d2355453a1f3c314c6c5',
         _CV_LIC, _CV),
    ])


def deb_members(deb: str, members: Iterable[str]) -> Dict[str, bytes]:
    """Read ``members`` (paths without a leading ``./``) out of a ``.deb``.

    A ``.deb`` is an ``ar`` archive whose ``data.tar.{xz,gz,bz2}`` holds
    the files; both are read with the standard library, so this works
    without ``dpkg`` (e.g. on a non-Debian CI).

    Raises:
        FetchError: not an ``ar`` archive, no readable ``data.tar``, or a
            member is missing.
    """
    wanted = set(members)
    with open(deb, 'rb') as f:
        if f.read(8) != b'!<arch>\n':
            raise FetchError(f'{deb} is not a .deb (no ar header).')
        data = None
        while True:
            header = f.read(60)
            if len(header) < 60:
                break
            name = header[:16].decode().strip().rstrip('/')
            size = int(header[48:58].decode().strip())
            if name.startswith('data.tar'):
                data = (name, f.read(size))
                break
            f.seek(size + size % 2, os.SEEK_CUR)  # ar pads to even offsets
    if data is None:
        raise FetchError(f'{deb} has no data.tar member.')
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data[1]), mode='r:*')
    except tarfile.TarError as e:
        raise FetchError(
            f'{deb}: cannot read its {data[0]} ({e}); Python reads xz, gz '
            'and bz2 (not zstd). Use the pinned package version.') from e
    found = {}
    with tar:
        for info in tar:
            path = info.name[2:] if info.name.startswith('./') else info.name
            if path in wanted and info.isfile():
                found[path] = tar.extractfile(info).read()
    missing = sorted(wanted - set(found))
    if missing:
        raise FetchError(f'{osp.basename(deb)} lacks {missing}; is it the '
                         'pinned version?')
    return found


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _debs_of(folder: Optional[str], package: Package) -> List[str]:
    """The ``<name>_*.deb`` files of ``package`` in ``folder``, sorted."""
    if not folder or not osp.isdir(folder):
        return []
    return [
        osp.join(folder, f) for f in sorted(os.listdir(folder))
        if f.startswith(package.name + '_') and f.endswith('.deb')
    ]


def _find_deb(folder: Optional[str], package: Package) -> Optional[str]:
    """The first of :func:`_debs_of` with the pinned sha256, or None."""
    return next((path for path in _debs_of(folder, package)
                 if file_hash(path, 'sha256') == package.sha256), None)


def _manual_hint(packages: Sequence[Package]) -> str:
    return ('Download these files from a Debian mirror (the paths below its '
            'root; older versions stay in Debian\'s snapshot archive) into '
            'one folder and rerun with --deb-dir FOLDER:\n' +
            '\n'.join(f'  {p.pool_path}  sha256 {p.sha256}' for p in packages))


def _apt_download(packages: Sequence[Package], folder: str,
                  apt_get: str) -> None:
    """``apt-get download name=version`` into ``folder`` (no root needed,
    nothing is installed)."""
    exe = shutil.which(apt_get)
    if exe is None:
        raise FetchError(f'`{apt_get}` is not available on this machine '
                         '(not Debian/Ubuntu?). ' + _manual_hint(packages))
    cmd = [exe, 'download'] + [f'{p.name}={p.version}' for p in packages]
    size = sum(p.size for p in packages) / 2**20
    print(f'Downloading {len(packages)} Debian packages ({size:.0f} MB, '
          'not installed): ' + ' '.join(cmd))
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = '\n'.join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
        raise FetchError(
            f'`apt-get download` failed (exit {proc.returncode}):\n{tail}\n'
            'Run `apt-get update` first (as root) if the versions are not '
            'found. ' + _manual_hint(packages))


def _resize(data: bytes, short_side: int):
    """The photo as an RGB PIL image with its shorter side ``short_side``
    (never enlarged)."""
    from PIL import Image
    img = Image.open(io.BytesIO(data))
    img = img.convert('RGB')
    scale = short_side / min(img.size)
    if scale < 1:
        size = tuple(max(1, round(s * scale)) for s in img.size)
        img = img.resize(size, Image.LANCZOS)
    return img


def read_manifest(root: str) -> List[dict]:
    """The pool's photos as listed in ``<root>/manifest.json``.

    Raises:
        FetchError: no manifest (the pool was not fetched) or a bad one.
    """
    path = osp.join(root, MANIFEST)
    if not osp.isfile(path):
        raise FetchError(
            f'{path} does not exist: the natural photo pool is not fetched. '
            f'Run `{FETCH_COMMAND}` (or pass its --out folder as data_root).')
    try:
        with open(path) as f:
            photos = json.load(f)['photos']
        [(p['name'], p['file'], p['sha256']) for p in photos]
    except (ValueError, KeyError, TypeError) as e:
        raise FetchError(f'{path} is not a photo-pool manifest ({e}); rerun '
                         f'`{FETCH_COMMAND}`.') from e
    return photos


def check_pool(root: str,
               photos: Optional[Sequence[Photo]] = None) -> List[str]:
    """Problems of the pool at ``root`` against ``photos`` (default:
    :data:`PHOTOS`; empty: the pool is complete and every file has the sha256
    its manifest records)."""
    photos = PHOTOS if photos is None else photos
    try:
        listed = read_manifest(root)
    except FetchError as e:
        return [str(e)]
    problems = []
    if sorted(p['name'] for p in listed) != sorted(p.name for p in photos):
        problems.append(f'{root}/{MANIFEST} lists other photos than this '
                        'version of the fetch tool')
    for p in listed:
        path = osp.join(root, p['file'])
        if not osp.isfile(path):
            problems.append(f'{path} is missing')
        elif file_hash(path, 'sha256') != p['sha256']:
            problems.append(f'{path} has changed (sha256)')
    return problems


def pool_root(root: Optional[str] = None) -> Optional[str]:
    """The absolute folder of the fetched pool (default
    ``./data/natural_photos``), or None when it is not there or
    incomplete."""
    root = osp.abspath(root or DEFAULT_OUT_DIR)
    return root if not check_pool(root) else None


def fetch(out: Optional[str] = None,
          deb_dir: Optional[str] = None,
          packages: Optional[Dict[str, Package]] = None,
          photos: Sequence[Photo] = PHOTOS,
          short_side: int = SHORT_SIDE,
          apt_get: str = 'apt-get') -> str:
    """Make sure the photo pool is at ``out``; return its folder.

    Args:
        out: target folder; None: ``./data/natural_photos``.
        deb_dir: a folder with the ``.deb`` files already downloaded (any
            file ``<name>_*.deb`` with the pinned sha256 is used); packages
            not found there are downloaded with ``apt-get``.
        packages, photos: the sources (default: :data:`PACKAGES`,
            :data:`PHOTOS`); tests pass generated ones.
        short_side: shorter side of the written photos in px.
        apt_get: the ``apt-get`` executable.

    Raises:
        FetchError: no apt-get and no ``deb_dir``, a download failed, or a
            ``.deb`` or a photo does not have its pinned sha256; nothing is
            written then.
    """
    packages = PACKAGES if packages is None else packages
    out = osp.abspath(out or DEFAULT_OUT_DIR)
    in_the_way = file_in_the_way(out)
    if in_the_way is not None:  # before any download
        raise FetchError(f'--out {out}: {in_the_way} is a file, not a '
                         'folder; give a new or empty folder.')
    if not check_pool(out, photos):
        print(f'{out} already holds the {len(photos)} photos of its '
              'manifest; nothing to do.')
        return out
    if osp.isdir(out) and os.listdir(out) and \
            not osp.isfile(osp.join(out, MANIFEST)):
        raise FetchError(
            f'{out} is a folder with other files and no {MANIFEST}; it is not '
            'a photo pool, and fetching replaces the folder. Pass an empty '
            'or new folder as --out.')
    used = [packages[n] for n in dict.fromkeys(p.package for p in photos)]
    tmp = tempfile.mkdtemp(prefix='fetch_natural_photos_')
    parent = osp.dirname(out)
    os.makedirs(parent, exist_ok=True)
    # same filesystem as out: the final rename is atomic
    stage = tempfile.mkdtemp(prefix='.natural_photos.', dir=parent)
    try:
        debs = {p.name: _find_deb(deb_dir, p) for p in used}
        missing = [p for p in used if debs[p.name] is None]
        if missing:
            _apt_download(missing, tmp, apt_get)
        for p in missing:
            debs[p.name] = _find_deb(tmp, p)
            if debs[p.name] is None:
                found = _debs_of(tmp, p)
                got = (f'{osp.basename(found[0])} has sha256 '
                       f'{file_hash(found[0], "sha256")}'
                       if found else 'no file was downloaded')
                raise FetchError(
                    f'{p.name}={p.version}: expected a .deb with sha256 '
                    f'{p.sha256}, but {got}; nothing was written. ' +
                    _manual_hint([p]))
        records = []
        for pkg in used:
            mine = [p for p in photos if p.package == pkg.name]
            data = deb_members(debs[pkg.name], [p.member for p in mine])
            for p in mine:
                actual = _sha256(data[p.member])
                if actual != p.sha256:
                    raise FetchError(
                        f'{pkg.name}: {p.member} has sha256 {actual}, '
                        f'expected {p.sha256}; nothing was written.')
                img = _resize(data[p.member], short_side)
                rel = f'{p.name}/{p.name}.jpg'
                os.makedirs(osp.join(stage, p.name))
                img.save(osp.join(stage, rel), quality=JPEG_QUALITY)
                records.append(
                    dict(
                        asdict(p),
                        file=rel,
                        width=img.size[0],
                        height=img.size[1],
                        sha256=file_hash(osp.join(stage, rel), 'sha256'),
                        source_sha256=p.sha256,
                        package_version=pkg.version,
                        package_sha256=pkg.sha256))
        with open(osp.join(stage, MANIFEST), 'w') as f:
            json.dump(
                dict(
                    fetched_with=FETCH_COMMAND,
                    short_side=short_side,
                    packages=[asdict(p) for p in used],
                    photos=records),
                f,
                indent=1,
                ensure_ascii=False)
        if osp.isdir(out):
            shutil.rmtree(out)
        os.replace(stage, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(stage, ignore_errors=True)
    print(f'Wrote {len(photos)} photos from {len(used)} packages to {out}.')
    return out


def describe_pool(root: str) -> str:
    """How a benchmark's results.md names the fetched pool at ``root``."""
    return (f'the natural photo pool `{root}` ({len(read_manifest(root))} '
            f'photographs from Debian packages, `{FETCH_COMMAND}`; one class '
            'per photo)')


# results.md's words when the pool is missing and the benchmark falls back
FALLBACK_NOTE = (
    'the offline photo pool (NaturalPhotoPool, 16 photos) — the natural '
    f'photo pool was not fetched (`{FETCH_COMMAND}`)')


def benchmark_pool(root: Optional[str] = None) -> Optional[str]:
    """The auxiliary folder of a benchmark run without ``--aux-root``: the
    fetched pool (absolute), or None after a loud warning that the run falls
    back to the 16 photos of ``NaturalPhotoPool``.

    The benchmark falls back rather than refusing so that it keeps running
    where nothing can be downloaded (its own tests); its results.md then says
    which pool was used (:data:`FALLBACK_NOTE`).
    """
    found = pool_root(root)
    if found is None:
        where = osp.abspath(root or DEFAULT_OUT_DIR)
        print(
            '\n' + '!' * 79 + f'\nWARNING: the natural photo pool ({where}) '
            'is not fetched or is incomplete,\nso MixSSL mixes with the 16 '
            'photos of NaturalPhotoPool, which the un-mixing can\nmemorise '
            '(results.md says so). Fetch it first (about 30 s, 265 MB of '
            f'Debian packages):\n    {FETCH_COMMAND}\n' + '!' * 79 + '\n',
            file=sys.stderr)
    return found
