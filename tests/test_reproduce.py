"`snn-robust reproduce` end to end on the smoke profile: every figure, table and report line, reuse of finished notebooks, and a failing notebook."
import json
import subprocess

import papermill

from conftest import reproduce_args, reproduce_env
from snn_robust.checkpoints import checkpoint_path
from snn_robust.experiments import experiment_config
from snn_robust.paper import CLAIMS, NOTEBOOKS
from snn_robust.provenance import notebooks_dir

FIGURES = ['fig1_attack_failure_modes', 'fig2_gradient_angle', 'fig3_conditions_im_dropout0.6', 'fig4_prediction_variance',
           'fig5_fgm_im_dropout0.6', 'fig6_cos_im_dropout0.6', 'fig8_conditions_bnn_dropout0.3', 'fig9_fgm_bnn_dropout0.3',
           'fig10_cos_bnn_dropout0.3', 'fig11_fgsm_bnn_im', 'fig12_fgsm_dropout', 'fig13_pgd_bnn_im', 'fig14_pgd_dropout',
           'fig15_attack_losses'] + [f'fig7_16_17_inference_samples_{m}' for m in ('bnn', 'im', 'dropout0.3', 'dropout0.6')]
TABLES = ['table1_attack_length', 'table2_inference_samples', 'claims']


def reproduce(tmp, *extra, env=None):
    return subprocess.run(reproduce_args(tmp, *extra), capture_output=True, text=True, timeout=1800, env=reproduce_env(tmp, **(env or {})))


def test_reproduce_smoke_end_to_end(smoke_reproduce):
    tmp_path = smoke_reproduce.root  # the session's smoke run (conftest.py); this test runs after it in the same folders
    assert 'Kernel is running over TCP' not in smoke_reproduce.result.stderr  # the kernels' logs stay quiet
    assert 'IPKernelApp' not in smoke_reproduce.result.stderr, smoke_reproduce.result.stderr[-2000:]
    out = tmp_path / 'figures' / 'smoke'
    for stem in FIGURES:
        assert (out / f'{stem}.png').stat().st_size > 1000 and (out / f'{stem}.pdf').exists(), stem
    for stem in TABLES:
        assert (out / f'{stem}.md').exists() and (out / f'{stem}.csv').exists(), stem
    report = (out / 'REPORT.md').read_text()
    for cid in CLAIMS:
        line = next(l for l in report.splitlines() if l.startswith(f'| {cid} |'))
        assert any(f'**{v}' in line for v in ('holds', 'fails', 'inconclusive', 'verified', 'not run', 'stand-in only')), line
    assert '| BNN | 1.5 |' in report and '(paper' not in report  # the paper's numbers only next to the paper profile's
    assert 'package source `' in report and '### C14:' in report and (out / 'results' / 'seed0' / '10_inference_samples.json').exists()
    for name in NOTEBOOKS:
        run = tmp_path / 'runs' / 'smoke' / 'seed0' / name
        assert (run / f'{name}.ipynb').exists() and json.loads((run / 'results.json').read_text())['claims']
    # a second run reuses every finished notebook
    second = reproduce(tmp_path)
    assert second.returncode == 0 and second.stdout.count(': reused (') == len(NOTEBOOKS), second.stdout
    assert 'train' not in second.stdout  # nothing to train for notebooks that are reused

    # a failing training task: exit 1 with one line naming it, figures/ untouched. The failure: a folder where the BNN's
    # checkpoint should be written (bad data or a bad cache would be caught before any task runs, with exit code 2)
    before = {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob('*') if p.is_file()}
    blocked = checkpoint_path(experiment_config('bnn', 'smoke', 0), tmp_path / 'cache2'); blocked.mkdir(parents=True)
    failed = reproduce(tmp_path, '--notebooks', '07_variance', '--force', env={'SNN_ROBUST_CACHE': str(tmp_path / 'cache2')})
    assert failed.returncode == 1 and 'error: seed 0 train bnn failed (WriteError: cannot save checkpoint' in failed.stderr, failed.stderr[-2000:]
    assert 'it is a folder' in failed.stderr, failed.stderr[-2000:]
    assert 'Traceback' not in failed.stderr and 'figures/ is unchanged' in failed.stderr
    # a failing notebook (its kernel cannot load matplotlib's backend): exit 1, its executed copy kept, figures/ untouched
    executed = tmp_path / 'runs' / 'smoke' / 'seed0' / '07_variance' / '07_variance.ipynb'
    executed.unlink()
    failed = reproduce(tmp_path, '--notebooks', '07_variance', '--force', env={'MPLBACKEND': 'no_such_backend'})
    assert failed.returncode == 1 and 'a notebook failed (ValueError' in failed.stderr and 'Traceback' not in failed.stderr, failed.stderr[-2000:]
    assert executed.exists() and 'no_such_backend' in executed.read_text()
    assert {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob('*') if p.is_file()} == before
    assert sorted(p.name for p in (tmp_path / 'figures').iterdir()) == ['smoke']  # no temporary folder left behind


def test_every_section_notebook_has_one_parameters_cell():
    for name in NOTEBOOKS:
        nb = json.loads((notebooks_dir() / f'{name}.ipynb').read_text())
        tagged = [c for c in nb['cells'] if 'parameters' in c.get('metadata', {}).get('tags', [])]
        assert len(tagged) == 1, name
        declared = papermill.inspect_notebook(str(notebooks_dir() / f'{name}.ipynb'))  # what `reproduce` can pass
        assert {'profile', 'seed', 'out_dir'} <= set(declared), (name, list(declared))
        assert declared['profile']['default'] == "'smoke'", 'defaults are the smoke profile'
        assert all(p['inferred_type_name'] != 'None' for p in declared.values()), declared  # typed for --help-notebook
