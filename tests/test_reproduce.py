"`snn-robust reproduce` end to end on the smoke profile: every figure, table and report line, reuse of finished notebooks, and a failing notebook."
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from snn_robust.data import DEBIAN_FASHION_MNIST, FASHION_FILES
from snn_robust.reproduce import CLAIMS, NOTEBOOKS, notebooks_dir

CLI = str(Path(sys.executable).parent / 'snn-robust')
FIGURES = ['fig1_attack_failure_modes', 'fig2_gradient_angle', 'fig3_conditions_im_dropout0.6', 'fig4_prediction_variance',
           'fig5_fgm_im_dropout0.6', 'fig6_cos_im_dropout0.6', 'fig8_conditions_bnn_dropout0.3', 'fig9_fgm_bnn_dropout0.3',
           'fig10_cos_bnn_dropout0.3', 'fig11_fgsm_bnn_im', 'fig12_fgsm_dropout', 'fig13_pgd_bnn_im', 'fig14_pgd_dropout',
           'fig15_attack_losses'] + [f'fig7_16_17_inference_samples_{m}' for m in ('bnn', 'im', 'dropout0.3', 'dropout0.6')]
TABLES = ['table1_attack_length', 'table2_inference_samples', 'claims']


def reproduce(tmp, *extra, env=None):
    args = [CLI, 'reproduce', '--profile', 'smoke', '--device', 'cpu', '--figures', str(tmp / 'figures'), '--runs', str(tmp / 'runs'), *extra]
    return subprocess.run(args, capture_output=True, text=True, timeout=1800, env={**os.environ, 'SNN_ROBUST_CACHE': str(tmp / 'cache'), **(env or {})})


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.exists(), reason='needs FashionMNIST (make setup installs it)')
def test_reproduce_smoke_end_to_end(tmp_path):
    first = reproduce(tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    out = tmp_path / 'figures' / 'smoke'
    for stem in FIGURES:
        assert (out / f'{stem}.png').stat().st_size > 1000 and (out / f'{stem}.pdf').exists(), stem
    for stem in TABLES:
        assert (out / f'{stem}.md').exists() and (out / f'{stem}.csv').exists(), stem
    report = (out / 'REPORT.md').read_text()
    for cid in CLAIMS:
        line = next(l for l in report.splitlines() if l.startswith(f'| {cid} |'))
        assert any(v in line for v in ('**holds**', '**fails**', '**not run**')), line
    assert '| BNN | 1.5 |' in report and '(paper 83.16)' in report
    for name in NOTEBOOKS:
        run = tmp_path / 'runs' / 'smoke' / 'seed0' / name
        assert (run / f'{name}.ipynb').exists() and json.loads((run / 'results.json').read_text())['claims']
    # a second run reuses every finished notebook
    second = reproduce(tmp_path)
    assert second.returncode == 0 and second.stdout.count('reused (') == len(NOTEBOOKS), second.stdout

    # a failing notebook: exit 1, its executed copy kept, figures/ untouched
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    bad = tmp_path / 'bad' / 'FashionMNIST' / 'raw'; bad.mkdir(parents=True)
    for name in FASHION_FILES['train'] + FASHION_FILES['test']:
        with gzip.open(bad / f'{name}.gz', 'wb') as f: f.write(b'\x00\x00\x08\x03corrupt')
    failed = reproduce(tmp_path, '--notebooks', '07_variance', '--force', env={'SNN_ROBUST_DATA': str(tmp_path / 'bad'), 'SNN_ROBUST_CACHE': str(tmp_path / 'cache2')})
    assert failed.returncode == 1 and 'a notebook failed' in failed.stderr and 'Traceback' not in failed.stderr
    assert (tmp_path / 'runs' / 'smoke' / 'seed0' / '07_variance' / '07_variance.ipynb').exists()
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_every_section_notebook_has_one_parameters_cell():
    for name in NOTEBOOKS:
        nb = json.loads((notebooks_dir() / f'{name}.ipynb').read_text())
        tagged = [c for c in nb['cells'] if 'parameters' in c.get('metadata', {}).get('tags', [])]
        assert len(tagged) == 1, name
        src = ''.join(tagged[0]['source'])
        for param in ('profile = ', 'seed = ', 'out_dir = '): assert param in src, (name, param)
        assert "profile = 'smoke'" in src, 'defaults are the smoke profile'
