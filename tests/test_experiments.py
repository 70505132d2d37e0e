"""A new stochastic model in every experiment of the paper: one class and one spec entry (with its recipe).

The toy model is a linear classifier with Gaussian weight noise (the package's `core.GaussianLinear`, trained by a recipe of
its own: the mixture objective without a prior). Registered through `snn_robust.experiments.register`, it is
trained through the checkpoint cache by its own recipe and runs through every section's per-model function at smoke size;
its results land in the declared fields, the sections' verdicts and Tables 1 and 2 take it, and it gets figures of its own.
"""
import math

import pytest
import torch

import importlib

from snn_robust import experiments
from snn_robust.attack_length import table1
from snn_robust.core import GaussianLinear
from snn_robust.data import DEBIAN_FASHION_MNIST
from snn_robust.experiments import ModelSpec, register
from snn_robust.inference_samples import table2
from snn_robust.outputs import figure_groups
from snn_robust.paper import FIGURES
from snn_robust.sections import load_results, run_section, save_results, section_spec
from snn_robust.train import RECIPES, Recipe, TrainConfig, adam, mixture_loss, sampled_loss

pytestmark = pytest.mark.skipif(not DEBIAN_FASHION_MNIST.exists(), reason='needs FashionMNIST (make setup installs it)')


TOY = ModelSpec('toy', lambda profile, seed=0, noise_var=0.0: TrainConfig(model='toy', epochs=1, n_train=500, seed=seed,
                                                                           noise_var=noise_var, lr=0.01),
                lambda config: 'Toy (noisy linear)',
                recipe=Recipe(lambda config, shape: GaussianLinear(torch.zeros(math.prod(shape), 10), torch.zeros(10), 0.1),
                              sampled_loss(mixture_loss), adam,
                              ignores=('depth', 'widen_factor', 'dropout', 'hidden', 'init_var')))

SECTIONS = ['06_smoothing', '07_variance', '08_attack_samples', '09_attack_length', '10_inference_samples']  # 4.1-4.5


def nan_named(obj):
    "`obj` with each float NaN replaced by 'nan' (a check without cases has a NaN estimate, and NaN != NaN)."
    if isinstance(obj, dict): return {k: nan_named(v) for k, v in obj.items()}
    if isinstance(obj, list): return [nan_named(v) for v in obj]
    return 'nan' if isinstance(obj, float) and math.isnan(obj) else obj


@pytest.fixture
def toy(cache):
    register(TOY)
    yield TOY
    experiments.MODEL_SPECS.pop('toy'); RECIPES.pop('toy')


@pytest.mark.parametrize('notebook', SECTIONS)
def test_a_registered_model_runs_through_every_section(toy, notebook, tmp_path):
    spec = section_spec(notebook)  # its per-model function and fields; section 4.1 loads the noise-trained models
    module, section = importlib.import_module(spec.per_model.__module__), spec.section.number
    results = run_section(notebook, spec.per_model, 'smoke', 0, 'toy', 'cpu', progress=False)
    assert results['labels'] == {'toy': 'Toy (noisy linear)'} and results['paper_setting'] == {'toy': False}
    assert not results['not_run']
    computed = [f for f in spec.fields if 'toy' in results[f]]
    assert computed and all(f in computed for f in spec.fields if f not in ('deterministic',)), computed
    results['claims'] = module.verdicts(results)  # the pair claims (C4, C5, C9, C10) need the paper's pairs: none here
    again = load_results(save_results(results, tmp_path))
    assert nan_named(again) == nan_named(results)  # integer sample sizes survive the JSON round trip
    assert nan_named(module.verdicts(again)) == nan_named(results['claims'])  # the checks: a function of the file
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
