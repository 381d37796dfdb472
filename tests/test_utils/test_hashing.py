"""mixssl_mm.utils.hashing: the one file hash (hashlib.file_digest)."""
import hashlib

import pytest

from mixssl_mm.utils import hashing
from mixssl_mm.utils.hashing import file_hash


@pytest.mark.parametrize('file_digest', [True, False])
def test_digests_match_hashlib(tmp_path, monkeypatch, file_digest):
    if not file_digest:  # the Python < 3.11 fallback
        monkeypatch.delattr(hashing.hashlib, 'file_digest', raising=False)
    elif not hasattr(hashlib, 'file_digest'):
        pytest.skip('hashlib.file_digest needs Python >= 3.11')
    data = bytes(range(256)) * 5000  # > 1 MiB: several chunks
    path = tmp_path / 'f.bin'
    path.write_bytes(data)
    assert file_hash(str(path)) == hashlib.md5(data).hexdigest()
    assert file_hash(str(path), 'sha256') == hashlib.sha256(data).hexdigest()
    with pytest.raises(ValueError):
        file_hash(str(path), 'no-such-hash')
