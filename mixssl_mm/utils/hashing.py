# Copyright (c) mixssl_mm contributors. All rights reserved.
"""File hashing: the one place the package hashes files.

Used by the BloodMNIST fetch (md5 of a source file and of the copy it
installs), by the pre-flight md5 check of a BloodMNIST file, and by the
ResNet converter (sha256 of the source, recorded in the output's ``meta``).
"""
import hashlib

__all__ = ['file_hash']


def file_hash(path: str, algorithm: str = 'md5') -> str:
    """Hex digest of the file at ``path``: :func:`hashlib.file_digest`
    (Python >= 3.11), read in chunks so multi-GB files need little memory.

    Args:
        path: The file.
        algorithm: A :func:`hashlib.new` name, e.g. ``'md5'``, ``'sha256'``.

    Raises:
        OSError: ``path`` cannot be opened.
        ValueError: ``algorithm`` is not a hashlib algorithm.
    """
    with open(path, 'rb') as f:
        if hasattr(hashlib, 'file_digest'):
            return hashlib.file_digest(f, algorithm).hexdigest()
        # Python < 3.11 (setup.py allows 3.9): what file_digest does
        digest = hashlib.new(algorithm)
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
        return digest.hexdigest()
