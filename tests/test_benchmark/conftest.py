from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo_cwd(monkeypatch):
    """Run from the repository root, as the tools are: the method configs
    are relative to it."""
    monkeypatch.chdir(REPO)
    return REPO


@pytest.fixture(autouse=True)
def without_natural_photo_pool(monkeypatch, tmp_path):
    """Plan as if data/natural_photos were not fetched, so these tests do not
    depend on it: MixSSL keeps the shipped configs' NaturalPhotoPool (with a
    warning). tests/test_tools/test_fetch_natural_photos.py plans with a
    fetched pool."""
    from mixssl_mm.datasets.utils import natural_photos
    monkeypatch.setattr(natural_photos, 'DEFAULT_OUT_DIR',
                        str(tmp_path / 'natural_photos_not_fetched'))
