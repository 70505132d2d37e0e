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
    lines = ['The margin $\\tilde{r}_c$ of `$SNN_ROBUST_DATA/x` and `$HOME`, for $5 or $ 6 $.']
    conf.markdown_inline(None, 'function', 'f', None, {}, lines)
    assert lines == ['The margin :math:`\\tilde{r}_c` of ``$SNN_ROBUST_DATA/x`` and ``$HOME``, for $5 or $ 6 $.']


README = '''# snn_robust

```sh
make quick
```

A package that reproduces a paper.

Both commands need python3.

## Use it

text

## Citing

```bibtex
@inproceedings{x, title={T}}
```
'''


def test_the_landing_page_opens_with_the_package_its_citation_verdicts_and_a_figure():
    claims = '| claim | verdict |\n|---|---|\n| C1 | holds |\n'
    page = prepare.landing_page(README, claims, ('figures/paper/f.png', 'Figure 5'))
    heads = [line for line in page.splitlines() if line.startswith(('#', '```', '|', '!'))]
    assert heads == ['# snn_robust', '## Citing', '```bibtex', '```', "## The paper's claims, checked", *claims.splitlines(),
                     '![Figure 5](figures/paper/f.png)', '## The two commands', '```sh', '```', '## Use it']
    assert page.split('\n\n')[1] == 'A package that reproduces a paper.' and page.count('@inproceedings') == 1
    assert 'Both commands need python3.' in page.split('## The two commands')[1]
    with pytest.raises(ValueError, match='must open with its title, a code block'): prepare.landing_page('# T\n\nx', '')


def test_a_section_page_opens_with_its_verdicts():
    cells = [{'cell_type': 'markdown', 'metadata': {}, 'source': '# Title'}, code('x = 1'),
             {'cell_type': 'markdown', 'metadata': {'tags': ['paper-results']}, 'source': '| C1 | holds |'}]
    assert [c['source'] for c in prepare.verdicts_first(cells)] == ['# Title', '| C1 | holds |', 'x = 1']


def test_citation_file_cites_the_package_and_the_paper():
    import configparser
    import yaml
    cff = yaml.safe_load((DOCS.parent / 'CITATION.cff').read_text())
    cfg = configparser.ConfigParser()
    cfg.read(DOCS.parent / 'settings.ini')
    paper = cff['preferred-citation']
    assert cff['cff-version'] == '1.2.0' and str(cff['version']) == cfg['DEFAULT']['version']
    assert paper['title'] == 'How Sampling Impacts the Robustness of Stochastic Neural Networks'
    assert [a['family-names'] for a in paper['authors']] == ['Däubener', 'Fischer'] and paper['year'] == 2022
    readme = (DOCS.parent / 'README.md').read_text()
    assert '## Citing' in readme and paper['title'] in readme.split('## Citing')[1]


def build(tmp_path: Path, index: str, pages: dict[str, str]) -> subprocess.CompletedProcess:
    "Sphinx with the site's configuration on `index` (the text of index.md) and `pages` (file name: text)."
    src = tmp_path / 'src'
    (src / '_static').mkdir(parents=True)
    for name in ('conf.py', 'favicon.svg'): shutil.copy(DOCS / name, src / name)
    shutil.copy(DOCS / 'site.css', src / '_static' / 'site.css')
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
