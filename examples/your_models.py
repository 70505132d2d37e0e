"""Two stochastic classifiers of one's own for `snn-robust evaluate`: an MC-dropout CNN and a bayesian-torch BNN.

`nbs/14_your_model.ipynb` trains them (a few minutes on a CPU) and saves their weights under the cache
(`$SNN_ROBUST_CACHE/examples`, default `~/.cache/snn_robust/examples`); each factory below loads its trained network
and wraps it as a stochastic classifier. Then, from the repository's root:

    snn-robust evaluate examples/your_models.py:mc_dropout_cnn --profile quick
"""
import torch
import torch.nn as nn

from snn_robust.data import cache_dir
from snn_robust.wrappers import from_global_sampler, mc_dropout


def weights(name: str):
    "Where the tutorial saves the trained network `name`."
    return cache_dir() / 'examples' / f'{name}.pt'


def cnn_network(dropout: float = 0.3) -> nn.Module:
    "A small CNN for 28 x 28 grey images with two dropout layers."
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Dropout(dropout), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(128, 10))


def bnn_network() -> nn.Module:
    "A 784-128-128-10 MLP whose linear layers bayesian-torch makes Bayesian (mean-field Gaussian weights)."
    from bayesian_torch.models.dnn_to_bnn import dnn_to_bnn
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                        nn.Linear(128, 10))
    dnn_to_bnn(net, dict(prior_mu=0.0, prior_sigma=1.0, posterior_mu_init=0.0, posterior_rho_init=-4.0,
                         type='Reparameterization', moped_enable=False, moped_delta=0.5))
    return net


def _load(net: nn.Module, name: str) -> nn.Module:
    path = weights(name)
    if not path.exists(): raise FileNotFoundError(f'{path}: train it first (nbs/14_your_model.ipynb)')
    net.load_state_dict(torch.load(path, map_location='cpu', weights_only=True))
    return net.eval()


def mc_dropout_cnn():
    "The trained CNN under MC dropout: a fresh mask per realisation and input, in one batched call."
    return mc_dropout(_load(cnn_network(), 'cnn'), classes=10)


def bayesian_mlp():
    "The trained bayesian-torch BNN: one weight draw per forward pass, its global RNG seeded from our generator."
    return from_global_sampler(_load(bnn_network(), 'bnn'), classes=10)
