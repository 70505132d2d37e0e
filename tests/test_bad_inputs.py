"""Bad input, by name: one table of bad inputs to the library, the `snn-robust` command and the notebooks' papermill parameters.

Every row gives one error, before any work and before anything is written, whose message names the parameter (`param`) and
says what is allowed (`allowed`). Library rows raise ValueError, TypeError or FileNotFoundError; command rows exit with code 2
and one line on stderr, no traceback; notebook rows fail in the notebook's first cell that reads the parameters.
Corrupt and mismatched checkpoints are not errors but are reported (a warning naming the file) and retrained: see the end.
"""
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from snn_robust.attack_length import extreme_predictions
from snn_robust.attacks import accuracy, attack_sweep, eta_grid, fgm, fgm_step, pgd
from snn_robust.checks import get_device
from snn_robust.streams import sample_streams
from snn_robust.core import GaussianLinear, mc_grad, mc_probs, mc_probs_nested, sample_probs
from snn_robust.data import FASHION_FILES, Split, load_split, write_idx
from snn_robust.models import Smoothed, StochasticMLP, WideResNet
from snn_robust.variance import prediction_variance
from snn_robust.provenance import notebooks_dir
from snn_robust.reproduce import reproduce
from snn_robust.theory import mean_angle, robustness_terms
from snn_robust.checkpoints import checkpoint_path, load_checkpoint, save_atomic, save_checkpoint
from snn_robust.experiments import check_profile, experiment_config, resolve_models
from snn_robust.train import TrainConfig, clean_accuracy, train

CLI = str(Path(sys.executable).parent / 'snn-robust')
UNWRITABLE = '/proc/1/figures'  # an existing folder no one may write to, root included


def corrupt_fashion_mnist(tmp: Path, labels_only=False) -> Path:
    "A FashionMNIST folder in torchvision's layout whose test images are not an IDX file (or whose labels are out of range)."
    raw = tmp / 'data' / 'FashionMNIST' / 'raw'; raw.mkdir(parents=True, exist_ok=True)
    for split in ('train', 'test'):
        write_idx(raw / (FASHION_FILES[split][0] + '.gz'), np.zeros((3, 28, 28), np.uint8))
        write_idx(raw / (FASHION_FILES[split][1] + '.gz'), np.array([0, 200 if labels_only else 1, 2], np.uint8))
    if not labels_only: (raw / (FASHION_FILES['test'][0] + '.gz')).write_bytes(b'\x1f\x8b garbage')
    return tmp / 'data'


class Ctx:
    "What a row needs: a small model and data, a scratch folder, and environment variables set for the test only."
    def __init__(self, tmp: Path, monkeypatch):
        self.tmp, self.monkeypatch = tmp, monkeypatch
        g = torch.Generator().manual_seed(0)
        self.model = GaussianLinear(torch.randn(6, 3, generator=g), torch.zeros(3), std=0.5)
        self.x, self.y = torch.rand(20, 6, generator=g), torch.randint(0, 3, (20,), generator=g)
        (tmp / 'a_file').write_text('not a folder')

    def corrupt_data(self, labels_only=False):
        "SNN_ROBUST_DATA pointing to a corrupt FashionMNIST."
        self.monkeypatch.setenv('SNN_ROBUST_DATA', str(corrupt_fashion_mnist(self.tmp, labels_only)))

    def fgm(self, **kw):
        args = dict(x=self.x, y=self.y, eta=0.1, n_samples=2, norm=2, loss='ce'); args.update(kw)
        return fgm(self.model, args.pop('x'), args.pop('y'), args.pop('eta'), args.pop('n_samples'), **args)

    def reproduce(self, **kw):
        args = dict(profile='smoke', seeds=[0], notebooks=['07_variance'], device='cpu', figures=self.tmp / 'figures', runs=self.tmp / 'runs'); args.update(kw)
        return reproduce(**args)


def _train_into_file_cache(c):
    c.monkeypatch.setenv('SNN_ROBUST_CACHE', str(c.tmp / 'a_file'))
    return train(TrainConfig(epochs=1, n_train=10, hidden=(4,)), 'cpu', progress=False, train_split=Split(torch.rand(10, 1, 28, 28), torch.zeros(10, dtype=torch.long)))


# (input, call, param named in the message, what is allowed as the message says it)
LIBRARY = [
    ('n_samples = 0', lambda c: mc_probs(c.model, c.x, 0), 'n_samples', 'must be a positive integer'),
    ('n_samples = 2.5', lambda c: mc_probs(c.model, c.x, 2.5), 'n_samples', 'must be a positive integer'),
    ('n_samples = True', lambda c: sample_probs(c.model, c.x, True), 'n_samples', 'must be a positive integer'),
    ('chunk_size = 0', lambda c: mc_probs(c.model, c.x, 4, chunk_size=0), 'chunk_size', 'must be a positive integer'),
    ('steps = 0 (PGD)', lambda c: pgd(c.model, c.x, c.y, 0.1, 2, steps=0), 'steps', 'must be a positive integer'),
    ('eta = -0.1', lambda c: c.fgm(eta=-0.1), 'eta', 'must be a finite number >= 0'),
    ('eta = nan', lambda c: c.fgm(eta=math.nan), 'eta', 'must be a finite number >= 0'),
    ('eta = inf', lambda c: c.fgm(eta=math.inf), 'eta', 'must be a finite number >= 0'),
    ('norm = 1', lambda c: c.fgm(norm=1), 'norm', "must be 2 (FGM, L2) or float('inf')"),
    ("loss = 'nll'", lambda c: c.fgm(loss='nll'), 'loss', "must be one of ('ce', 'margin', 'cw', 'dlr')"),
    ("attack = 'cw'", lambda c: attack_sweep(c.model, c.x, c.y, [0.1], 1, 1, attack='cw'), 'attack', "must be one of ('fgm', 'fgsm', 'pgd')"),
    ("reduce = 'mean'", lambda c: mc_grad(c.model, c.x, lambda p: p[:, 0], 2, reduce='mean'), 'reduce', "must be one of ['logits', 'probs']"),
    ("model = 'vae' (TrainConfig)", lambda c: TrainConfig(model='vae'), 'model', "must be one of ('bnn', 'im', 'wrn')"),
    ("model = 'vgg' (experiment)", lambda c: experiment_config('vgg', 'smoke'), 'model', "must be one of ('bnn', 'im', 'dropout0.3', 'dropout0.6')"),
    ("model = 'foo' (notebook models)", lambda c: resolve_models('foo'), 'model', "must be 'all' or one of"),
    ("profile = 'huge'", lambda c: check_profile('huge'), 'profile', "must be one of ('smoke', 'quick', 'paper')"),
    ("dataset = 'mnist'", lambda c: load_split('mnist'), 'dataset', "must be one of ('fashion_mnist', 'cifar10')"),
    ("split = 'val'", lambda c: load_split('fashion_mnist', 'val'), 'split', "must be one of ('train', 'test')"),
    ("device = 'tpu'", lambda c: get_device('tpu'), 'device', "must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"),
    ('x with 5 features for 6', lambda c: mc_probs(c.model, c.x[:, :5], 2), 'x', 'must have 6 features per input'),
    ('x of shape [6] (no batch)', lambda c: mc_probs(c.model, c.x[0], 2), 'x', 'must have shape [B, ...] with B >= 1'),
    ('x of dtype int64', lambda c: mc_probs(c.model, c.x.long(), 2), 'x', 'must be a floating-point tensor'),
    ('x holding nan', lambda c: mc_probs(c.model, torch.full_like(c.x, math.nan), 2), 'x', 'must be finite'),
    ('x holding inf', lambda c: c.fgm(x=torch.full_like(c.x, math.inf)), 'x', 'must be finite'),
    ('x outside [0, 1]', lambda c: c.fgm(x=c.x + 1), 'x', 'must lie in the clip box [0.0, 1.0]'),
    ('image of 3 channels for a 1-channel WRN', lambda c: mc_probs(WideResNet(10, 1, 0.3, in_channels=1).eval(), torch.rand(2, 3, 8, 8), 1), 'x', 'must be images [B, 1, H, W]'),
    ('y of length 3 for 20 inputs', lambda c: c.fgm(y=c.y[:3]), 'y', 'must have shape [B] = [20]'),
    ('y of dtype float', lambda c: c.fgm(y=c.y.float()), 'y', 'must be a tensor of integer class labels'),
    ('y = 3 with 3 classes', lambda c: c.fgm(y=torch.full((20,), 3)), 'y', 'must hold class labels in [0, 3)'),
    ('y = -1', lambda c: c.fgm(y=torch.full((20,), -1)), 'y', 'must hold class labels in [0, 3)'),
    ('delta of the wrong shape', lambda c: robustness_terms(c.model, c.x, c.y, torch.zeros(20, 5), 2), 'delta', 'must be a finite tensor of the shape of x'),
    ('L = -1', lambda c: robustness_terms(c.model, c.x, c.y, torch.zeros_like(c.x), 2, L=-1.0), 'L', 'must be None or a finite number >= 0'),
    ('dropout = 1.0 (WRN)', lambda c: WideResNet(10, 1, dropout=1.0), 'dropout', 'must be a probability in [0, 1)'),
    ('dropout = -0.1 (TrainConfig)', lambda c: TrainConfig(model='wrn', dropout=-0.1), 'dropout', 'must be a probability in [0, 1)'),
    ('depth = 11 (WRN)', lambda c: WideResNet(11, 1), 'depth', 'must be 6n + 4 with n >= 1'),
    ('sigma = 0', lambda c: Smoothed(c.model, sigma=0), 'sigma', 'must be a finite number > 0'),
    ('sigma = -1', lambda c: Smoothed(c.model, sigma=-1.0), 'sigma', 'must be a finite number > 0'),
    ('sigma = nan', lambda c: Smoothed(c.model, sigma=math.nan), 'sigma', 'must be a finite number > 0'),
    ('epochs = 0', lambda c: TrainConfig(epochs=0), 'epochs', 'must be a positive integer'),
    ('n_train = 1.5', lambda c: TrainConfig(n_train=1.5), 'n_train', 'must be a positive integer'),
    ('lr = nan', lambda c: TrainConfig(lr=math.nan), 'lr', 'must be a finite number > 0'),
    ("lr = '0.1'", lambda c: TrainConfig(lr='0.1'), 'lr', 'must be a finite number > 0'),
    ('noise_var = -0.1', lambda c: TrainConfig(noise_var=-0.1), 'noise_var', 'must be a finite number >= 0'),
    ('init_var = 0', lambda c: TrainConfig(init_var=0), 'init_var', 'must be a finite number > 0'),
    ('hidden = (128, 0)', lambda c: TrainConfig(hidden=(128, 0)), 'hidden', 'must be a non-empty sequence of positive integer layer widths'),
    ('seed = 1.5 (TrainConfig)', lambda c: TrainConfig(seed=1.5), 'seed', 'must be a non-negative integer below 2**32'),
    ("seed = '0' (TrainConfig)", lambda c: TrainConfig(seed='0'), 'seed', 'must be a non-negative integer below 2**32'),
    ('seed = 2**40 (TrainConfig)', lambda c: TrainConfig(seed=2**40), 'seed', 'must be a non-negative integer below 2**32'),
    ('seed = -1 (clean_accuracy)', lambda c: clean_accuracy(c.model, Split(c.x, c.y), sizes=(1,), seed=-1), 'seed', 'must be a non-negative integer below 2**32'),
    ('seeds = [1.5] (reproduce)', lambda c: c.reproduce(seeds=[1.5]), 'seeds', 'must be one or more non-negative integers below 2**32'),
    ('seeds = 0, not a list (reproduce)', lambda c: c.reproduce(seeds=0), 'seeds', 'must be a list of one or more non-negative integers'),
    ('seeds = [0, 0] (reproduce)', lambda c: c.reproduce(seeds=[0, 0]), 'seeds', 'must not repeat'),
    ("notebooks = ['99_x'] (reproduce)", lambda c: c.reproduce(notebooks=['99_x']), 'notebooks', 'must be among'),
    ("notebooks = '07_variance', a string (reproduce)", lambda c: c.reproduce(notebooks='07_variance'), 'notebooks', 'must be a list of names among'),
    ('figures in an unwritable folder (reproduce)', lambda c: c.reproduce(figures=UNWRITABLE), 'figures', 'must be a writable folder, or a path where one can be created'),
    ('jobs = 0 (reproduce)', lambda c: c.reproduce(jobs=0), 'jobs', 'must be a positive integer'),
    ('runs below a file (reproduce)', lambda c: c.reproduce(runs=c.tmp / 'a_file' / 'runs'), 'runs', 'must be a writable folder, or a path where one can be created'),
    ('cache below a file (train)', _train_into_file_cache, 'cache (SNN_ROBUST_CACHE)', 'must be a writable folder, or a path where one can be created'),
    ('n = 0 test images', lambda c: load_split('fashion_mnist', 'test', n=0), 'n', 'must be a positive integer or None'),
    ('nu_norm = var = 0 (mean_angle)', lambda c: mean_angle(0.0, 0.0, 1), 'nu_norm and var', 'finite numbers >= 0, not both 0'),
    ('a corrupt FashionMNIST image file', lambda c: (c.corrupt_data(), load_split('fashion_mnist', 'test')), FASHION_FILES['test'][0], 'is not an IDX file of unsigned bytes (corrupt or wrong file)'),
    ('FashionMNIST labels out of range', lambda c: (c.corrupt_data(labels_only=True), load_split('fashion_mnist', 'test')), FASHION_FILES['test'][1], 'labels must be classes in [0, 10)'),
    ('a missing CIFAR-10', lambda c: (c.monkeypatch.setenv('SNN_ROBUST_DATA', str(c.tmp / 'empty')), c.monkeypatch.setenv('SNN_ROBUST_CACHE', str(c.tmp / 'cache')),
                                      load_split('cifar10')), 'cifar10 not found', 'set SNN_ROBUST_DATA to a folder in torchvision\'s layout'),
    ('a corrupt FashionMNIST file (reproduce)', lambda c: (c.corrupt_data(), c.reproduce()), FASHION_FILES['test'][0], 'is not an IDX file'),
    ('eta grid of one point', lambda c: eta_grid('fashion_mnist', 2, 1), 'n', 'must be an integer >= 2'),
    ('eta grid of an unknown data set', lambda c: eta_grid('mnist', 2, 3), '(dataset, norm)', 'must be one of'),
    ('no etas (attack_sweep)', lambda c: attack_sweep(c.model, c.x, c.y, [], 2, 2), 'etas', 'one or more finite numbers >= 0'),
    ('a negative eta that is not the largest (attack_sweep)', lambda c: attack_sweep(c.model, c.x, c.y, [-1.0, 2.0], 2, 2), 'eta', 'must be a finite number >= 0'),
    ('norm = 1 (fgm_step)', lambda c: fgm_step(c.x, c.x, 1.0, 1), 'norm', "must be 2 (FGM, L2) or float('inf')"),
    ('eta = -1 (fgm_step)', lambda c: fgm_step(c.x, c.x, -1.0), 'eta', 'must be a finite number >= 0'),
    ('labels of the wrong length (accuracy)', lambda c: accuracy(c.model, c.x, c.y[:3], 2), 'y', 'must have shape [B] = [20]'),
    ('clip with one bound', lambda c: c.fgm(clip=(0.0,)), 'clip', 'must be None or (low, high) with low < high'),
    ('precision = fp16', lambda c: c.fgm(precision='fp16'), 'precision', "must be one of ('fp32', 'bf16')"),
    ('no sizes (mc_probs_nested)', lambda c: mc_probs_nested(c.model, c.x, []), 'sizes', 'one or more positive integers'),
    ('std that is not a number (GaussianLinear)', lambda c: GaussianLinear(torch.zeros(6, 3), torch.zeros(3), 'a'), 'std', 'must be a finite number > 0'),
    ('bias of the wrong shape (GaussianLinear)', lambda c: GaussianLinear(torch.zeros(6, 3), torch.zeros(2), 1.0), 'bias', 'must have shape [K] = [3]'),
    ('generator that is not a torch.Generator', lambda c: sample_streams(3, 5), 'generator', 'must be a torch.Generator or None'),
    ('init_var = 0 (StochasticMLP)', lambda c: StochasticMLP(init_var=0), 'init_var', 'must be a finite number > 0'),
    ('a hidden width of 0 (StochasticMLP)', lambda c: StochasticMLP(hidden=(0,)), 'hidden', 'must be a positive integer'),
    ('labels of the wrong length (prediction_variance)', lambda c: prediction_variance(c.model, c.x, c.y[:3], 3), 'y', 'must have shape [B] = [20]'),
    ('chunk_size = 0 (extreme_predictions)', lambda c: extreme_predictions(c.model, c.x, chunk_size=0), 'chunk_size', 'must be a positive integer'),
]


@pytest.mark.parametrize('row', LIBRARY, ids=[r[0] for r in LIBRARY])
def test_library_names_the_bad_input(row, tmp_path, monkeypatch):
    _, call, param, allowed = row
    monkeypatch.setenv('SNN_ROBUST_CACHE', str(tmp_path / 'cache'))
    ctx = Ctx(tmp_path, monkeypatch)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises((ValueError, TypeError, FileNotFoundError)) as err: call(ctx)
    message = str(err.value)
    assert param in message and allowed in message, message
    assert '\n' not in message
    after = sorted(p.name for p in tmp_path.iterdir())
    assert [p for p in after if p not in before and p != 'data'] == [], 'nothing may be written'


def test_the_table_is_long_enough():
    assert len(LIBRARY) + len(COMMAND) + len(NOTEBOOK) >= 30


# ---- the command: exit code 2, one line, no traceback, nothing written ----

NO_CUDA = not torch.cuda.is_available()
COMMAND = [
    ('reproduce --profile huge', ['reproduce', '--profile', 'huge'], None, '--profile', "profile must be one of ('smoke', 'quick', 'paper'), got 'huge'"),
    ('reproduce --profile (no value)', ['reproduce', '--profile'], None, '--profile', 'expected one argument'),
    ('reproduce --seeds 1.5', ['reproduce', '--seeds', '1.5'], None, '--seeds', "seed must be a non-negative integer below 2**32, got '1.5'"),
    ('reproduce --seeds -1', ['reproduce', '--seeds', '-1'], None, '--seeds', "seed must be a non-negative integer below 2**32, got '-1'"),
    ('reproduce --seeds 0 0', ['reproduce', '--seeds', '0', '0'], None, 'seeds', 'must not repeat, got [0, 0]'),
    ('reproduce --seeds 4294967296', ['reproduce', '--seeds', str(2**32)], None, '--seeds', "seed must be a non-negative integer below 2**32, got '4294967296'"),
    ('reproduce --notebooks 99_x', ['reproduce', '--notebooks', '99_x'], None, '--notebooks', "invalid choice: '99_x' (choose from '05_theory'"),
    ('reproduce --device tpu', ['reproduce', '--device', 'tpu'], None, '--device', "device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got 'tpu'"),
    *([('reproduce --device cuda (none here)', ['reproduce', '--device', 'cuda'], None, '--device', "use device='cpu' or 'auto'")] if NO_CUDA else []),
    ('reproduce --figures in an unwritable folder', ['reproduce', '--figures', UNWRITABLE], None, f'figures folder {UNWRITABLE}', 'must be a writable folder'),
    ('reproduce --runs below a file', ['reproduce', '--runs', '{tmp}/a_file/runs'], None, 'runs folder', 'must be a writable folder'),
    ('reproduce with SNN_ROBUST_CACHE below a file', ['reproduce'], {'SNN_ROBUST_CACHE': '{tmp}/a_file/cache'}, 'cache (SNN_ROBUST_CACHE) folder', 'must be a writable folder'),
    ('reproduce with a corrupt FashionMNIST', ['reproduce'], 'corrupt', FASHION_FILES['test'][0], 'is not an IDX file'),
    ('reproduce --bogus', ['reproduce', '--bogus'], None, '--bogus', 'unrecognized arguments'),
    ('train --profile huge', ['train', '--profile', 'huge'], None, '--profile', "profile must be one of ('smoke', 'quick', 'paper'), got 'huge'"),
    ('train --seed 1.5', ['train', '--seed', '1.5'], None, '--seed', "seed must be a non-negative integer below 2**32, got '1.5'"),
    ('train --seed x', ['train', '--seed', 'x'], None, '--seed', "seed must be a non-negative integer below 2**32, got 'x'"),
    ('train --seed 4294967296', ['train', '--seed', str(2**32)], None, 'seed', 'must be a non-negative integer below 2**32'),
    ('train --models bnn gan', ['train', '--models', 'bnn', 'gan'], None, '--models', "invalid choice: 'gan' (choose from 'bnn', 'im')"),
    ('train --device tpu', ['train', '--device', 'tpu'], None, '--device', "device must be 'auto', 'cpu'"),
    ('train with a corrupt FashionMNIST', ['train', '--profile', 'smoke'], 'corrupt', FASHION_FILES['test'][0], 'is not an IDX file'),
    ('train with SNN_ROBUST_CACHE below a file', ['train', '--profile', 'smoke'], {'SNN_ROBUST_CACHE': '{tmp}/a_file/cache'}, 'cache (SNN_ROBUST_CACHE) folder', 'must be a writable folder'),
    ('fly (no such command)', ['fly'], None, 'command', "invalid choice: 'fly' (choose from"),
]


def run_cli(args, env, tmp):
    if args and args[0] == 'reproduce' and '--figures' not in args: args = [*args, '--figures', str(tmp / 'figures')]
    if args and args[0] == 'reproduce' and '--runs' not in args: args = [*args, '--runs', str(tmp / 'runs')]
    args = [a.replace('{tmp}', str(tmp)) for a in args]
    full_env = {**os.environ, 'SNN_ROBUST_CACHE': str(tmp / 'cache')}
    full_env.pop('SNN_ROBUST_DATA', None)
    if env == 'corrupt': full_env['SNN_ROBUST_DATA'] = str(corrupt_fashion_mnist(tmp))
    elif env: full_env.update({k: v.replace('{tmp}', str(tmp)) for k, v in env.items()})
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=full_env, timeout=300, cwd=tmp)


@pytest.mark.parametrize('label, args, env, param, allowed', COMMAND, ids=[r[0] for r in COMMAND])
def test_command_exits_2_with_one_line(label, args, env, param, allowed, tmp_path):
    (tmp_path / 'a_file').write_text('not a folder')
    result = run_cli(args, env, tmp_path)
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert result.stderr.count('\n') == 1 and result.stderr.startswith('snn-robust') and 'Traceback' not in result.stderr, result.stderr
    assert param in result.stderr and allowed in result.stderr, result.stderr
    assert result.stdout == ''
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(['a_file'] + (['data'] if env == 'corrupt' else [])), 'nothing may be written'


# ---- the notebooks' papermill parameters: the first cell that reads them fails, naming the parameter ----

NOTEBOOK = [
    ('07_variance', {'profile': 'huge'}, 'profile', "must be one of ('smoke', 'quick', 'paper'), got 'huge'"),
    ('07_variance', {'seed': 1.5}, 'seed', 'must be a non-negative integer below 2**32, got 1.5'),
    ('07_variance', {'model': 'foo'}, 'model', "must be 'all' or one of ('bnn', 'im', 'dropout0.3', 'dropout0.6'), got 'foo'"),
    ('07_variance', {'device': 'tpu'}, 'device', "must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got 'tpu'"),
    ('05_theory', {'profile': 'huge'}, 'profile', "must be one of ('smoke', 'quick', 'paper'), got 'huge'"),
    ('05_theory', {'n_models': 0}, 'n_models', 'must be a positive integer, got 0'),
    ('05_theory', {'seed': '0'}, 'seed', "must be a non-negative integer below 2**32, got '0'"),
]


@pytest.mark.parametrize('name, params, param, allowed', NOTEBOOK, ids=[f'{n}-{p}' for n, p, *_ in NOTEBOOK])
def test_notebook_parameters_fail_first(name, params, param, allowed, tmp_path, monkeypatch):
    import papermill as pm
    monkeypatch.setenv('SNN_ROBUST_CACHE', str(tmp_path / 'cache'))
    out = tmp_path / 'out'
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(notebooks_dir() / f'{name}.ipynb'), str(tmp_path / f'{name}.ipynb'), parameters={**params, 'out_dir': str(out)},
                            kernel_name='python3', progress_bar=False, cwd=str(notebooks_dir()))
    e = err.value
    assert e.ename in ('ValueError', 'TypeError') and param in e.evalue and allowed in e.evalue, (e.ename, e.evalue)
    # it failed in the first cell that reads the parameters, before any work: no output folder, no checkpoint
    assert 'check_profile(profile)' in e.source or 'check_parameters(' in e.source, e.source[:300]
    assert not out.exists() and not (tmp_path / 'cache').exists()


# ---- checkpoints: a corrupt or mismatched file is reported, never used, and the model retrained ----

SPLIT = Split(torch.rand(100, 1, 28, 28, generator=torch.Generator().manual_seed(1)), torch.arange(100) % 10)
CFG = TrainConfig(epochs=1, n_train=100, hidden=(8,))


def _flip_in_weights(path, ckpt):
    data = bytearray(path.read_bytes()); i = bytes(data).find(ckpt['model']['layers.0.mean'].numpy().tobytes()[:64])
    assert i > 0; data[i + 8] ^= 0x01; path.write_bytes(bytes(data))


CHECKPOINTS = [
    ('one bit flipped in the weights', _flip_in_weights, 'fails its SHA-256 check (corrupt)'),
    ('truncated file', lambda p, ck: p.write_bytes(p.read_bytes()[:1000]), 'is unreadable'),
    ('not a checkpoint', lambda p, ck: p.write_bytes(b'hello'), 'is unreadable'),
    ('no digest (an older version)', lambda p, ck: save_atomic({k: v for k, v in ck.items() if k != 'sha256'}, p), 'has no SHA-256 digest'),
    ('changed weights, old digest', lambda p, ck: save_atomic({**ck, 'model': {**ck['model'], 'layers.0.mean': ck['model']['layers.0.mean'] * 2}}, p), 'fails its SHA-256 check'),
    ('config hash edited, old digest', lambda p, ck: save_atomic({**ck, 'config_hash': TrainConfig(seed=9).hash()}, p), 'fails its SHA-256 check'),
    ('another configuration, valid digest', lambda p, ck: save_checkpoint({**ck, 'config_hash': TrainConfig(seed=9).hash()}, p), 'belongs to another configuration'),
    ('a pickle that runs code', lambda p, ck: torch.save({'x': _Evil(p.parent / 'pwned')}, p), 'is unreadable'),
]


class _Evil:
    "Unpickling it would create a folder: weights_only=True must refuse it."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (os.mkdir, (self.marker,))


@pytest.mark.parametrize('label, damage, problem', CHECKPOINTS, ids=[c[0] for c in CHECKPOINTS])
def test_bad_checkpoint_is_reported_and_retrained(label, damage, problem, tmp_path):
    good_model = train(CFG, 'cpu', tmp_path, progress=False, train_split=SPLIT)
    path = checkpoint_path(CFG, tmp_path)
    good = torch.load(path, weights_only=True)
    damage(path, good)
    with pytest.warns(UserWarning) as record: assert load_checkpoint(CFG, path) is None
    message = str(record[0].message)
    assert f'checkpoint {path} {problem}' in message and message.endswith('it is not used: the model is retrained'), message
    assert not (tmp_path / 'models' / 'pwned').exists()  # weights_only=True: loading runs no code
    with pytest.warns(UserWarning, match='the model is retrained'):
        again = train(CFG, 'cpu', tmp_path, progress=False, train_split=SPLIT)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), good_model.state_dict().values()))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert load_checkpoint(CFG, path)['sha256'] == good['sha256']  # the retrained checkpoint verifies


def test_any_flipped_byte_is_reported_or_changes_nothing(tmp_path):
    "A bit flipped anywhere in a checkpoint: either it is reported and refused, or (zip timestamps, padding) what loads is exactly what was saved."
    train(CFG, 'cpu', tmp_path, progress=False, train_split=SPLIT)
    path = checkpoint_path(CFG, tmp_path)
    data, original = path.read_bytes(), torch.load(path, weights_only=True)
    refused = 0
    for offset in range(0, len(data), max(1, len(data) // 400)):
        flipped = bytearray(data); flipped[offset] ^= 0x10; path.write_bytes(bytes(flipped))
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter('always')
            ckpt = load_checkpoint(CFG, path)
        if ckpt is None:
            refused += 1
            assert len(record) == 1 and str(path) in str(record[0].message)
        else:
            assert record == [] and ckpt['sha256'] == original['sha256']
            assert all(torch.equal(ckpt['model'][k], original['model'][k]) for k in original['model'])
    assert refused > 0.9 * (len(data) // max(1, len(data) // 400))  # nearly every byte carries content
