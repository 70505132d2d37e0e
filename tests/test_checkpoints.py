"""Checkpoints shared between processes: a per-checkpoint lock makes one process train a model while the others wait and load
it, and two `reproduce` runs sharing one cache leave checkpoints that load and verify. (Corrupt and mismatched checkpoints:
tests/test_bad_inputs.py; killed writers: tests/test_resume.py.)"""
import dataclasses
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from conftest import reproduce_args, reproduce_env
from snn_robust.data import DEBIAN_FASHION_MNIST
from snn_robust.checkpoints import checkpoint_path, load_checkpoint
from snn_robust.experiments import experiment_config
from snn_robust.train import TrainConfig

CHILD = str(Path(__file__).with_name('train_child.py'))
pytestmark = pytest.mark.skipif(not DEBIAN_FASHION_MNIST.exists(), reason='needs FashionMNIST (make setup installs it)')


def verifies(config, cache) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        return load_checkpoint(config, checkpoint_path(config, cache)) is not None


def test_two_processes_wanting_one_model_train_it_once(tmp_path):
    config = TrainConfig(model='bnn', epochs=2, n_train=3000)  # 60 steps: long enough that the second process must wait
    barrier = tmp_path / 'barrier'; barrier.mkdir()
    opts = json.dumps(dict(cache=str(tmp_path / 'cache'), config=dataclasses.asdict(config), barrier=str(barrier), parties=2))
    procs = [subprocess.Popen([sys.executable, CHILD, opts], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outs]
    steps = sorted(json.loads(o.strip().splitlines()[-1])['steps'] for o, _ in outs)
    assert steps == [0, 60]  # one trained both epochs, the other loaded the result
    waited = [e for o, e in outs if json.loads(o.strip().splitlines()[-1])['steps'] == 0][0]
    assert 'waiting for another process that is training this model' in waited
    assert verifies(config, tmp_path / 'cache')
    assert sorted(p.name for p in (tmp_path / 'cache' / 'models').iterdir()) == sorted([checkpoint_path(config, tmp_path).name, checkpoint_path(config, tmp_path).name + '.lock'])


def test_two_reproduce_runs_share_one_cache(tmp_path):
    "Two `reproduce --notebooks 07_variance` at once (4 models to train, the same 4 for both), one cache, their own figures and runs."
    cache = tmp_path / 'cache'
    roots = [tmp_path / 'a', tmp_path / 'b']
    procs = [subprocess.Popen(reproduce_args(root, '--notebooks', '07_variance'), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=reproduce_env(root, SNN_ROBUST_CACHE=str(cache))) for root in roots]
    outs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-3000:] for _, e in outs]
    for name in ('bnn', 'im', 'dropout0.3', 'dropout0.6'):
        assert verifies(experiment_config(name, 'smoke', 0), cache), name
    assert sorted(p.suffix for p in (cache / 'models').iterdir()) == ['.lock'] * 4 + ['.pt'] * 4  # no stray temporary file
    results = [(root / 'runs' / 'smoke' / 'seed0' / '07_variance' / 'results.json').read_bytes() for root in roots]
    assert results[0] == results[1]  # both used the same, complete models
    for name in ('bnn', 'im', 'dropout0.3', 'dropout0.6'):  # each model trained once, by one run's training task
        status = sorted(re.search(rf'done   seed 0 train {name}: (trained|cached) \(', out).group(1) for out, _ in outs)
        assert status == ['cached', 'trained'], (name, [out for out, _ in outs])
