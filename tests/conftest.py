import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def cache(tmp_path, monkeypatch):
    "A private checkpoint cache for the test."
    monkeypatch.setenv('SNN_ROBUST_CACHE', str(tmp_path / 'cache'))
    return tmp_path / 'cache'
