"The `snn-robust` command end to end, on the smoke profile, in a private cache."
import os
import subprocess
import sys
from pathlib import Path

import pytest

from snn_robust.data import DEBIAN_FASHION_MNIST

CLI = [str(Path(sys.executable).parent / 'snn-robust')]


def run(args, cache):
    env = {**os.environ, 'SNN_ROBUST_CACHE': str(cache)}
    return subprocess.run(CLI + args, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.exists(), reason='needs FashionMNIST (make setup installs it)')
def test_train_smoke_end_to_end_and_cache_hit(tmp_path):
    first = run(['train', '--profile', 'smoke', '--device', 'cpu'], tmp_path)
    assert first.returncode == 0, first.stderr
    assert '| BNN |' in first.stdout and '| IM |' in first.stdout and '(paper' not in first.stdout  # only the paper profile meets the paper
    checkpoints = sorted((tmp_path / 'models').glob('*.pt'))
    assert [p.name.split('-')[0] for p in checkpoints] == ['bnn', 'im']
    second = run(['train', '--profile', 'smoke', '--device', 'cpu'], tmp_path)
    assert second.returncode == 0 and second.stdout.split('Test accuracy')[1] == first.stdout.split('Test accuracy')[1]
    assert sorted((tmp_path / 'models').glob('*.pt')) == checkpoints


@pytest.mark.parametrize('args, message', [
    (['train', '--profile', 'huge'], "profile must be one of ('smoke', 'quick', 'paper')"),
    (['train', '--seed', '-1'], 'seed must be a non-negative integer'),
    (['train', '--seed', 'x'], 'seed must be a non-negative integer'),
    (['train', '--models', 'bnn', 'gan'], 'invalid choice'),
    (['train', '--device', 'cuda:7' if not __import__('torch').cuda.is_available() else 'tpu'], 'device'),
    (['fly'], 'invalid choice'),
])
def test_bad_arguments_exit_2_with_one_line(args, message, tmp_path):
    result = run(args, tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count('\n') == 1 and 'Traceback' not in result.stderr
    assert not (tmp_path / 'models').exists()


def test_help_lists_profiles_examples_and_environment(tmp_path):
    top = run(['--help'], tmp_path)
    assert top.returncode == 0 and 'examples:' in top.stdout
    for var in ('SNN_ROBUST_CACHE', 'SNN_ROBUST_DATA', 'SNN_ROBUST_ALLOCATOR'): assert var in top.stdout
    for command in ('reproduce', 'train', 'bench'):
        result = run([command, '--help'], tmp_path)
        epilog = result.stdout.split('examples:\n')[1].splitlines()
        assert result.returncode == 0 and 2 <= len(epilog) <= 3, result.stdout
        assert all(line.startswith(f'  snn-robust {command} ') for line in epilog)  # kept as written, one per line
        if command != 'bench': assert '--profile {smoke,quick,paper}' in result.stdout
