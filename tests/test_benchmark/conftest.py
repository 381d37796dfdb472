from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo_cwd(monkeypatch):
    """Run from the repository root, as the tools are: the method configs
    are relative to it."""
    monkeypatch.chdir(REPO)
    return REPO
