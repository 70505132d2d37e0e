"""Section 4.5's checks (C11-C14) and section 3's unit checks (C1, C2, C14) as verdicts: pure functions of the saved
results, a claim that is false becomes a 'fails' row, and Prop. 3.5's terms on a model whose gradients are known."""
import numpy as np
import pytest
import torch

from snn_robust import theory
from snn_robust.core import GaussianLinear
from snn_robust.sections import load_results, save_results
from snn_robust.inference_samples import gradient_spread, pack, prop35_on_images, verdicts


def section45(n=300, seed=0, gap=0.05):
    "Section 4.5's results for one model on `n` made-up images; accuracy `gap` lower at S_I = 1 than at the others."
    rng = np.random.default_rng(seed)
    right = rng.random(n) < 0.8
    correct = {1: right & (rng.random(n) > gap), 5: right, 10: right, 100: right}
    bits = np.stack([correct[s] for s in sorted(correct)], 1).astype(int)
    rows, counts = np.unique(bits, axis=0, return_counts=True)
    norm, cos = rng.uniform(0.5, 1.5, n), -rng.uniform(0.1, 0.5, n)
    return dict(section='4.5', profile='smoke', seed=seed, labels={'im': 'IM'}, paper_setting={'im': False}, not_run={},
                claims={}, clean={'im': {s: 100 * c.mean() for s, c in correct.items()}}, n_clean_images={'im': n},
                clean_patterns={'im': {''.join(map(str, r)): int(c) for r, c in zip(rows.tolist(), counts.tolist())}},
                terms={'im': {s: dict(grad_norm=pack(norm * (1 + 1 / s)), cos=pack(cos * (1 - 0.5 / s)), no_gradient=0)
                              for s in (1, 5, 10, 100)}},
                attacked={'im': {'eta': [0.0, 1.0, 2.0], **{s: [0.8, 0.5, 0.3] for s in (1, 5, 10, 100)}}},
                attacked_images={'im': {s: pack(rng.binomial(2, 0.4 if s == 1 else 0.5, n)) for s in (1, 5, 10, 100)}},
                prop35={'im': {1: dict(lower=1.0, measured=1.3, upper=1.4, inside=1.0)}},
                prop35_inside={'im': pack(np.ones(n))})


def test_the_verdicts_are_a_pure_function_of_the_saved_results(tmp_path):
    results = section45()
    results['claims'] = verdicts(results)
    again = load_results(save_results(results, tmp_path))
    assert verdicts(again) == results['claims'] == again['claims']
    verdict = {k: v['verdict'] for k, v in results['claims'].items()}
    assert verdict['C11/rises/im'] == 'holds' and verdict['C11/saturates/im'] == 'holds'
    assert verdict['C13/norm_falls/im'] == 'holds' and verdict['C14/trained/im'] == 'measured'


def test_a_false_claim_is_a_fails_row():
    results = section45(gap=-0.3)  # wrong at S_I = 10 where right at S_I = 1: clean accuracy falls
    results['clean_patterns']['im'] = {'1000': 200, '1111': 100}
    assert verdicts(results)['C11/rises/im']['verdict'] == 'fails'


def test_prop35_terms_on_a_linear_model_with_gaussian_weights():
    g = torch.Generator().manual_seed(0)
    model = GaussianLinear(torch.randn(20, 4, generator=g, dtype=torch.float64), torch.zeros(4, dtype=torch.float64),
                           std=0.5)
    x = torch.rand(64, 20, generator=g, dtype=torch.float64)
    y = (x @ model.mean).argmax(1)
    spread = gradient_spread(model, x, y, 200, (1, 2, 10, 200), g)
    assert list(spread['mean_norm']) == [1, 2, 10]
    inside, table = prop35_on_images(spread)
    assert table[1]['inside'] == 1.0 and table[10]['inside'] > 0.8  # Jensen on the sample; the bounds with estimates
    assert table[1]['measured'] > table[2]['measured'] > table[10]['measured'] > table[10]['lower']
    assert inside.max() <= 3 and inside.min() >= 0


def test_gradient_spread_rejects_bad_input():
    model = GaussianLinear(torch.randn(5, 3), torch.zeros(3), std=0.5)
    x, y = torch.rand(4, 5), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match='n_samples must be >= 2'): gradient_spread(model, x, y, 1, (1,))
    with pytest.raises(TypeError, match='model must implement sample_logits'):
        gradient_spread(torch.nn.Linear(5, 3), x, y, 4, (1,))


def test_section3_counter_examples_fail_and_no_cases_is_inconclusive():
    counts = dict(thm32=dict(cases=100, agree=100, successful_attacks=40), thm32_probs=dict(cases=100, agree=90),
                  thm34=dict(inputs=100, condition_holds=20, violations=0, robust=60),
                  prop35=dict(cases=30, outside=0, draws=100))
    assert {k: v['verdict'] for k, v in theory.verdicts(counts).items()} == dict.fromkeys(
        ('C1/synthetic', 'C2/synthetic', 'C14/synthetic'), 'verified')  # synthetic cases verify the implementation
    def verdict(key, field, **change):
        return theory.verdicts(dict(counts, **{field: dict(counts[field], **change)}))[key]
    assert verdict('C1/synthetic', 'thm32', agree=99)['verdict'] == 'fails'
    assert verdict('C2/synthetic', 'thm34', violations=1)['verdict'] == 'fails'
    assert verdict('C14/synthetic', 'prop35', outside=2)['verdict'] == 'fails'
    none = verdict('C2/synthetic', 'thm34', condition_holds=0)
    assert none['verdict'] == 'inconclusive' and none['n'] == 0
    with pytest.raises(ValueError, match='n_cases must be a positive integer'): theory.gaussian_norm_cases(0)
