"""Atomic outputs: files are written through temporary files, figures/<profile>/ is swapped in complete, and a run that fails
leaves figures/ exactly as it was. (A failing notebook: tests/test_reproduce.py; a writer killed mid-write: tests/test_resume.py.)"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from snn_robust.evidence import check
from snn_robust.outputs import atomic_write, save_json
from snn_robust.provenance import committed_provenance, package_hash
from snn_robust.publish import write_outputs

ROOT = Path(__file__).resolve().parents[1]


def tree(folder):
    "Every path under `folder` with its bytes (None for folders), hidden ones included."
    return {str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes() for p in sorted(folder.rglob('*'))}


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = save_json({'a': 1}, tmp_path / 'r.json')
    def crash(f):
        f.write(b'{"a": 2, "half'); raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt): atomic_write(path, crash)
    assert json.loads(path.read_text()) == {'a': 1} and [p.name for p in tmp_path.iterdir()] == ['r.json']


@pytest.fixture
def runs(tmp_path):
    "A runs folder with one finished notebook of seed 0 (a figure and its claims)."
    run = tmp_path / 'runs' / 'smoke' / 'seed0' / '07_variance'; run.mkdir(parents=True)
    (run / 'fig4_prediction_variance.png').write_bytes(b'png'); (run / '07_variance.ipynb').write_text('{}')
    (run / 'results.json').write_text(json.dumps(RESULTS['07_variance'][0]))
    stamp = dict(params={}, package=package_hash(), torch=torch.__version__, checkpoints={'bnn.pt': 'ab12'})
    (run / 'run.json').write_text(json.dumps(dict(stamp=stamp, commit='abc123', machine='a CPU, 2 cores')))
    return tmp_path / 'runs'


RESULTS = {'07_variance': [{'labels': {'bnn': 'BNN', 'im': 'IM'}, 'paper_setting': {'bnn': True, 'im': True},
                            'claims': {'C4/variance/bnn/im': check('C4/variance/bnn/im', [np.full(20, 0.1)])}}]}
OUTPUTS = ['smoke', 'smoke/REPORT.md', 'smoke/checks.csv', 'smoke/checks.md', 'smoke/claims.csv', 'smoke/claims.md',
           'smoke/fig4_prediction_variance.png', 'smoke/notebooks', 'smoke/notebooks/07_variance.ipynb', 'smoke/results',
           'smoke/results/seed0', 'smoke/results/seed0/07_variance.json',
           'smoke/results/seed0/07_variance.stamp.json']


def test_write_outputs_swaps_in_a_complete_folder(tmp_path, runs):
    figures = tmp_path / 'figures'
    report = write_outputs('smoke', [0], RESULTS, {}, [[0, '07_variance', 1.0, 0.9, 0.1, 'ran']], figures, runs, 'cpu')
    text = report.read_text()
    assert report == figures / 'smoke' / 'REPORT.md' and '| C4 | **holds** |' in text
    assert f'package source `{package_hash()}`' in text and 'commit abc123' in text and '`bnn.pt` ab12' in text
    assert '![fig4_prediction_variance.png](fig4_prediction_variance.png)' in text  # figures shown, not listed
    assert sorted(tree(figures)) == OUTPUTS
    assert committed_provenance(figures / 'smoke')['package'] == package_hash()  # checkable from the folder alone
    write_outputs('smoke', [0], RESULTS, {}, [[0, '07_variance', 2.0, 1.9, 0.1, 'ran']], figures, runs, 'cpu')  # replaces it: no leftovers
    assert sorted(tree(figures)) == OUTPUTS


@pytest.mark.parametrize('existing', [True, False])
def test_a_failing_write_leaves_figures_exactly_as_it_was(tmp_path, runs, existing):
    figures = tmp_path / 'out' / 'figures'
    if existing: write_outputs('smoke', [0], RESULTS, {}, [], figures, runs, 'cpu')
    before = tree(tmp_path / 'out') if existing else None
    bad = {**RESULTS, '09_attack_length': [{'labels': {}, 'claims': {}}]}  # Table 1 cannot be built from it
    run = runs / 'smoke' / 'seed0' / '09_attack_length'; run.mkdir()
    (run / 'run.json').write_text((runs / 'smoke' / 'seed0' / '07_variance' / 'run.json').read_text())
    (run / 'results.json').write_text('{}'); (run / '09_attack_length.ipynb').write_text('{}')
    with pytest.raises(KeyError): write_outputs('smoke', [0], bad, {}, [], figures, runs, 'cpu')
    if existing: assert tree(tmp_path / 'out') == before
    else: assert not (tmp_path / 'out').exists()  # not even the folders it would have made


def test_temporary_folders_of_killed_runs_are_removed_those_of_live_runs_kept(tmp_path, runs):
    figures = tmp_path / 'figures'; figures.mkdir()
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True).stdout.strip()
    (figures / f'.smoke.tmp-{dead}-abc').mkdir(); (figures / f'.smoke.old-{dead}').mkdir()
    live = figures / f'.smoke.tmp-{os.getpid()}-xyz'; live.mkdir()  # a run in progress (this process)
    write_outputs('smoke', [0], RESULTS, {}, [], figures, runs, 'cpu')
    assert sorted(p.name for p in figures.iterdir()) == sorted([live.name, 'smoke'])


# the reproductions' reports; figures/examples/quick (snn-robust evaluate on the tutorial's models) predates the stamps
@pytest.mark.parametrize('report', sorted(ROOT.glob('figures/*/REPORT.md')), ids=lambda p: str(p.parent.relative_to(ROOT)))
def test_a_committed_report_is_one_code_version_checkable_from_the_repository(report):
    "Every notebook run of a committed report has its stamp beside its results, all of one package, the one REPORT.md names."
    folder = report.parent
    numbers = {p.with_suffix('') for p in folder.glob('results/seed*/*.json') if not p.name.endswith('.stamp.json')}
    stamps = {p.with_suffix('').with_suffix('') for p in folder.glob('results/seed*/*.stamp.json')}
    assert numbers and numbers == stamps, sorted(map(str, numbers ^ stamps))
    provenance = committed_provenance(folder)
    assert f"package source `{provenance['package']}`" in report.read_text()
