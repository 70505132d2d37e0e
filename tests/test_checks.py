"""Checks made once, at the public entry points: one scan of x per call, the protocol's output checked on the first chunk,
labels checked against K for models without `classes`, booleans refused for real-valued settings, and no random number
drawn by any check."""
import math

import pytest
import torch

import snn_robust.core as core
from snn_robust.attacks import accuracy, attack_gradient, attack_sweep, fgm, pgd, step_sweep
from snn_robust.checks import check_real
from snn_robust.core import GaussianLinear, mc_grad, mc_jacobian, mc_probs, sample_probs
from snn_robust.models import Smoothed, StochasticMLP, VMGLinear
from snn_robust.theory import linearise, mean_angle, robustness_terms, terms_for


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


class UserModel:
    "A user's model written against the protocol only, with no `classes`: input noise, then a fixed map to 3 classes."
    def __init__(self, out=None):
        self.w, self.out = torch.randn(6, 3, generator=gen(1)), out

    def sample_logits(self, x, n_samples, generator=None):
        logits = (x + 0.1 * torch.randn(n_samples, *x.shape, generator=generator)) @ self.w
        return logits if self.out is None else self.out(logits)


@pytest.fixture
def data():
    g = gen(2)
    return torch.rand(8, 6, generator=g), torch.arange(8) % 3


# ---- one scan of x per public call ----

@pytest.fixture
def scans(monkeypatch):
    "Shapes of the tensors torch.isfinite is called on."
    shapes, isfinite = [], torch.isfinite
    def counting(t, *args, **kwargs):
        shapes.append(tuple(t.shape)); return isfinite(t, *args, **kwargs)
    monkeypatch.setattr(torch, 'isfinite', counting)
    return shapes


CALLS = {
    'fgm': lambda m, x, y: fgm(m, x, y, 0.3, 4, generator=gen()),
    'fgm, two chunks': lambda m, x, y: fgm(m, x, y, 0.3, 4, generator=gen(), chunk_size=2),
    'pgd': lambda m, x, y: pgd(m, x, y, 0.3, 4, steps=5, random_start=True, generator=gen(), chunk_size=3),
    'attack_sweep fgm': lambda m, x, y: attack_sweep(m, x, y, [0.1, 0.2, 0.3], 4, 4, generator=gen()),
    'attack_sweep pgd': lambda m, x, y: attack_sweep(m, x, y, [0.1, 0.3], 4, 4, attack='pgd', steps=3, generator=gen()),
    'attack_gradient': lambda m, x, y: attack_gradient(m, x, y, 4, generator=gen()),
    'accuracy': lambda m, x, y: accuracy(m, x, y, 4, generator=gen()),
    'mc_probs': lambda m, x, y: mc_probs(m, x, 4, generator=gen(), chunk_size=1),
    'mc_grad': lambda m, x, y: mc_grad(m, x, lambda p: p[:, 0], 4, generator=gen(), chunk_size=3),
    'mc_jacobian': lambda m, x, y: mc_jacobian(m, x, 4, generator=gen(), chunk_size=3),
    'linearise': lambda m, x, y: linearise(m, x, y, 4, generator=gen()),
}


@pytest.mark.parametrize('name', CALLS)
@pytest.mark.parametrize('model', ['linear', 'user'])
def test_one_scan_of_x_per_public_call(name, model, data, scans):
    x, y = data
    m = GaussianLinear(torch.randn(6, 3, generator=gen(3)), torch.zeros(3), 0.5) if model == 'linear' else UserModel()
    CALLS[name](m, x, y)
    assert scans.count(tuple(x.shape)) == 1, scans  # x (and every x_adv derived from it) scanned once
    assert all(s[-1] == 3 and len(s) == 3 for s in scans if s != tuple(x.shape)), scans  # the rest: first-chunk logits


def test_robustness_terms_scans_x_and_delta_once_each(data, scans):
    x, y = data
    model = GaussianLinear(torch.randn(6, 3, generator=gen(3)), torch.zeros(3), 0.5)
    robustness_terms(model, x, y, torch.full_like(x, 0.01), 4, L=1.0, generator=gen())
    assert scans.count(tuple(x.shape)) == 2, scans  # x in linearise, delta in robustness_terms


# ---- the checks draw no random numbers ----

def test_checks_leave_the_global_rng_alone(data):
    x, y = data
    model = UserModel()
    torch.manual_seed(5); expected = torch.rand(3)
    torch.manual_seed(5)
    core.check_mc_args(model, x, 4); core.check_model(model); check_real(0.5, 's', 0, strict=True)
    core.check_logits(model, model.sample_logits(x, 2, gen()), 2, 8, y=y)
    assert torch.equal(torch.rand(3), expected)


# ---- the protocol's output, checked on the first chunk ----

BROKEN = [
    ('[B, K]', lambda l: l.mean(0), ValueError, 'UserModel.sample_logits must return [n_samples, B, K] = [4, 8, K] logits'),
    ('[B, S, K]', lambda l: l.transpose(0, 1), ValueError, 'got shape (8, 4, 3)'),
    ('one sample too few', lambda l: l[1:], ValueError, 'must return [n_samples, B, K] = [4, 8, K]'),
    ('integer logits', lambda l: l.long(), TypeError, 'UserModel.sample_logits must return a floating-point tensor'),
    ('a list', lambda l: l.tolist(), TypeError, 'must return a floating-point tensor [n_samples, B, K]'),
    ('nan logits', lambda l: l * math.nan, ValueError, 'UserModel.sample_logits must return finite logits'),
    ('inf logits', lambda l: l / 0, ValueError, 'must return finite logits'),
]


@pytest.mark.parametrize('label, out, error, message', BROKEN, ids=[b[0] for b in BROKEN])
@pytest.mark.parametrize('call', ['mc_probs', 'mc_grad', 'fgm', 'linearise', 'sample_probs'])
def test_broken_protocol_output_is_named(label, out, error, message, call, data):
    x, y = data
    model = UserModel(out)
    run = {'mc_probs': lambda: mc_probs(model, x, 4), 'mc_grad': lambda: mc_grad(model, x, lambda p: p[:, 0], 4),
           'fgm': lambda: fgm(model, x, y, 0.1, 4), 'linearise': lambda: linearise(model, x, y, 4),
           'sample_probs': lambda: sample_probs(model, x, 4, chunk_size=4)}[call]
    with pytest.raises(error) as err: run()
    assert message in str(err.value), str(err.value)


def test_b_s_k_is_caught_only_where_b_differs_from_s(data):
    x, _ = data
    model = UserModel(lambda l: l.transpose(0, 1))
    with pytest.raises(ValueError, match='one slice per realisation'): mc_probs(model, x, 4)
    mc_probs(model, x, 8)  # B == S: [B, S, K] looks like [S, B, K]; documented as not detectable


def test_detached_output_is_named_where_a_gradient_is_asked(data):
    x, y = data
    model = UserModel(lambda l: l.detach())
    mc_probs(model, x, 4)  # no gradient asked: fine
    for run in (lambda: mc_grad(model, x, lambda p: p[:, 0], 4), lambda: mc_grad(model, x, lambda p: p[:, 0], 4, chunk_size=1),
                lambda: fgm(model, x, y, 0.1, 4), lambda: mc_jacobian(model, x, 4)):
        with pytest.raises(ValueError, match='UserModel.sample_logits must return logits with a gradient path to x'): run()


def test_mc_grad_works_under_no_grad(data):
    x, _ = data
    model = UserModel()
    for chunk_size in (None, 1):
        expected = mc_grad(model, x, lambda p: p[:, 0], 4, generator=gen(), chunk_size=chunk_size)[1]
        with torch.no_grad():
            assert torch.equal(mc_grad(model, x, lambda p: p[:, 0], 4, generator=gen(), chunk_size=chunk_size)[1], expected)


def test_a_model_whose_classes_disagree_with_its_logits_is_named(data):
    x, _ = data
    model = GaussianLinear(torch.randn(6, 3), torch.zeros(3), 0.5)
    model.classes = 4
    with pytest.raises(ValueError, match=r'GaussianLinear.sample_logits must return \[n_samples, B, K\] = \[2, 8, 4\]'):
        mc_probs(model, x, 2)


def test_sample_logits_without_generator_is_named(data):
    x, y = data
    class NoGenerator:
        def sample_logits(self, x, n_samples): return x[None, :, :3].expand(n_samples, -1, -1)
    for run in (lambda: mc_probs(NoGenerator(), x, 2), lambda: fgm(NoGenerator(), x, y, 0.1, 2)):
        with pytest.raises(TypeError) as err: run()
        assert 'NoGenerator.sample_logits must take (x, n_samples, generator)' in str(err.value)
        assert 'sample_logits(x, n_samples, generator=None) -> [n_samples, B, K]' in str(err.value)
    class KeywordsOnly:  # any signature that takes three positional arguments is fine
        def sample_logits(self, *args, **kwargs): return args[0][None, :, :3].expand(args[1], -1, -1).clone()
    assert mc_probs(KeywordsOnly(), x, 2).shape == (8, 3)


# ---- labels of a model without `classes`, checked against the first chunk's K ----

LABELLED = {
    'fgm': lambda m, x, y: fgm(m, x, y, 0.1, 2), 'fgm, chunks': lambda m, x, y: fgm(m, x, y, 0.1, 2, chunk_size=1),
    'pgd': lambda m, x, y: pgd(m, x, y, 0.1, 2, steps=2), 'attack_gradient': lambda m, x, y: attack_gradient(m, x, y, 2),
    'attack_sweep': lambda m, x, y: attack_sweep(m, x, y, [0.1], 2, 2), 'accuracy': lambda m, x, y: accuracy(m, x, y, 2),
    'linearise': lambda m, x, y: linearise(m, x, y, 2), 'robustness_terms': lambda m, x, y: robustness_terms(m, x, y, x * 0, 2),
    'step_sweep': lambda m, x, y: step_sweep(m, x, y, x * 0, [0.1], 2),
}


@pytest.mark.parametrize('name', LABELLED)
def test_label_k_on_a_model_without_classes(name, data):
    x, y = data
    y = y.clone(); y[2] = 3
    with pytest.raises(ValueError) as err: LABELLED[name](UserModel(), x, y)
    assert 'y must hold class labels in [0, 3), got values in [0, 3]' in str(err.value)


# ---- one helper for real-valued settings: booleans refused everywhere ----

REALS = [
    ('StochasticMLP init_var', lambda v: StochasticMLP(48, (4,), 3, init_var=v), 'init_var must be a finite number > 0'),
    ('VMGLinear init_var', lambda v: VMGLinear(4, 3, init_var=v), 'init_var must be a finite number > 0'),
    ('Smoothed sigma', lambda v: Smoothed(UserModel(), sigma=v), 'sigma must be a finite number > 0 (a standard deviation)'),
    ('GaussianLinear std', lambda v: GaussianLinear(torch.zeros(6, 3), torch.zeros(3), v), 'std must be a finite number > 0'),
    ('fgm eta', lambda v: fgm(UserModel(), torch.rand(4, 6), torch.zeros(4, dtype=torch.long), v, 2), 'eta must be a finite number >= 0'),
    ('pgd step_size', lambda v: pgd(UserModel(), torch.rand(4, 6), torch.zeros(4, dtype=torch.long), 0.1, 2, step_size=v),
     'step_size must be None or a finite number >= 0'),
    ('mean_angle var', lambda v: mean_angle(1.0, v, 2), 'var must be a finite number >= 0'),
]


@pytest.mark.parametrize('bad', [True, False, math.nan, math.inf, -1.0, '0.1', torch.tensor(0.1)])
@pytest.mark.parametrize('label, make, message', REALS, ids=[r[0] for r in REALS])
def test_real_settings_refuse_bools_and_non_numbers(label, make, message, bad):
    with pytest.raises(ValueError) as err: make(bad)
    assert message in str(err.value) and f'got {bad!r}' in str(err.value)


def test_l_refuses_bools(data):
    x, y = data
    model = GaussianLinear(torch.randn(6, 3), torch.zeros(3), 0.5)
    lin = linearise(model, x, y, 2)
    for run in (lambda: terms_for(lin, x * 0, L=True), lambda: robustness_terms(model, x, y, x * 0, 2, L=True)):
        with pytest.raises(ValueError, match=r'L must be None or a finite number >= 0 \(the smoothness constant\), got True'): run()


def test_check_real_wording_for_train():
    "train.py words its checks of lr and noise_var with this helper."
    with pytest.raises(ValueError) as err: check_real(math.nan, 'lr', 0, strict=True)
    assert str(err.value) == 'lr must be a finite number > 0, got nan'
    with pytest.raises(ValueError) as err: check_real(-0.1, 'noise_var', 0)
    assert str(err.value) == 'noise_var must be a finite number >= 0, got -0.1'
    assert check_real(0, 'noise_var', 0) == 0.0 and check_real(3, 'lr', 0, strict=True) == 3.0
