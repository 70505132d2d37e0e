"Attacks and Section 3's quantities: agreement with CleverHans, constraints, and bad arguments named."
import math

import pytest
import torch
from cleverhans.torch.attacks.fast_gradient_method import fast_gradient_method

from snn_robust.attacks import fgm, pgd
from snn_robust.core import GaussianLinear, mc_probs
from snn_robust.models import StochasticMLP, WideResNet, as_deterministic
from snn_robust.theory import robustness_terms


@pytest.fixture
def linear():
    torch.manual_seed(0)
    model = GaussianLinear(torch.randn(6, 3), torch.zeros(3), std=0.5)
    x = torch.rand(20, 6)
    return model, x, torch.randint(0, 3, (20,))


@pytest.mark.parametrize('norm, eta', [(2, 1.5), (2, 20.0), (math.inf, 0.1), (math.inf, 0.6)])
@pytest.mark.parametrize('kind', ['mlp', 'wrn'])
def test_fgm_matches_cleverhans_on_deterministic_models(kind, norm, eta):
    torch.manual_seed(1)
    if kind == 'mlp': net, x = StochasticMLP(), torch.rand(8, 1, 28, 28)
    else: net, x = WideResNet(depth=10, widen_factor=1, dropout=0.3).eval(), torch.rand(4, 3, 16, 16)
    det, y = as_deterministic(net), torch.randint(0, 10, (x.shape[0],))
    ours = fgm(det, x, y, eta, 3, norm=norm)
    theirs = fast_gradient_method(net.deterministic_logits, x, eta, norm, clip_min=0.0, clip_max=1.0, y=y)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)
    targeted = fgm(det, x, y, eta, 1, norm=norm, targeted=True)
    torch.testing.assert_close(targeted, fast_gradient_method(net.deterministic_logits, x, eta, norm, 0.0, 1.0, y=y, targeted=True), rtol=0, atol=1e-5)


@pytest.mark.parametrize('norm, eta', [(2, 0.5), (math.inf, 0.05)])
@pytest.mark.parametrize('random_start', [False, True])
def test_pgd_stays_in_the_ball_and_the_box(linear, norm, eta, random_start):
    model, x, y = linear
    x_adv = pgd(model, x, y, eta, 4, steps=7, norm=norm, random_start=random_start, generator=torch.Generator().manual_seed(0))
    size = (x_adv - x).flatten(1).norm(dim=1) if norm == 2 else (x_adv - x).abs().amax(1)
    assert (size <= eta + 1e-6).all() and x_adv.min() >= 0 and x_adv.max() <= 1
    assert (size > 0).any()


def test_attacks_are_repeatable_and_use_fresh_sample_sets(linear):
    model, x, y = linear
    a = fgm(model, x, y, 0.3, 2, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, fgm(model, x, y, 0.3, 2, generator=torch.Generator().manual_seed(5)))
    assert not torch.equal(a, fgm(model, x, y, 0.3, 2, generator=torch.Generator().manual_seed(6)))


def test_theorem_3_2_on_a_linear_model_is_exact(linear):
    model, x, _ = linear
    model = GaussianLinear(model.mean.detach().double(), model.bias.detach().double(), std=0.5)
    x = x.double()
    y = mc_probs(model, x, 500).argmax(1)
    for eta in (0.1, 0.5, 2.0):
        delta = fgm(model, x, y, eta, 3, clip=None) - x
        t = robustness_terms(model, x, y, delta, 7, discriminant='logits', generator=torch.Generator().manual_seed(1))
        assert torch.equal(t.holds_linear[t.clean_correct], t.correct[t.clean_correct])


BAD_FGM = [
    ('eta', dict(eta=-0.1), 'eta must be a finite number >= 0'),
    ('eta', dict(eta=math.inf), 'eta must be a finite number >= 0'),
    ('eta', dict(eta='1'), 'eta must be a finite number >= 0'),
    ('n_samples', dict(n_samples=0), 'n_samples must be a positive integer'),
    ('n_samples', dict(n_samples=1.5), 'n_samples must be a positive integer'),
    ('norm', dict(norm=1), 'norm must be 2'),
    ('loss', dict(loss='nll'), 'loss must be one of'),
    ('y', dict(y=torch.zeros(3, dtype=torch.long)), 'y must have shape [B] = [20]'),
    ('y', dict(y=torch.zeros(20)), 'y must be a tensor of integer class labels'),
    ('y', dict(y=torch.full((20,), 3)), 'y must hold class labels in [0, 3)'),
    ('y', dict(y=torch.full((20,), -1)), 'y must hold class labels'),
    ('x', dict(x=torch.rand(20, 5)), 'x must have 6 features'),
    ('x', dict(x=torch.full((20, 6), math.nan)), 'x must be finite'),
    ('x', dict(x=torch.full((20, 6), 2.0)), 'x must lie in the clip box'),
    ('x', dict(x=torch.ones(20, 6, dtype=torch.long)), 'x must be a floating-point tensor'),
    ('clip', dict(clip=(1.0, 0.0)), 'clip must be None or (low, high)'),
]


@pytest.mark.parametrize('attack', [fgm, pgd])
@pytest.mark.parametrize('name, override, message', BAD_FGM, ids=[f'{c[0]}-{i}' for i, c in enumerate(BAD_FGM)])
def test_bad_attack_arguments_are_named(linear, attack, name, override, message):
    model, x, y = linear
    args = dict(x=x, y=y, eta=0.1, n_samples=2, norm=2, loss='ce', clip=(0.0, 1.0)); args.update(override)
    with pytest.raises((ValueError, TypeError)) as err:
        attack(model, args['x'], args['y'], args['eta'], args['n_samples'], norm=args['norm'], loss=args['loss'], clip=args['clip'])
    assert message in str(err.value) and name in str(err.value)


@pytest.mark.parametrize('override, message', [
    (dict(delta=torch.zeros(20, 5)), 'delta must be a finite tensor of the shape of x'),
    (dict(delta=torch.full((20, 6), math.nan)), 'delta must be a finite tensor'),
    (dict(n_samples=-2), 'n_samples must be a positive integer'),
    (dict(L=-1.0), 'L must be None or a finite number >= 0'),
    (dict(L=math.nan), 'L must be None or a finite number'),
    (dict(discriminant='softmax'), 'discriminant must be one of'),
    (dict(y=torch.zeros(20)), 'y must be a tensor of integer class labels'),
    (dict(y=torch.zeros(4, dtype=torch.long)), 'y must have shape [B] = [20]'),
    (dict(y=torch.full((20,), 7)), 'y must hold class labels in [0, 3)'),
])
def test_bad_robustness_terms_arguments_are_named(linear, override, message):
    model, x, y = linear
    args = dict(x=x, y=y, delta=torch.zeros_like(x), n_samples=3, L=None, discriminant='probs'); args.update(override)
    with pytest.raises((ValueError, TypeError)) as err:
        robustness_terms(model, args['x'], args['y'], args['delta'], args['n_samples'], L=args['L'], discriminant=args['discriminant'])
    assert message in str(err.value)
