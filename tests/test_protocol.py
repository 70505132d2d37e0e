"Protocol properties of every model in the package, and chunk-size invariance of the MC core."
import math

import pytest
import torch

from snn_robust.core import GaussianLinear, mc_grad, mc_logits, mc_probs, mc_probs_nested, sample_probs
from snn_robust.chunks import MEMORY_BUDGET
from snn_robust.models import Smoothed, StochasticMLP, WideResNet, as_deterministic


def gen(seed=11):
    return torch.Generator().manual_seed(seed)


def make(name):
    torch.manual_seed(0)
    if name == 'linear': return GaussianLinear(torch.randn(12, 4), torch.zeros(4), std=0.3), torch.rand(5, 12)
    if name == 'mlp': return StochasticMLP(in_features=48, hidden=(16, 16), classes=4), torch.rand(5, 3, 4, 4)
    if name == 'wrn': return WideResNet(depth=10, widen_factor=1, dropout=0.3, classes=4).eval(), torch.rand(5, 3, 8, 8)
    if name == 'smoothed':
        return Smoothed(StochasticMLP(in_features=48, hidden=(16,), classes=4), sigma=math.sqrt(0.1), n_noise=3), torch.rand(5, 3, 4, 4)
    raise KeyError(name)


STOCHASTIC = ['linear', 'mlp', 'wrn', 'smoothed']


@pytest.mark.parametrize('name', STOCHASTIC)
def test_same_generator_same_realisations_and_slices_differ(name):
    model, x = make(name)
    a, b = model.sample_logits(x, 6, gen()), model.sample_logits(x, 6, gen())
    assert a.shape == (6, 5, 4)
    assert torch.equal(a, b)
    assert not torch.allclose(a[0], a[1])
    assert not torch.equal(a, model.sample_logits(x, 6, gen(12)))


@pytest.mark.parametrize('name', STOCHASTIC)
def test_estimates_do_not_depend_on_chunk_size(name):
    model, x = make(name)
    full = mc_probs(model, x, 12, generator=gen())
    for chunk in (1, 5, 12):
        torch.testing.assert_close(mc_probs(model, x, 12, generator=gen(), chunk_size=chunk), full, rtol=0, atol=1e-6)
    torch.testing.assert_close(sample_probs(model, x, 12, generator=gen(), chunk_size=5).mean(0), full, rtol=0, atol=1e-6)
    torch.testing.assert_close(mc_probs_nested(model, x, [3, 12], generator=gen())[12], full, rtol=0, atol=1e-6)
    torch.testing.assert_close(mc_logits(model, x, 12, generator=gen(), chunk_size=5), mc_logits(model, x, 12, generator=gen()), rtol=0, atol=1e-5)


@pytest.mark.parametrize('name', STOCHASTIC)
def test_gradient_of_the_estimate_flows_and_does_not_depend_on_chunks(name):
    model, x = make(name)
    y = torch.arange(5) % 4
    nll = lambda p: -p.gather(1, y[:, None]).squeeze(1).clamp_min(1e-12).log()
    v1, g1 = mc_grad(model, x, nll, 8, generator=gen())
    v2, g2 = mc_grad(model, x, nll, 8, generator=gen(), chunk_size=3)
    assert g1.shape == x.shape and g1.abs().sum() > 0
    torch.testing.assert_close(v1, v2, rtol=0, atol=1e-5)
    torch.testing.assert_close(g1, g2, rtol=1e-4, atol=1e-6)


def test_weight_samples_are_shared_by_the_inputs_of_a_batch():
    model, x = make('mlp')
    both = model.sample_logits(torch.cat([x, x]), 4, gen())
    torch.testing.assert_close(both[:, :5], both[:, 5:])
    torch.testing.assert_close(both[:, :5], model.sample_logits(x, 4, gen()), rtol=0, atol=1e-5)


def test_input_chunks_replay_the_weight_samples():
    model, x = make('mlp')
    full = mc_probs(model, x, 7, generator=gen())
    model.row_bytes = MEMORY_BUDGET // 2  # chunks of two inputs, one sample each
    torch.testing.assert_close(mc_probs(model, x, 7, generator=gen()), full, rtol=0, atol=1e-6)


@pytest.mark.parametrize('name', ['mlp', 'wrn'])
def test_deterministic_counterpart_has_equal_slices(name):
    model, x = make(name)
    logits = as_deterministic(model).sample_logits(x, 4, gen())
    assert all(torch.equal(logits[0], logits[s]) for s in range(4))
    torch.testing.assert_close(logits[0], model.deterministic_logits(x))


def test_smoothing_a_user_model_uses_its_protocol_only():
    class UserModel:
        w = torch.randn(48, 4)
        def sample_logits(self, x, n_samples, generator=None):
            return (x.flatten(1) @ self.w).expand(n_samples, -1, -1)
    _, x = make('mlp')
    p = mc_probs(Smoothed(UserModel(), sigma=1e-6, n_noise=2), x, 3, generator=gen())
    torch.testing.assert_close(p, (x.flatten(1) @ UserModel.w).softmax(-1), rtol=0, atol=1e-4)
