"""A generated stand-in for the Debian packages of the natural photo pool:
a real ``.deb`` layout (``ar`` archive with ``debian-binary``,
``control.tar.xz`` and ``data.tar.xz``) holding a few small generated
photos, and the ``Package``/``Photo`` tables that pin it."""
import hashlib
import io
import tarfile
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

from mixssl_mm.datasets.utils.natural_photos import Package, Photo

PACKAGE = 'fake-backgrounds'
VERSION = '1.0-1'
PREFIX = 'usr/share/backgrounds/fake/'


def _tar_xz(files: Dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:xz') as tar:
        for name, data in files.items():
            info = tarfile.TarInfo('./' + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_deb(path: Path, files: Dict[str, bytes]) -> Path:
    """Write a ``.deb`` whose data.tar.xz holds ``files`` (member path ->
    bytes)."""
    entries = [('debian-binary', b'2.0\n'),
               ('control.tar.xz', _tar_xz({'control': b'Package: fake\n'})),
               ('data.tar.xz', _tar_xz(files))]
    with open(path, 'wb') as f:
        f.write(b'!<arch>\n')
        for name, data in entries:
            f.write(f'{name:<16}{0:<12}{0:<6}{0:<6}{"100644":<8}'
                    f'{len(data):<10}`\n'.encode())
            f.write(data)
            if len(data) % 2:
                f.write(b'\n')
    return path


def photo_bytes(seed: int, size=(60, 40), fmt='PNG') -> bytes:
    """A small generated RGB image (``size`` = (width, height))."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format=fmt)
    return buf.getvalue()


def fake_sources(
    deb_dir: Path,
    num: int = 3,
    size=(60, 40)) -> Tuple[Dict[str, Package], List[Photo]]:
    """Write ``fake-backgrounds_1.0-1_all.deb`` with ``num`` photos into
    ``deb_dir``; return the tables that pin it and them."""
    deb_dir.mkdir(parents=True, exist_ok=True)
    files = {f'{PREFIX}p{i}.png': photo_bytes(i, size) for i in range(num)}
    deb = write_deb(deb_dir / f'{PACKAGE}_{VERSION}_all.deb', files)
    package = Package(PACKAGE, VERSION,
                      hashlib.sha256(deb.read_bytes()).hexdigest(),
                      deb.stat().st_size, f'pool/main/f/{deb.name}',
                      'CC0-1.0 (generated)')
    photos = [
        Photo(f'fake-p{i}', PACKAGE, m,
              hashlib.sha256(data).hexdigest(), 'CC0-1.0', 'tests')
        for i, (m, data) in enumerate(files.items())
    ]
    return {PACKAGE: package}, photos
