"""mixssl_mm.utils.hashing: the one chunked file hash."""
import hashlib
import io

from mixssl_mm.utils import hashing
from mixssl_mm.utils.hashing import file_hash, hash_stream


def test_digests_match_hashlib_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(hashing, 'CHUNK_SIZE', 7)  # many chunks
    data = bytes(range(256)) * 5
    path = tmp_path / 'f.bin'
    path.write_bytes(data)
    assert file_hash(str(path)) == hashlib.md5(data).hexdigest()
    assert file_hash(str(path), 'sha256') == hashlib.sha256(data).hexdigest()
    copied = io.BytesIO()
    assert hash_stream(io.BytesIO(data), write=copied.write) == \
        hashlib.md5(data).hexdigest()
    assert copied.getvalue() == data
