# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Chunked file hashing: the one place the package hashes files.

Used by the BloodMNIST fetch (md5 of a source file, md5 of a stream while it
is copied), by the pre-flight md5 check of a BloodMNIST file, and by the
ResNet converter (sha256 of the source, recorded in the output's ``meta``).
mmpretrain's ``mmpretrain.datasets.utils.calculate_md5`` hashes local files
the same way but knows only md5 and no copying, hence this helper.
"""
import hashlib
from typing import BinaryIO, Callable, Optional

__all__ = ['hash_stream', 'file_hash']

CHUNK_SIZE = 1 << 20  # 1 MiB: big reads, bounded memory for multi-GB files


def hash_stream(stream: BinaryIO, algorithm: str = 'md5',
                write: Optional[Callable[[bytes], object]] = None) -> str:
    """Hex digest of everything left in ``stream``, read in 1 MiB chunks.

    Args:
        stream: A binary file-like object (``open(path, 'rb')``, a zip
            member).
        algorithm: A :func:`hashlib.new` name, e.g. ``'md5'``, ``'sha256'``.
        write: Called with every chunk, e.g. ``f.write`` to copy the stream
            while hashing it (one read of a large file instead of two).

    Raises:
        ValueError: ``algorithm`` is not a hashlib algorithm.
    """
    digest = hashlib.new(algorithm)
    for chunk in iter(lambda: stream.read(CHUNK_SIZE), b''):
        digest.update(chunk)
        if write is not None:
            write(chunk)
    return digest.hexdigest()


def file_hash(path: str, algorithm: str = 'md5') -> str:
    """Hex digest of the file at ``path`` (see :func:`hash_stream`).

    Raises:
        OSError: ``path`` cannot be opened.
    """
    with open(path, 'rb') as f:
        return hash_stream(f, algorithm)
