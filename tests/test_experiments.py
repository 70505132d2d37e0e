"""A new stochastic model in every experiment of the paper: one class and one spec entry (with its recipe).

The toy model is a linear classifier with Gaussian weight noise. Registered through `snn_robust.experiments.register`, it is
trained through the checkpoint cache by its own recipe and runs through every section's per-model function at smoke size;
its results land in the declared fields, the sections' verdicts and Tables 1 and 2 take it, and it gets figures of its own.
"""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from snn_robust import experiments
from snn_robust.attack_length import attack_length_experiment
from snn_robust.attack_samples import attack_samples_experiment
from snn_robust.core import StochasticClassifier, draw_normal, sample_generators
from snn_robust.data import DEBIAN_FASHION_MNIST
from snn_robust.experiments import ModelSpec, SCHEMAS, load_results, register, run_section, save_results, table1, table2
from snn_robust.inference_samples import inference_samples_experiment
from snn_robust.outputs import figure_groups
from snn_robust.paper import FIGURES
from snn_robust.smoothing import smoothing_experiment
from snn_robust.train import RECIPES, Recipe, TrainConfig
from snn_robust.variance import variance_experiment
import snn_robust.attack_length, snn_robust.attack_samples, snn_robust.inference_samples, snn_robust.smoothing, snn_robust.variance

pytestmark = pytest.mark.skipif(not DEBIAN_FASHION_MNIST.exists(), reason='needs FashionMNIST (make setup installs it)')


class NoisyLinear(StochasticClassifier):
    "The user's model: f(x, W) = W^T x + b with W = M + 0.1 E, E standard normal, drawn per realisation."
    classes = 10

    def __init__(self, features: int):
        super().__init__()
        self.mean, self.bias = nn.Parameter(torch.zeros(features, 10)), nn.Parameter(torch.zeros(10))

    def realisations(self, xs, generators):
        noise = draw_normal((xs.shape[0], *self.mean.shape), generators, xs.device, xs.dtype)
        return xs.flatten(2) @ (self.mean + 0.1 * noise) + self.bias


def toy_loss(model, config, x, y, n_data, generator):
    logits = model.realisations(x.expand(config.train_samples, *x.shape), sample_generators(config.train_samples, generator))
    return F.cross_entropy(logits.flatten(0, 1), y.repeat(config.train_samples))


TOY = ModelSpec('toy', lambda profile, seed=0, noise_var=0.0: TrainConfig(model='toy', epochs=1, n_train=500, seed=seed,
                                                                           noise_var=noise_var, lr=0.01),
                lambda config: 'Toy (noisy linear)',
                recipe=Recipe(lambda config, shape: NoisyLinear(math.prod(shape)), toy_loss,
                              lambda params, config: torch.optim.Adam(params, lr=config.lr),
                              ignores=('depth', 'widen_factor', 'dropout', 'hidden', 'init_var')))

SECTIONS = {'4.1': (smoothing_experiment, snn_robust.smoothing, True), '4.2': (variance_experiment, snn_robust.variance, False),
            '4.3': (attack_samples_experiment, snn_robust.attack_samples, False),
            '4.4': (attack_length_experiment, snn_robust.attack_length, False),
            '4.5': (inference_samples_experiment, snn_robust.inference_samples, False)}


@pytest.fixture
def toy(cache):
    register(TOY)
    yield TOY
    experiments.MODEL_SPECS.pop('toy'); RECIPES.pop('toy')


@pytest.mark.parametrize('section', SECTIONS)
def test_a_registered_model_runs_through_every_section(toy, section, tmp_path):
    per_model, module, noise = SECTIONS[section]
    results = run_section(section, per_model, 'smoke', 0, 'toy', 'cpu', noise=noise, progress=False)
    assert results['labels'] == {'toy': 'Toy (noisy linear)'} and results['paper_setting'] == {'toy': False}
    assert not results['not_run']
    computed = [f for f in SCHEMAS[section] if 'toy' in results[f]]
    assert computed and all(f in computed for f in SCHEMAS[section] if f not in ('deterministic',)), computed
    results['claims'] = module.verdicts(results)  # the pair claims (C4, C5, C9, C10) need the paper's pairs: none here
    again = load_results(save_results(results, tmp_path))
    assert again == results  # integer sample sizes survive the JSON round trip
    if section == '4.4': assert table1([again])[1][0][0] == 'Toy (noisy linear)' and '(paper' not in str(table1([again])[1])
    if section == '4.5':
        row = table2([again])[1][0]
        assert row[0] == 'Toy (noisy linear)' and float(row[-1]) > 30  # it learned, and no paper number is claimed for it
    if section in ('4.1', '4.3'):  # figures: the paper's show the paper's models; the new one gets its own
        key = '06_smoothing' if section == '4.1' else '08_attack_samples/fgm'
        assert 'fgm_toy' in figure_groups(FIGURES[key], ['toy'], 'fgm') and len(figure_groups(FIGURES[key], ['toy'], 'x')) == 1


def test_the_new_model_has_its_own_checkpoint_and_hash(toy):
    config = toy.config('smoke')
    assert config.hash() != TrainConfig(model='bnn', epochs=1, n_train=500, lr=0.01).hash()
    assert 'hidden' not in config.relevant() and 'dropout' not in config.relevant()  # the recipe's ignored fields
    with pytest.raises(ValueError, match="model must be 'all' or one of"): experiments.resolve_models('toy2')
