"APGD and the randomized AutoAttack: torchattacks' APGD on a deterministic model, seeds and chunks on stochastic ones, decisions by f^I."
import math

import pytest
import torch

from snn_robust.autoattack import apgd, apgd_checkpoints, auto_attack_rand
from snn_robust.losses import dlr_loss
from snn_robust.attacks import accuracy
from snn_robust.core import GaussianLinear, mc_probs
from snn_robust.models import StochasticMLP, as_deterministic


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def torchattacks_start(x, eta, norm, seed):
    "The start torchattacks' `APGD.attack_single_run` draws after `torch.manual_seed(seed)`, as a perturbation of x."
    torch.manual_seed(seed)
    if norm == math.inf:
        t = 2 * torch.rand(x.shape) - 1
        return (eta * t / t.flatten(1).abs().amax(1).view(-1, 1, 1, 1)).to(x)
    t = torch.randn(x.shape)
    return (eta * t / (t.pow(2).sum((1, 2, 3), keepdim=True).sqrt() + 1e-12)).to(x)


class MeanLogits(torch.nn.Module):
    "A `StochasticMLP`'s mean network as a plain module for torchattacks."
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.deterministic_logits(x)


class SameEveryDraw:
    "A user's deterministic model under the protocol: every realisation is the same linear map."
    def __init__(self, w):
        self.w = w

    def sample_logits(self, x, n_samples, generator=None):
        return (x.flatten(1) @ self.w).expand(n_samples, -1, -1)


@pytest.fixture(scope='module')
def two_leading():
    "A float64 deterministic MLP whose classes 2..9 sit 20 below classes 0 and 1 (off DLR's plateau), inputs and its labels."
    torch.manual_seed(0)
    net = StochasticMLP().double()
    with torch.no_grad():
        for layer in net.layers: layer.mean.mul_(2)
        net.layers[-1].mean[-1, 2:] -= 20
    x = torch.rand(8, 1, 28, 28, dtype=torch.float64)
    return net, x, net.deterministic_logits(x).argmax(1)


@pytest.fixture
def linear():
    torch.manual_seed(0)
    model = GaussianLinear(torch.randn(6, 4).double(), torch.zeros(4).double(), std=0.5)
    x = torch.rand(30, 6, dtype=torch.float64)
    return model, x, mc_probs(model, x, 200).argmax(1)


@pytest.fixture
def noisy():
    "A linear model whose single draws are noisy: one realisation predicts the 1000-sample label for two inputs in three."
    torch.manual_seed(1)
    model = GaussianLinear(torch.randn(20, 4), torch.zeros(4), std=1.0)
    x = torch.rand(300, 20)
    return model, x, mc_probs(model, x, 1000).argmax(1)


@pytest.mark.parametrize('loss', ['ce', 'dlr'])
@pytest.mark.parametrize('norm, eta', [(math.inf, 0.03), (2, 1.0)])
def test_apgd_matches_torchattacks_on_a_deterministic_model(two_leading, norm, eta, loss):
    torchattacks = pytest.importorskip('torchattacks')
    net, x, y = two_leading
    reference = torchattacks.APGD(MeanLogits(net), norm='Linf' if norm == math.inf else 'L2', eps=eta, steps=100,
                                  n_restarts=1, loss=loss)
    torch.manual_seed(3)
    x_theirs, _, loss_theirs, _ = reference.attack_single_run(x, y)
    ours, info = apgd(as_deterministic(net), x, y, eta, 1, loss=loss, norm=norm, start=torchattacks_start(x, eta, norm, 3),
                      return_info=True)
    torch.testing.assert_close(ours, x_theirs, rtol=0, atol=1e-5)
    torch.testing.assert_close(info.loss, loss_theirs, rtol=0, atol=1e-6)
    assert (info.step_size < 2 * eta).any()  # the schedule halved somewhere: the comparison covers it
    assert (net.deterministic_logits(ours).argmax(1) != y).float().mean() > 0.5


def test_checkpoint_schedule_is_croce_and_hein():
    assert apgd_checkpoints(100) == (22, 6, 3)
    assert apgd_checkpoints(1000) == (220, 60, 30)
    assert apgd_checkpoints(10) == (2, 1, 1)
    assert apgd_checkpoints(1) == (1, 1, 1)


def test_dlr_loss_values_invariance_and_plateau():
    z = torch.tensor([[3.0, 1.0, 0.0, -1.0], [0.0, 2.0, 1.0, -1.0], [1.0, 2.0, 0.0, 3.0]])
    y = torch.tensor([0, 0, 1])
    torch.testing.assert_close(dlr_loss(z, y), torch.tensor([-2 / 3, 1.0, 0.5]))
    torch.testing.assert_close(dlr_loss(3 * z - 2, y), dlr_loss(z, y))
    zg = z.double().requires_grad_(True)
    grad = torch.autograd.grad(dlr_loss(zg, y).sum(), zg)[0]
    assert grad[1].abs().max() < 1e-11 and grad[0].abs().max() > 0.1  # y third: flat; y first: a real gradient


def test_apgd_ignores_the_sample_count_on_a_model_whose_realisations_are_equal():
    torch.manual_seed(0)
    model, x = SameEveryDraw(torch.randn(12, 5, dtype=torch.float64)), torch.rand(20, 12, dtype=torch.float64)
    y = model.sample_logits(x, 1)[0].argmax(1)
    for loss in ('ce', 'dlr'):
        one = apgd(model, x, y, 0.1, 1, steps=40, loss=loss, generator=gen())
        torch.testing.assert_close(apgd(model, x, y, 0.1, 7, steps=40, loss=loss, generator=gen()), one, rtol=0, atol=1e-10)


@pytest.mark.parametrize('loss, norm, eta', [('ce', math.inf, 0.1), ('ce', 2, 0.5), ('dlr', math.inf, 0.1), ('dlr', 2, 0.5)])
def test_apgd_is_repeatable_under_a_seed_and_stays_in_the_ball_and_box(linear, loss, norm, eta):
    model, x, y = linear
    x_adv, info = apgd(model, x, y, eta, 8, steps=30, loss=loss, norm=norm, generator=gen(), return_info=True)
    assert torch.equal(x_adv, apgd(model, x, y, eta, 8, steps=30, loss=loss, norm=norm, generator=gen()))
    assert not torch.equal(x_adv, apgd(model, x, y, eta, 8, steps=30, loss=loss, norm=norm, generator=gen(1)))
    size = (x_adv - x).abs().amax(1) if norm == math.inf else (x_adv - x).norm(dim=1)
    assert (size <= eta + 1e-9).all() and x_adv.min() >= 0 and x_adv.max() <= 1
    torch.testing.assert_close(info.attack_length, (x_adv - x).norm(dim=1))


@pytest.mark.parametrize('kind', ['linear', 'mlp'])
@pytest.mark.parametrize('loss, norm, eta', [('ce', math.inf, 0.1), ('ce', 2, 0.5), ('dlr', math.inf, 0.1)])
@pytest.mark.parametrize('chunk_size', [1, 3, 5])
def test_apgd_does_not_depend_on_the_chunk_size(linear, kind, loss, norm, eta, chunk_size):
    # float64, and DLR with L2 steps left out: there DLR's plateau (y third, loss 1) turns rounding into a direction
    model, x, y = linear
    if kind == 'mlp':
        torch.manual_seed(2)
        model = StochasticMLP(6, (16,), 4, init_var=0.01).double()
        y = mc_probs(model, x, 200).argmax(1)
    full = apgd(model, x, y, eta, 8, steps=30, loss=loss, norm=norm, generator=gen())
    chunked = apgd(model, x, y, eta, 8, steps=30, loss=loss, norm=norm, generator=gen(), chunk_size=chunk_size)
    torch.testing.assert_close(chunked, full, rtol=0, atol=1e-10)


def test_auto_attack_rand_reports_robust_exactly_where_f_I_predicts_y(noisy):
    model, x, y = noisy
    clean_correct = mc_probs(model, x, 100, generator=gen(1)).argmax(1) == y
    x_adv, info = auto_attack_rand(model, x, y, 0.1, generator=gen(0), infer_generator=gen(1), return_info=True)
    f_I = mc_probs(model, x_adv, 100, generator=gen(1)).argmax(1) == y
    assert torch.equal(info.robust, f_I)
    assert not info.robust[~clean_correct].any()  # what f^I misclassifies clean is never robust
    assert torch.equal(x_adv[~clean_correct], x[~clean_correct])  # and is not attacked
    acc = info.robust_accuracy
    assert list(acc) == ['clean', 'apgd-ce', 'apgd-dlr']
    assert acc['clean'] == pytest.approx(clean_correct.float().mean().item())
    assert acc['apgd-dlr'] == pytest.approx(f_I.float().mean().item())
    assert acc['clean'] > acc['apgd-ce'] >= acc['apgd-dlr']
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1


def test_auto_attack_rand_is_stronger_than_single_draw_decisions(noisy):
    "Scored by an independent 1000-sample f^I, decisions by f^I (S_I = 100) leave fewer inputs robust than by one draw."
    model, x, y = noisy
    x_auto = auto_attack_rand(model, x, y, 0.1, generator=gen(0), infer_generator=gen(1))
    x_one = auto_attack_rand(model, x, y, 0.1, n_infer=1, generator=gen(0), infer_generator=gen(1))
    score = lambda x_adv: accuracy(model, x_adv, y, 1000, generator=gen(2))
    assert score(x_auto) < score(x_one) - 0.05


def test_auto_attack_rand_runs_apgd_ce_first_then_dlr_on_what_is_left(two_leading):
    net, x, y = two_leading
    det, x, y = as_deterministic(net), x[:6], y[:6]  # all classified correctly (y is the network's prediction)
    x_adv, info = auto_attack_rand(det, x, y, 0.02, n_attack=1, n_infer=1, steps=20, generator=gen(0),
                                   infer_generator=gen(1), return_info=True)
    x_ce = apgd(det, x, y, 0.02, 1, steps=20, generator=gen(0))
    fooled_by_ce = det.sample_logits(x_ce, 1)[0].argmax(1) != y
    assert 0 < fooled_by_ce.sum() < len(y)  # both stages have work
    assert torch.equal(x_adv[fooled_by_ce], x_ce[fooled_by_ce])
    assert info.robust_accuracy['apgd-ce'] == pytest.approx(1 - fooled_by_ce.float().mean().item())


@pytest.mark.parametrize('call, message', [
    (lambda m, x, y: apgd(m, x, y, 0.1, 2, loss='cw'), "loss must be one of ('ce', 'dlr')"),
    (lambda m, x, y: apgd(m, x, y, 0.1, 2, steps=0), 'steps must be a positive integer'),
    (lambda m, x, y: apgd(m, x, y, 0.1, 2, rho=1.5), 'rho must be a number in [0, 1]'),
    (lambda m, x, y: apgd(m, x, y, 0.1, 2, start=torch.zeros(2, 6)), 'start must be None or a perturbation'),
    (lambda m, x, y: apgd(m, x, y, 0.1, 2, norm=1), 'norm must be 2'),
    (lambda m, x, y: apgd(m, x, y, float('nan'), 2), 'eta must be a finite number >= 0'),
    (lambda m, x, y: apgd(m, x * 2, y, 0.1, 2), 'x must lie in the clip box'),
    (lambda m, x, y: auto_attack_rand(m, x, y, 0.1, n_infer=0), 'n_infer must be a positive integer'),
    (lambda m, x, y: auto_attack_rand(m, x, y, 0.1, infer_generator=3), 'generator must be a torch.Generator'),
    (lambda m, x, y: auto_attack_rand(m, x, y[:3], 0.1), 'y must have shape'),
])
def test_bad_arguments_are_named(linear, call, message):
    model, x, y = linear
    with pytest.raises((ValueError, TypeError)) as e:
        call(model, x, y)
    assert message in str(e.value)


def test_dlr_needs_three_classes():
    model = GaussianLinear(torch.randn(6, 2), torch.zeros(2), std=0.5)
    x, y = torch.rand(5, 6), torch.zeros(5, dtype=torch.long)
    for call in (lambda: apgd(model, x, y, 0.1, 2, loss='dlr'), lambda: auto_attack_rand(model, x, y, 0.1)):
        with pytest.raises(ValueError, match="loss='dlr' needs K >= 3 classes"):
            call()
