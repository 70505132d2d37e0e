"""Numerics: probabilities that saturate to exactly 0 or 1 in float32 (zero gradients, log of zero, zero norms) give finite,
documented values in losses, margins, cosines and radii, and +inf where the theorems define the radius as infinite."""
import math

import pytest
import torch

from snn_robust.losses import ce_loss, cw_loss, margin_loss
from snn_robust.attacks import fgm, pgd
from snn_robust.core import GaussianLinear, mc_grad, mc_probs, sample_probs
from snn_robust.models import Smoothed, StochasticMLP
from snn_robust.theory import linearise, mean_angle, robustness_terms, terms_for
from snn_robust.train import elbo_loss, mixture_loss
from snn_robust.variance import prediction_variance


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def saturated():
    "A float32 linear stochastic classifier whose every realisation puts probability exactly 1 on one class (logit gaps ~1e4)."
    g = gen(3)
    model = GaussianLinear(torch.randn(6, 3, generator=g) * 1e4, torch.zeros(3), std=0.5)
    x = torch.rand(12, 6, generator=g)
    y = torch.arange(12) % 3  # some labels the model gets right (f_y = 1), others not (f_y = 0 exactly)
    p = sample_probs(model, x, 4, generator=gen())
    assert ((p == 0) | (p == 1)).all(), 'the fixture must saturate'
    f = p.mean(0)
    assert (f.gather(1, y[:, None]) == 0).any() and (f.gather(1, y[:, None]) == 1).any()
    return model, x, y


def test_losses_of_saturated_probabilities_are_finite_with_finite_gradients():
    probs = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], requires_grad=True)
    y = torch.tensor([0, 0, 1])  # right, f_y = 0, f_y = 0
    ce = ce_loss(probs, y)
    # -log f_y with f_y clamped to the smallest normal float32: 0 where f_y = 1, -log(tiny) = 87.34 where f_y = 0 (ce_loss's docstring)
    big = -math.log(torch.finfo(torch.float32).tiny)
    torch.testing.assert_close(ce, torch.tensor([0.0, big, big]), rtol=0, atol=1e-4)
    grad, = torch.autograd.grad(ce.sum(), probs)
    assert torch.isfinite(grad).all()
    assert grad[1].abs().sum() == 0 and grad[2].abs().sum() == 0  # zero gradient where f_y underflowed (documented)
    margin = margin_loss(probs, y)
    assert torch.equal(margin, torch.tensor([-1.0, 1.0, 1.0]))
    assert torch.isfinite(torch.autograd.grad(margin.sum(), probs)[0]).all()
    logits = torch.tensor([[1e4, -1e4, 0.0], [1e30, -1e30, 0.0]], requires_grad=True)  # softmax saturates: probabilities exactly 0 and 1
    assert (logits.softmax(1)[:, 1] == 0).all()
    cw = cw_loss(logits, torch.tensor([0, 1]))
    assert torch.isfinite(cw).all() and torch.isfinite(torch.autograd.grad(cw.sum(), logits)[0]).all()


@pytest.mark.parametrize('loss, reduce', [(ce_loss, 'probs'), (margin_loss, 'probs'), (cw_loss, 'logits')])
@pytest.mark.parametrize('chunk_size', [None, 1])
def test_mc_grad_on_saturated_probabilities(saturated, loss, reduce, chunk_size):
    model, x, y = saturated
    values, grad = mc_grad(model, x, lambda out: loss(out, y), 4, reduce=reduce, generator=gen(), chunk_size=chunk_size)
    assert torch.isfinite(values).all() and torch.isfinite(grad).all()
    if reduce == 'probs': assert (grad == 0).all()  # the softmax is flat where it saturates: an exactly zero gradient


def test_attacks_with_zero_gradients_leave_the_input_and_report_it(saturated):
    model, x, y = saturated
    x_adv, info = fgm(model, x, y, 0.5, 4, generator=gen(), return_info=True)
    assert torch.equal(x_adv, x) and info.zero_grad.all() and (info.attack_length == 0).all()
    for norm, eta in ((2, 0.5), (math.inf, 0.05)):
        x_pgd = pgd(model, x, y, eta, 2, steps=3, norm=norm, random_start=True, generator=gen())
        size = (x_pgd - x).flatten(1).norm(dim=1) if norm == 2 else (x_pgd - x).abs().flatten(1).amax(1)
        assert torch.isfinite(x_pgd).all() and (size <= eta + 1e-6).all()


@pytest.mark.parametrize('delta_scale, L', [(0.01, 1.0), (0.0, 1.0), (0.01, 0.0), (0.01, None)])
def test_theorem_quantities_on_saturated_probabilities(saturated, delta_scale, L):
    model, x, y = saturated
    delta = torch.full_like(x, delta_scale)
    t = robustness_terms(model, x, y, delta, 4, L=L, generator=gen())
    off = ~torch.nn.functional.one_hot(y, 3).bool()
    assert torch.isfinite(t.margin).all() and torch.isfinite(t.grad_norm).all() and torch.isfinite(t.delta_norm).all()
    assert (t.grad_norm == 0).all()
    assert (t.cos[off] == 0).all() and torch.isnan(t.cos[~off]).all()  # 0 without a direction; nan only in column y (documented)
    assert torch.isposinf(t.r_linear).all()                          # Thm 3.2: cos >= 0 -> r~ = +inf
    assert t.holds_linear.all()
    if L is not None:
        V = -L * t.delta_norm  # ||grad|| cos - L ||delta|| with a zero gradient
        expected = torch.where(V[:, None] < 0, t.margin / V.abs()[:, None], torch.tensor(math.inf))
        expected = expected.masked_fill(~off, math.inf)
        assert torch.equal(t.r_smooth, expected)  # finite where L ||delta|| > 0, +inf where it is 0 (Thm 3.4: V >= 0)
        assert not torch.isnan(t.r_smooth).any()
    # cos_at_min is 0 exactly where no class has a finite r~ (its docstring): here everywhere, and counted
    assert t.no_gradient.all() and (t.cos_at_min() == 0).all()


def test_probability_discriminant_and_logit_discriminant_agree_on_finiteness(saturated):
    model, x, y = saturated
    for discriminant in ('probs', 'logits'):
        lin = linearise(model, x, y, 4, discriminant, generator=gen())
        t = terms_for(lin, torch.zeros_like(x), L=2.0)  # a zero perturbation: zero norm
        assert torch.isfinite(t.margin).all() and not torch.isnan(t.r_linear).any() and not torch.isnan(t.r_smooth).any()
        assert (t.delta_norm == 0).all() and (t.cos.nan_to_num(0) == 0).all()


def test_training_objectives_with_saturated_softmax_are_finite():
    logits = torch.tensor([[[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]]] * 3, requires_grad=True)  # [S=3, B=2, K=3]
    y = torch.tensor([1, 1])  # the first input's label has probability exactly 0 in every realisation
    for loss in (elbo_loss, mixture_loss):
        value = loss(logits, y, torch.tensor(0.0), 10)
        assert torch.isfinite(value) and value > 1e3
        assert torch.isfinite(torch.autograd.grad(value, logits)[0]).all()


def test_smoothing_and_variance_of_a_saturated_model_are_finite(saturated):
    model, x, y = saturated
    smoothed = Smoothed(model, sigma=0.1, n_noise=3)
    assert torch.isfinite(mc_probs(smoothed, x, 3, generator=gen())).all()
    var = prediction_variance(model, x, y, 8, generator=gen())
    assert torch.isfinite(var).all() and (var == 0).all()


def test_mlp_with_huge_inputs_gives_finite_estimates():
    torch.manual_seed(0)
    model = StochasticMLP(in_features=16, hidden=(8,), classes=3)
    x = torch.full((4, 16), 1e6)  # saturates the softmax
    y = torch.zeros(4, dtype=torch.long)
    values, grad = mc_grad(model, x, lambda p: ce_loss(p, y), 5, generator=gen())
    assert torch.isfinite(values).all() and torch.isfinite(grad).all()


def test_mean_angle_of_degenerate_settings():
    assert mean_angle(1.0, 0.0, 1, d=10, n_pairs=5) == 0  # no noise: both estimates equal the mean
    assert math.isfinite(mean_angle(0.0, 1e-3, 1, d=10, n_pairs=5, generator=gen()))
    with pytest.raises(ValueError, match='not both 0'): mean_angle(0.0, 0.0, 1)
