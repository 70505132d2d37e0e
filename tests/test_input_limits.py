"""Inputs at the edges (issue 28, items 5 and 6): images of another floating-point precision than the model's, outputs
larger than the memory budget, absurd sample counts, and a mistyped papermill parameter. Each is refused up front with
an error naming the parameter."""
import subprocess
import sys
import time

import pytest
import torch

from snn_robust.attacks import fgm, pgd
from snn_robust.checks import MAX_COUNT
from snn_robust.core import GaussianLinear, mc_grad, mc_probs, sample_probs
from snn_robust.chunks import MEMORY_BUDGET
from snn_robust.provenance import notebooks_dir

ENTRY_POINTS = {
    'sample_probs': lambda m, x, y: sample_probs(m, x, 4),
    'mc_probs': lambda m, x, y: mc_probs(m, x, 4),
    'mc_grad': lambda m, x, y: mc_grad(m, x, lambda p: p[:, 0], 4),
    'fgm': lambda m, x, y: fgm(m, x, y, 0.1, 4),
    'pgd': lambda m, x, y: pgd(m, x, y, 0.1, 4, steps=2),
}


def model_and_inputs(dtype=torch.float32):
    model = GaussianLinear(torch.randn(6, 3), torch.zeros(3), 0.5)
    return model, torch.rand(5, 6).to(dtype), torch.tensor([0, 1, 2, 0, 1])


@pytest.mark.parametrize('entry', ENTRY_POINTS)
@pytest.mark.parametrize('dtype', [torch.float64, torch.float16, torch.bfloat16])
def test_inputs_of_another_precision_are_refused_naming_x(entry, dtype):
    model, x, y = model_and_inputs(dtype)
    with pytest.raises(TypeError, match=rf"x must have the dtype of the model's parameters, torch.float32, got {dtype}: "
                                        rf"convert it with x.to\(torch.float32\)"):
        ENTRY_POINTS[entry](model, x, y)


@pytest.mark.parametrize('entry', ENTRY_POINTS)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_inputs_of_the_models_precision_give_outputs_in_that_dtype(entry, dtype):
    model, x, y = model_and_inputs()
    model, x = model.to(dtype), x.to(dtype)
    out = ENTRY_POINTS[entry](model, x, y)
    for t in out if isinstance(out, tuple) else (out,):
        if isinstance(t, torch.Tensor) and t.is_floating_point(): assert t.dtype == dtype, (entry, t.dtype)


def test_an_output_over_the_memory_budget_is_refused_before_it_is_allocated():
    model, x, _ = model_and_inputs()
    x = x.repeat(7, 1)[:32]  # [32, 6]: 10**7 samples would be 10**7 * 32 * 3 * 4 bytes = 3.84 GB
    start = time.time()
    with pytest.raises(ValueError, match=r'sample_probs would return \[n_samples, B, K\] = \[10000000, 32, 3\] '
                                         r'torch.float32 \(3.84 GB\), over the memory budget of 1.07 GB'):
        sample_probs(model, x, 10**7)
    assert time.time() - start < 5
    assert sample_probs(model, x, MEMORY_BUDGET // (32 * 3 * 4) // 8).shape[1:] == (32, 3)  # within the budget: fine


@pytest.mark.parametrize('n', [2**63, MAX_COUNT + 1])
def test_a_sample_count_over_the_documented_bound_is_refused(n):
    model, x, _ = model_and_inputs()
    with pytest.raises(ValueError, match=rf'n_samples must be at most 2\*\*40 \(MAX_COUNT\), got {n}'):
        mc_probs(model, x, n)


def test_papermill_with_a_mistyped_parameter_fails_naming_it(tmp_path):
    papermill = [sys.executable, '-m', 'papermill']
    for notebook in ('07_variance', '05_theory'):
        done = subprocess.run([*papermill, str(notebooks_dir() / f'{notebook}.ipynb'), str(tmp_path / 'out.ipynb'),
                               '-p', 'profil', 'quick', '--cwd', str(notebooks_dir())],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode != 0, done.stderr[-2000:]
        assert "ValueError: unknown parameter 'profil' given to this notebook (papermill -p?); it declares" in done.stderr, \
            done.stderr[-2000:]
        assert 'without encryption' not in done.stderr  # the project's kernel logs errors only (make setup)
