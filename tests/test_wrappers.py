"The wrappers of a user's own model (mc_dropout, gaussian_weights, from_sampler) keep the protocol's properties."
import copy
import math

import pytest
import torch
import torch.nn as nn

from snn_robust.attacks import fgm
from snn_robust.streams import draw_bernoulli, draw_normal, sample_streams
from snn_robust.core import mc_grad, mc_probs, mc_probs_nested, sample_probs
from snn_robust.models import as_deterministic
from snn_robust.wrappers import DROPOUT_LAYERS, from_sampler, gaussian_weights, mc_dropout


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def make_module(arch, p=0.3):
    "A small CNN with Dropout2d, Dropout and BatchNorm (running statistics moved off their start) or an MLP, eval mode."
    torch.manual_seed(0)
    if arch == 'cnn':
        m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout2d(p),
                          nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                          nn.Dropout(p), nn.Linear(8 * 4 * 4, 3))
        m.train(); m(torch.randn(16, 1, 8, 8))
        return m.eval(), torch.rand(5, 1, 8, 8)
    m = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Dropout(p), nn.Linear(32, 3))
    return m.eval(), torch.rand(5, 4, 4)


def input_noise(module):
    "One realisation: Gaussian input noise from the realisation's generator, then the module (eval mode)."
    return lambda x, g: module(x + 0.1 * torch.randn(x.shape, generator=g, device=x.device))


def wrap(kind, module):
    if kind == 'mc_dropout': return mc_dropout(module, classes=3)
    if kind == 'gaussian': return gaussian_weights(module, 0.1, classes=3)
    return from_sampler(input_noise(module), classes=3)


def one_realisation(kind, module, x, stream):
    "Logits [B, K] of one realisation computed by hand, independently of the wrapper, from one random stream."
    if kind == 'sampler': return input_noise(module)(x, stream.generators()[0])
    if kind == 'gaussian':
        twin = copy.deepcopy(module)
        params = list(twin.parameters())
        eps = draw_normal((1, sum(p.numel() for p in params)), stream)[0]
        with torch.no_grad():
            for p, e in zip(params, eps.split([p.numel() for p in params])): p.add_(0.1 * e.view_as(p))
        return twin(x)
    h = x  # mc_dropout: through the Sequential's layers, a mask from the stream at each dropout layer in order
    for layer in module:
        if isinstance(layer, DROPOUT_LAYERS):
            shape = h.shape if isinstance(layer, nn.Dropout) else (*h.shape[:2], *[1] * (h.ndim - 2))
            h = h * draw_bernoulli((1, *shape), 1 - layer.p, stream)[0] / (1 - layer.p)
        else: h = layer(h)
    return h


CASES = [(kind, arch) for kind in ('mc_dropout', 'gaussian', 'sampler') for arch in ('cnn', 'mlp')]


@pytest.mark.parametrize('kind,arch', CASES)
def test_estimates_do_not_depend_on_chunk_size(kind, arch):
    module, x = make_module(arch)
    w = wrap(kind, module)
    full = mc_probs(w, x, 20, generator=gen(0))
    for k in (1, 7, 20, None):
        torch.testing.assert_close(mc_probs(w, x, 20, generator=gen(0), chunk_size=k), full, rtol=0, atol=1e-6)
    torch.testing.assert_close(sample_probs(w, x, 20, generator=gen(0), chunk_size=7).mean(0), full, rtol=0, atol=1e-6)


@pytest.mark.parametrize('kind,arch', CASES)
def test_same_seed_same_realisations_other_seed_others(kind, arch):
    module, x = make_module(arch)
    w = wrap(kind, module)
    a = w.sample_logits(x, 6, gen(0))
    assert a.shape == (6, 5, 3)
    assert torch.equal(a, w.sample_logits(x, 6, gen(0)))
    assert not torch.allclose(a[0], a[1])
    assert not torch.allclose(a, w.sample_logits(x, 6, gen(1)))


@pytest.mark.parametrize('kind,arch', CASES)
def test_sample_sets_are_nested(kind, arch):
    "The first S realisations of a draw of S' > S are a draw of S, as for the package's own models."
    module, x = make_module(arch)
    w = wrap(kind, module)
    torch.testing.assert_close(w.sample_logits(x, 20, gen(0))[:5], w.sample_logits(x, 5, gen(0)), rtol=0, atol=1e-6)
    nested = mc_probs_nested(w, x, [5, 20], generator=gen(0))
    torch.testing.assert_close(nested[5], mc_probs(w, x, 5, generator=gen(0)), rtol=0, atol=1e-6)


@pytest.mark.parametrize('kind,arch', CASES)
def test_realisations_match_a_computation_by_hand(kind, arch):
    module, x = make_module(arch)
    logits = wrap(kind, module).sample_logits(x, 4, gen(0))
    with torch.no_grad():
        streams = sample_streams(4, gen(0))
        by_hand = torch.stack([one_realisation(kind, module, x, streams[s:s + 1]) for s in range(4)])
    torch.testing.assert_close(logits.detach(), by_hand, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('kind,arch', CASES)
@pytest.mark.parametrize('chunk_size', [None, 3])
def test_gradient_is_the_mean_of_per_realisation_gradients(kind, arch, chunk_size):
    "mc_grad's input gradient of a linear score of mc_probs = mean of the gradients of the realisations, by hand."
    module, x = make_module(arch)
    w, score, S = wrap(kind, module), torch.randn(5, 3), 8
    values, grad = mc_grad(w, x, lambda q: (q * score).sum(1), S, generator=gen(0), chunk_size=chunk_size)
    by_hand, value = torch.zeros_like(x), torch.zeros(5)
    streams = sample_streams(S, gen(0))
    for s in range(S):
        xg = x.clone().requires_grad_(True)
        q = one_realisation(kind, module, xg, streams[s:s + 1]).softmax(-1)
        by_hand += torch.autograd.grad((q * score).sum(), xg)[0] / S
        value += (q * score).sum(1).detach() / S
    assert grad.abs().sum() > 0
    torch.testing.assert_close(grad, by_hand, rtol=0, atol=1e-5)
    torch.testing.assert_close(values, value, rtol=0, atol=1e-5)


@pytest.mark.parametrize('kind,arch', CASES)
def test_fgm_runs_and_parameters_stay_the_modules(kind, arch):
    module, x = make_module(arch)
    w = wrap(kind, module)
    y = torch.tensor([0, 1, 2, 0, 1])
    x_adv = fgm(w, x, y, 0.5, 6, generator=gen(0))
    assert x_adv.shape == x.shape and 0 < (x_adv - x).norm() <= 0.5 * math.sqrt(5) + 1e-5
    if kind != 'sampler': assert {id(p) for p in w.parameters()} == {id(p) for p in module.parameters()}
    w.sample_logits(x, 3, gen(0)).sum().backward()
    assert all(p.grad is not None for p in module.parameters() if p.ndim > 1), 'gradients reach the module'


@pytest.mark.parametrize('arch', ['cnn', 'mlp'])
def test_mc_dropout_keeps_modes_and_batch_norm_statistics(arch):
    module, x = make_module(arch)
    stats = [b.clone() for b in module.buffers()]
    w = mc_dropout(module)
    w.sample_logits(x, 4, gen(0))
    assert not any(m.training for m in module.modules()), 'the module stays in eval mode'
    module.train(); w.sample_logits(x, 4, gen(0))
    assert all(m.training for m in module.modules()), 'and in training mode'
    module.eval()
    assert all(torch.equal(a, b) for a, b in zip(stats, module.buffers())), 'sampling must not update BN statistics'
    assert all(not m._forward_hooks for m in module.modules()), 'no hook left behind'


@pytest.mark.parametrize('arch', ['cnn', 'mlp'])
def test_mc_dropout_masks_differ_between_realisations_and_inputs(arch):
    module, x = make_module(arch)
    i = next(i for i, m in enumerate(module) if type(m) is nn.Dropout)
    seen = {}  # the dropout layer's input and, as the next layer's input, its output
    hooks = [module[i].register_forward_pre_hook(lambda layer, inputs: seen.setdefault('in', inputs[0])),
             module[i + 1].register_forward_pre_hook(lambda layer, inputs: seen.setdefault('out', inputs[0]))]
    try: mc_dropout(module).sample_logits(torch.cat([x, x]), 3, gen(0))
    finally:
        for h in hooks: h.remove()
    h_in, h_out = seen['in'].view(3, 10, -1), seen['out'].view(3, 10, -1)
    alive, mask = h_in != 0, h_out != 0
    assert not torch.equal(mask[0], mask[1]), 'masks differ between realisations'
    assert not torch.equal(mask[0, :5], mask[0, 5:]), 'and between the inputs of a batch'
    kept = mask[alive].float().mean()
    assert 0.6 < kept < 0.8, kept  # p = 0.3
    torch.testing.assert_close(h_out[mask], h_in[mask] / 0.7)


@pytest.mark.parametrize('arch', ['cnn', 'mlp'])
def test_mc_dropout_with_p_to_zero_is_the_deterministic_forward(arch):
    module, x = make_module(arch, p=1e-7)
    w = mc_dropout(module)
    with torch.no_grad():
        torch.testing.assert_close(w.sample_logits(x, 4, gen(0)), module(x).expand(4, 5, 3), rtol=0, atol=1e-5)
        torch.testing.assert_close(as_deterministic(w).sample_logits(x, 2)[1], module(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize('arch', ['cnn', 'mlp'])
def test_gaussian_weights_with_std_zero_is_the_module(arch):
    module, x = make_module(arch)
    with torch.no_grad():
        torch.testing.assert_close(gaussian_weights(module, 0).sample_logits(x, 3, gen(0)), module(x).expand(3, 5, 3),
                                   rtol=0, atol=1e-6)


def test_gaussian_weights_moments_of_a_linear_layer():
    torch.manual_seed(0)
    lin, x = nn.Linear(4, 3), torch.randn(2, 4)
    out = gaussian_weights(lin, 0.5).sample_logits(x, 100_000, gen(0)).detach()
    torch.testing.assert_close(out.mean(0), lin(x).detach(), rtol=0, atol=0.02)
    torch.testing.assert_close(out.var(0), 0.25 * (x.pow(2).sum(1, keepdim=True) + 1).expand(2, 3), rtol=0.02, atol=0)


def test_per_realisation_inputs():
    "realisations(xs, generators) with one input batch per realisation (as Smoothed feeds them) equals shared inputs."
    module, x = make_module('cnn')
    for w in (mc_dropout(module), gaussian_weights(module, 0.1), from_sampler(input_noise(module))):
        shared = w.realisations(x.expand(4, *x.shape), sample_streams(4, gen(0)))
        own = w.realisations(x.expand(4, *x.shape).contiguous(), sample_streams(4, gen(0)))
        torch.testing.assert_close(shared, own, rtol=0, atol=1e-6)


class NoisyInput(nn.Module):
    "A sampler that is a module: input noise from the realisation's generator, then a linear layer."
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(16, 3)

    def forward(self, x, generator):
        return self.linear(x.flatten(1) + 0.1 * torch.randn(x.shape, generator=generator).flatten(1))


def test_a_sampler_module_is_registered():
    sampler, x = NoisyInput(), torch.rand(5, 4, 4)
    w = from_sampler(sampler, classes=3)
    assert [id(p) for p in w.parameters()] == [id(p) for p in sampler.parameters()]
    torch.testing.assert_close(mc_probs(w, x, 9, generator=gen(0), chunk_size=2), mc_probs(w, x, 9, generator=gen(0)),
                               rtol=0, atol=1e-6)


def test_clear_errors():
    cnn, _ = make_module('cnn')
    with pytest.raises(ValueError, match=r'module must contain a dropout layer \(nn.Dropout, .*Sequential has none'):
        mc_dropout(nn.Sequential(nn.Linear(4, 3), nn.ReLU()))
    with pytest.raises(ValueError, match='mc_dropout does not support'):
        mc_dropout(nn.Sequential(nn.Linear(4, 3), nn.AlphaDropout(0.1), nn.Dropout(0.1)))
    for bad in (lambda x: x, None):
        with pytest.raises(TypeError, match='module must be a torch.nn.Module'): mc_dropout(bad)
        with pytest.raises(TypeError, match='module must be a torch.nn.Module'): gaussian_weights(bad, 0.1)
    for bad in (-0.1, float('nan'), float('inf'), True, '0.1', None):
        with pytest.raises(ValueError, match=r'std must be a finite number >= 0 \(a standard deviation\)'):
            gaussian_weights(cnn, bad)
    with pytest.raises(ValueError, match='module must have parameters to perturb'): gaussian_weights(nn.ReLU(), 0.1)
    for bad in (3, None, 'model'):
        with pytest.raises(TypeError, match=r'fn must be callable as fn\(x, generator\)'): from_sampler(bad)
    with pytest.raises(TypeError, match=r'fn must take \(x, generator\)'): from_sampler(lambda x: x)
    for make in (lambda c: mc_dropout(cnn, c), lambda c: gaussian_weights(cnn, 0.1, c), lambda c: from_sampler(cnn, c)):
        with pytest.raises(ValueError, match='classes must be a positive integer'): make(0)
    with pytest.raises(ValueError, match=r'must return \[n_samples, B, K\] = \[2, 5, 4\]'):
        mc_probs(mc_dropout(cnn, classes=4), torch.rand(5, 1, 8, 8), 2)
