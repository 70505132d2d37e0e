"""Resume: a training run killed with SIGKILL mid-epoch (or mid-write of a checkpoint) resumes from its last checkpoint and ends
with the weights and optimizer state of an uninterrupted run of the same seed, bit for bit."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

from snn_robust.data import DEBIAN_FASHION_MNIST
from snn_robust.checkpoints import checkpoint_path, load_checkpoint
from snn_robust.train import TrainConfig

CHILD = str(Path(__file__).with_name('train_child.py'))
pytestmark = pytest.mark.skipif(not DEBIAN_FASHION_MNIST.exists(), reason='needs FashionMNIST (make setup installs it)')

CONFIGS = {  # (config, optimisation steps per epoch)
    'bnn': (TrainConfig(model='bnn', epochs=3, n_train=2000), 20),
    'wrn': (TrainConfig(model='wrn', epochs=2, n_train=300, batch_size=50, lr=0.1, depth=10, widen_factor=1, dropout=0.3), 6),
}


def start(cache, config, **opts):
    opts = dict(cache=str(cache), config=dataclasses.asdict(config), **opts)
    return subprocess.Popen([sys.executable, CHILD, json.dumps(opts)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1]), err


def wait_for(path, proc, timeout=120):
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < deadline, f'{path} did not appear'
        time.sleep(0.02)


def verified(config, cache):
    "The checkpoint of `config` in `cache`, which must load (weights_only) and verify without a warning."
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        ckpt = load_checkpoint(config, checkpoint_path(config, cache))
    assert ckpt is not None
    return ckpt


def assert_same_state(a, b):
    "Equal weights and optimizer state, bit for bit."
    assert a['epoch'] == b['epoch']
    assert a['model'].keys() == b['model'].keys()
    for k in a['model']: assert torch.equal(a['model'][k], b['model'][k]), k
    sa, sb = a['optimizer']['state'], b['optimizer']['state']
    assert sa.keys() == sb.keys()
    for p in sa:
        for k in sa[p]: assert torch.equal(torch.as_tensor(sa[p][k]), torch.as_tensor(sb[p][k])), (p, k)
    assert a['optimizer']['param_groups'] == b['optimizer']['param_groups']
    assert a['sha256'] == b['sha256']


@pytest.mark.parametrize('kind', CONFIGS)
def test_training_killed_mid_epoch_resumes_to_the_same_weights(kind, tmp_path):
    config, per_epoch = CONFIGS[kind]
    killed, straight, marker = tmp_path / 'killed', tmp_path / 'straight', tmp_path / 'marker'
    # killed with SIGKILL before the 4th step of epoch 2: epoch 1 is checkpointed, 3 steps of epoch 2 are lost
    proc = start(killed, config, hang_at_step=per_epoch + 4, marker=str(marker))
    wait_for(marker, proc)
    assert verified(config, killed)['epoch'] == 1
    os.kill(proc.pid, signal.SIGKILL); proc.wait()
    assert proc.returncode == -signal.SIGKILL
    resumed, _ = finish(start(killed, config))
    assert resumed['steps'] == per_epoch * (config.epochs - 1)  # it resumed from epoch 1, it did not start again
    uninterrupted, _ = finish(start(straight, config))
    assert uninterrupted['steps'] == per_epoch * config.epochs
    assert_same_state(verified(config, killed), verified(config, straight))


def test_killed_while_writing_a_checkpoint_keeps_the_last_one(tmp_path):
    config, per_epoch = CONFIGS['bnn']
    cache, straight = tmp_path / 'cache', tmp_path / 'straight'
    path = checkpoint_path(config, cache)
    proc = start(cache, config, hang_at_step=per_epoch + 1, marker=str(tmp_path / 'm1'))  # killed right after epoch 1's checkpoint
    wait_for(tmp_path / 'm1', proc); os.kill(proc.pid, signal.SIGKILL); proc.wait()
    epoch1 = path.read_bytes()
    proc = start(cache, config, hang_in_save=True, marker=str(tmp_path / 'm2'))  # trains epoch 2, killed half-way through writing it
    wait_for(tmp_path / 'm2', proc); os.kill(proc.pid, signal.SIGKILL); proc.wait()
    assert path.read_bytes() == epoch1 and verified(config, cache)['epoch'] == 1  # the last complete checkpoint, untouched
    assert len(list(path.parent.glob(f'.{path.name}.*.tmp'))) == 1  # the half-written temporary file, never under the real name
    resumed, _ = finish(start(cache, config))
    assert resumed['steps'] == per_epoch * (config.epochs - 1)
    assert list(path.parent.glob(f'.{path.name}.*.tmp')) == []  # cleaned up by the next process holding the lock
    finish(start(straight, config))
    assert_same_state(verified(config, cache), verified(config, straight))
