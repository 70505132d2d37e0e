"""The documentation site's own parts (`make docs`): nbdev's directives taken out of the notebooks, the Markdown
docstrings read as reStructuredText, and a build that fails on a broken link or image."""
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

DOCS = Path(__file__).resolve().parent.parent / 'docs'


def load(name: str):
    spec = importlib.util.spec_from_file_location(f'docs_{name}', DOCS / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


prepare, conf = load('prepare'), load('conf')


def code(source: str, **metadata) -> dict:
    return {'cell_type': 'code', 'metadata': metadata, 'source': source, 'outputs': [], 'execution_count': None}


def test_nbdev_directives_leave_the_cells_nbdev_docs_would_show():
    for hidden in ('#| hide\nx = 1', '#| default_exp core', '#| include: false\nx = 1', '#| export\n'):
        assert prepare.clean_cell(code(hidden)) is None, hidden
    assert prepare.clean_cell(code('#| export\ndef f(): pass'))['source'] == 'def f(): pass'
    cell = prepare.clean_cell(code('#| echo: false\n#|output: false\nplot()', tags=['parameters']))
    assert cell['source'] == 'plot()' and cell['metadata']['tags'] == ['parameters', 'remove-input', 'remove-output']
    markdown = {'cell_type': 'markdown', 'metadata': {}, 'source': '#| not a directive in Markdown'}
    assert prepare.clean_cell(markdown) == markdown


def test_notebook_module_and_its_api_link():
    nb = {'cells': [{'cell_type': 'markdown', 'source': '# T'}, code('#| default_exp attack_samples')]}
    assert prepare.notebook_module(nb) == 'attack_samples' and prepare.notebook_module({'cells': []}) is None
    assert prepare.api_link('attack_samples', 1) == '[`snn_robust.attack_samples`](../api/attack_samples.md)'
    assert prepare.api_link('__init__', 3) == '[`snn_robust`](../../../api/index.md)'


def test_markdown_docstrings_become_restructured_text():
    lines = ['Mean of `x[:, 0]` over |W| weights, *not* a_ reference: `{S_A: accuracy', '    per eta}`.']
    conf.markdown_inline(None, 'function', 'f', None, {}, lines)
    assert lines == ['Mean of ``x[:, 0]`` over \\|W\\| weights, \\*not\\* a\\_ reference: ``{S_A: accuracy per eta}``.']


def build(tmp_path: Path, index: str, pages: dict[str, str]) -> subprocess.CompletedProcess:
    "Sphinx with the site's configuration on `index` (the text of index.md) and `pages` (file name: text)."
    src = tmp_path / 'src'
    (src / '_static').mkdir(parents=True)
    for name in ('conf.py', 'favicon.svg'): shutil.copy(DOCS / name, src / name)
    shutil.copy(Path(matplotlib.get_data_path()) / 'images' / 'matplotlib.png', src / 'figure.png')
    toc = '\n'.join(Path(name).stem for name in pages)
    (src / 'index.md').write_text(f'{index}\n\n```{{toctree}}\n:hidden:\n\n{toc}\n```\n')
    for name, text in pages.items(): (src / name).write_text(text)
    return subprocess.run([sys.executable, '-m', 'sphinx', '-W', '-q', '-b', 'html', str(src), str(tmp_path / 'out')],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize('page, error', [
    ('# Fine\n\n[the other page](other.md), ![a figure](figure.png), $x^2$', None),
    ('# A broken link\n\n[the other page](missing.md)', 'missing.md'),
    ('# A broken image\n\n![a figure](missing.png)', 'missing.png'),
])
def test_build_fails_on_a_broken_link_or_image(tmp_path, page, error):
    result = build(tmp_path, page, {'other.md': '# Other\n'})
    if error is None: assert result.returncode == 0 and (tmp_path / 'out' / 'other.html').exists(), result.stderr
    else: assert result.returncode != 0 and error in result.stderr, result.stderr


def test_widget_outputs_show_their_text_and_fetch_nothing(tmp_path):
    view = {'application/vnd.jupyter.widget-view+json': {'model_id': 'm', 'version_major': 2, 'version_minor': 0},
            'text/plain': 'a progress bar, as text'}
    state = {'application/vnd.jupyter.widget-state+json': {'state': {}, 'version_major': 2, 'version_minor': 0}}
    nb = {'cells': [{'cell_type': 'markdown', 'id': 'a', 'metadata': {}, 'source': '# Widgets'},
                    {'cell_type': 'code', 'id': 'b', 'metadata': {}, 'execution_count': 1, 'source': 'bar()',
                     'outputs': [{'output_type': 'display_data', 'metadata': {}, 'data': view}]}],
          'metadata': {'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'},
                       'widgets': state}, 'nbformat': 4, 'nbformat_minor': 5}
    result = build(tmp_path, '# Index', {'widgets.ipynb': json.dumps(nb)})
    html = (tmp_path / 'out' / 'widgets.html').read_text()
    assert result.returncode == 0 and 'a progress bar, as text' in html and 'src="http' not in html, result.stderr


def test_links_written_in_nbs_are_reaimed_from_an_executed_copy():
    here = prepare.ROOT / 'figures' / 'paper' / 'notebooks'
    text = ('![Fig. 5](../figures/paper/fig5_fgm_im_dropout0.6.png), [attacks](04_attacks.ipynb#fgm), '
            '[nowhere](missing.ipynb), [a site](https://example.org/x.png), [here](#top)')
    assert prepare.relink(text, prepare.from_nbs(here)) == (
        '![Fig. 5](../fig5_fgm_im_dropout0.6.png), [attacks](../../../nbs/04_attacks.ipynb#fgm), '
        '[nowhere](missing.ipynb), [a site](https://example.org/x.png), [here](#top)')
    assert prepare.relink(text, prepare.from_nbs(prepare.NBS)) == text  # in nbs/ itself, as written


def test_links_to_repository_files_outside_the_site_go_to_github(tmp_path):
    (tmp_path / 'nbs').mkdir()
    (tmp_path / 'nbs' / '04_attacks.ipynb').write_text('{}')
    page = tmp_path / 'nbs' / '08_attack_samples.ipynb'
    text = '[the test](../tests/test_experiments.py), [attacks](04_attacks.ipynb), [none](../no/such.py)'
    assert prepare.relink(text, prepare.to_repository(tmp_path, page, 'https://github.com/o/r/blob/main')) == (
        '[the test](https://github.com/o/r/blob/main/tests/test_experiments.py), [attacks](04_attacks.ipynb), '
        '[none](../no/such.py)')
