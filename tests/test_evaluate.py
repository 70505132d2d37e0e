"""`snn-robust evaluate TARGET` end to end on users' models defined outside the package, at the smoke profile.

A protocol-only model (only `sample_logits`) with a pair, and an `mc_dropout` CNN: exit 0, a report whose claims the
user's models decide (never stand-in), the claims they cannot be tested on *not applicable* with the option that
applies them. Bad targets: one line, exit 2, nothing written.
"""
import csv
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from snn_robust.data import DEBIAN_FASHION_MNIST
from snn_robust.experiments import PROFILES

CLI = str(Path(sys.executable).parent / 'snn-robust')
needs_data = pytest.mark.skipif(not DEBIAN_FASHION_MNIST.exists(), reason='needs FashionMNIST (make setup installs it)')

MODELS = textwrap.dedent('''
    import torch
    import torch.nn as nn
    from snn_robust.wrappers import mc_dropout

    class Noisy:
        "Protocol only: a linear classifier with Gaussian weight noise, batched over realisations."
        classes = 10
        def __init__(self, std):
            g = torch.Generator().manual_seed(0)
            self.w, self.std = 0.01 * torch.randn(784, 10, generator=g), std
        def sample_logits(self, x, n_samples, generator=None):
            return x.flatten(1) @ (self.w + self.std * torch.randn(n_samples, 784, 10, generator=generator))

    class Probabilities(Noisy):
        def sample_logits(self, x, n_samples, generator=None):
            return super().sample_logits(x, n_samples, generator).softmax(-1)

    def model(): return Noisy(0.05)
    def noisier(): return Noisy(0.2)
    def probabilities(): return Probabilities(0.05)
    def broken(): raise RuntimeError('weights.pt not found')
    def plain(): return nn.Linear(784, 10)

    def cnn():
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.3), nn.Flatten(),
                            nn.Linear(8 * 14 * 14, 10))
        return mc_dropout(net, classes=10)
''')


@pytest.fixture
def user(tmp_path):
    "A user's folder outside the package, with a file of models, a private cache; the command runs from there."
    (tmp_path / 'my_models.py').write_text(MODELS)
    return tmp_path


def evaluate(folder, *args):
    env = {**os.environ, 'SNN_ROBUST_CACHE': str(folder / 'cache')}
    return subprocess.run([CLI, 'evaluate', *args, '--device', 'cpu', '--figures', 'figures', '--runs', 'runs'],
                          capture_output=True, text=True, env=env, cwd=folder, timeout=900)


def claims(folder) -> dict[str, dict]:
    rows = csv.DictReader(io.StringIO((folder / 'figures' / 'smoke' / 'claims.csv').read_text()))
    return {r['claim']: r for r in rows}


@needs_data
def test_protocol_only_model_with_a_pair_decides_its_claims(user):
    result = evaluate(user, 'my_models.py:model', '--pair', 'my_models.py:noisier', '--profile', 'smoke')
    assert result.returncode == 0, result.stderr[-3000:]
    rows = claims(user)
    assert not [c for c, r in rows.items() if 'stand-in' in r['verdict'] or r['verdict'] == 'not run'], rows
    decided = {c for c, r in rows.items() if r['verdict'].split()[0] in ('holds', 'fails', 'inconclusive')}
    assert {'C4', 'C5', 'C6', 'C7', 'C9', 'C11', 'C12', 'C13'} <= decided, rows  # the pair's claims among them
    for claim, option in (('C1', '--noise-trained'), ('C3', '--noise-trained'), ('C8', 'deterministic_logits')):
        assert rows[claim]['verdict'] == 'not applicable' and option in rows[claim]['checks'], rows[claim]
    report = (user / 'figures' / 'smoke' / 'REPORT.md').read_text()
    assert report.startswith('# Evaluation report') and 'my_models.py:model' in report and 'on your model:' in report
    checks = (user / 'figures' / 'smoke' / 'checks.csv').read_text()
    assert 'C4/variance/yours/pair' in checks and 'C9/length/yours/pair' in checks and 'bnn' not in checks
    assert not (user / 'cache' / 'models').exists() or not list((user / 'cache' / 'models').glob('*.pt'))  # no training
    again = evaluate(user, 'my_models.py:model', '--pair', 'my_models.py:noisier', '--profile', 'smoke')
    assert again.returncode == 0 and again.stdout.count(': reused') == 4, again.stdout  # the same targets: reused
    with open(user / 'my_models.py', 'a') as f: f.write('\n# a changed factory is a new target\n')
    changed = evaluate(user, 'my_models.py:model', '--pair', 'my_models.py:noisier', '--profile', 'smoke')
    assert changed.returncode == 0 and ': reused' not in changed.stdout


@needs_data
def test_mc_dropout_cnn_decides_c8_and_lists_what_does_not_apply(user):
    result = evaluate(user, 'my_models.py:cnn', '--profile', 'smoke')
    assert result.returncode == 0, result.stderr[-3000:]
    rows = claims(user)
    assert rows['C8']['verdict'].split()[0] in ('holds', 'fails', 'inconclusive'), rows['C8']  # deterministic_logits
    assert not [c for c, r in rows.items() if 'stand-in' in r['verdict']]
    for claim in ('C1', 'C2', 'C3', 'C4', 'C5', 'C9'):
        assert rows[claim]['verdict'] == 'not applicable', rows[claim]
    assert '--pair' in rows['C4']['checks'] and '--noise-trained' in rows['C2']['checks']
    assert PROFILES['smoke']['n_test'] == 40 and '0 of 40' in (user / 'figures' / 'smoke' / 'REPORT.md').read_text()


@pytest.mark.parametrize('target, message', [
    ('missing.py:model', 'no file'),
    ('my_models.py:absent', "has no function 'absent'"),
    ('my_models.py:broken', 'the factory raised RuntimeError: weights.pt not found'),
    ('my_models.py:plain', 'the factory must implement sample_logits'),
    ('my_models.py:probabilities', 'returned probabilities'),
    ('my_models', 'target must be'),
])
def test_bad_targets_exit_2_with_one_line_and_write_nothing(user, target, message):
    before = sorted(p.name for p in user.iterdir())
    result = evaluate(user, target)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count('\n') == 1 and message in result.stderr, result.stderr
    assert sorted(p.name for p in user.iterdir() if p.name != '__pycache__') == before


def test_protocol_only_model_runs_every_realisation_path():
    "Sections 4.4 and 4.5's per-input and per-realisation paths on a model with only `sample_logits`."
    from snn_robust.attack_length import extreme_predictions
    from snn_robust.inference_samples import gradient_spread

    class PerInput:  # MC dropout by hand: a mask per input and realisation, one batched call
        def __init__(self): self.calls, self.net = 0, torch.nn.Linear(12, 3)
        def sample_logits(self, x, n_samples, generator=None):
            self.calls += 1
            return self.net(x * (torch.rand(n_samples, *x.shape, generator=generator) < 0.8) / 0.8)

    model, x, y = PerInput(), torch.rand(20, 12), torch.randint(0, 3, (20,))
    assert extreme_predictions(model, x, torch.Generator().manual_seed(0)).shape == (20,)
    model.calls = 0
    spread = gradient_spread(model, x, y, 10, (1, 5), torch.Generator().manual_seed(0))
    assert spread['mu_norm'].shape == (20,) and (spread['trace'] > 0).all()
    assert model.calls <= 3  # one batched call for all realisations (and the footprint probe), not ten
