"""The notebooks as a reader meets them: every section notebook (05-10) reads as its paper section with the committed
paper-profile figures and results in it, and every notebook opens in JupyterLab unchanged (kernel and language named).
"""
import collections
import json
import re
import shutil
from pathlib import Path

import pytest

from snn_robust.paper import NOTEBOOKS
from snn_robust.publish import RESULTS_TAG, fill_results

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / 'nbs'
IMAGE = re.compile(r'!\[[^\]]*\]\(([^)\s]+)\)')


def cells(name):
    return json.loads((NBS / f'{name}.ipynb').read_text())['cells']


def prose(name):
    "The notebook's Markdown written by hand (the generated results cell left out)."
    return '\n'.join(''.join(c['source']) for c in cells(name)
                     if c['cell_type'] == 'markdown' and RESULTS_TAG not in c['metadata'].get('tags', []))


@pytest.mark.parametrize('name', NOTEBOOKS)
def test_section_notebook_reads_as_the_paper_section(name):
    text = prose(name)
    assert len(text.split()) >= 500, f'{name}: {len(text.split())} words of prose'
    assert '## What we see' in text
    claims = {c for c in re.findall(r'\bC(\d{1,2})\b', text)}
    assert claims, f'{name} quotes no claim'
    images = IMAGE.findall(text)
    assert any(i.startswith('../figures/paper/') for i in images), f'{name} shows no committed paper-profile figure'
    for i in images:
        assert (NBS / i).resolve().is_file(), f'{name}: image {i} is not in the repository'
    tagged = [c for c in cells(name) if RESULTS_TAG in c['metadata'].get('tags', [])]
    assert len(tagged) == 1 and ''.join(tagged[0]['source']).startswith('**Results of the `paper` profile**')


def test_every_committed_paper_figure_is_shown_in_a_section_notebook():
    shown = {Path(i).name for name in NOTEBOOKS for i in IMAGE.findall(prose(name))}
    committed = {p.name for p in (ROOT / 'figures' / 'paper').glob('*.png')}
    assert committed and committed <= shown, sorted(committed - shown)


def test_results_cells_match_the_committed_report(tmp_path):
    "What `make results` would write is what the notebooks hold (a stale copy after a new report fails here)."
    copy = tmp_path / 'nbs'
    shutil.copytree(NBS, copy)
    assert fill_results(copy, ROOT / 'figures' / 'paper') == []
    (copy / '09_attack_length.ipynb').write_text((copy / '09_attack_length.ipynb').read_text().replace(
        '**Results of the `paper` profile**', '**Results of an older report**'))
    assert fill_results(copy, ROOT / 'figures' / 'paper') == [copy / '09_attack_length.ipynb']


@pytest.mark.parametrize('path', sorted(NBS.glob('*.ipynb')), ids=lambda p: p.name)
def test_notebook_opens_unchanged(path):
    "The kernel and the language are named, so JupyterLab has nothing to add on opening; cell ids are unique."
    nb = json.loads(path.read_text())
    assert nb['metadata']['kernelspec']['name'] == 'snn_robust'
    assert nb['metadata']['language_info']['name'] == 'python'
    ids = collections.Counter(c['id'] for c in nb['cells'])
    assert [i for i, n in ids.items() if n > 1] == []
