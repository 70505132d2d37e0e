import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from snn_robust.data import DEBIAN_FASHION_MNIST

CLI = str(Path(sys.executable).parent / 'snn-robust')


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def cache(tmp_path, monkeypatch):
    "A private checkpoint cache for the test."
    monkeypatch.setenv('SNN_ROBUST_CACHE', str(tmp_path / 'cache'))
    return tmp_path / 'cache'


def reproduce_args(root: Path, *extra) -> list[str]:
    "`snn-robust reproduce` on the smoke profile, CPU, with figures, runs and cache under `root`."
    return [CLI, 'reproduce', '--profile', 'smoke', '--device', 'cpu', '--figures', str(root / 'figures'), '--runs', str(root / 'runs'), *extra]


def reproduce_env(root: Path, **extra) -> dict:
    return {**os.environ, 'SNN_ROBUST_CACHE': str(root / 'cache'), **extra}


def snapshot(root: Path, profile: str = 'smoke') -> dict[str, bytes]:
    "The tables, report and per-notebook numbers of a finished run under `root`, by relative path."
    files = [*sorted((root / 'figures' / profile).glob('*.csv')), root / 'figures' / profile / 'REPORT.md',
             *sorted((root / 'runs' / profile).glob('seed*/*/results.json'))]
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


def folder_bytes(root: Path, profile: str = 'smoke') -> dict[str, bytes]:
    "Every file of `figures/<profile>` under `root`, by its path in that folder."
    folder = root / 'figures' / profile
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob('*')) if p.is_file()}


@dataclass
class SmokeRun:
    root: Path                 # figures/, runs/ and cache/ of the run
    result: subprocess.CompletedProcess
    seconds: float
    outputs: dict[str, bytes]  # `snapshot` taken right after the run, before any test touches the folders
    files: dict[str, bytes]    # `folder_bytes` taken then too


@pytest.fixture(scope='session')
def smoke_reproduce(tmp_path_factory) -> SmokeRun:
    "One full `reproduce --profile smoke` (seed 0, every notebook, fresh cache), shared by the tests that need one."
    if not DEBIAN_FASHION_MNIST.exists(): pytest.skip('needs FashionMNIST (make setup installs it)')
    import time
    root = tmp_path_factory.mktemp('smoke_seed0')
    start = time.time()
    result = subprocess.run(reproduce_args(root), capture_output=True, text=True, timeout=1800, env=reproduce_env(root))
    assert result.returncode == 0, result.stderr[-3000:]
    return SmokeRun(root, result, time.time() - start, snapshot(root), folder_bytes(root))
