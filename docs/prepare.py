"""The documentation site's source tree: the repository's notebooks, README, reports and figures, ready for Sphinx.

`python docs/prepare.py SRC --mathjax DIR` writes SRC (removed first) with the layout of the repository, so that
relative links and images work as they do on GitHub:

- `index.md`: README.md, the landing page, reordered (`landing_page`): what the package is, how to cite it, the
  verdicts on the paper's claims (`figures/paper/claims.md`) and a figure, then the two commands and the rest; with the
  site's tables of contents;
- `nbs/*.ipynb`: every notebook with the outputs it carries (never executed), nbdev's cell directives taken out
  (`#| hide`, `#| default_exp` and `#| include: false` cells dropped, `#| echo: false` and `#| output: false` turned
  into myst-nb's `remove-input` / `remove-output` tags), a line linking its module's API page and the original
  notebook (`_notebooks/`, a download: directives and all), and a section's verdicts (its `paper-results` cell) first;
- `figures/<profile>/`: `REPORT.md`, the figures, a page showing every figure and linking the tables, the other
  files, and the executed notebooks `figures/<profile>/notebooks/*.ipynb` where a run has kept them; their
  Markdown was written in `nbs/`, so a relative link that misses from the copy but hits from `nbs/` is re-aimed;
- `bench/**`: the benchmark results the README links to;
- `api/`: one page per module (a summary table, then autodoc) and `api/index.md` for the names
  `from snn_robust import ...` gives, each with its docstring's first line;
- `_static/mathjax/`: MathJax 3 from DIR (npm's `mathjax/es5`), served with the site;
- `conf.py`: `docs/conf.py`, `_static/site.css`: `docs/site.css`.

A relative link to a file of the repository that is not part of the site (a test, a source file) points to the file
on GitHub (`git_url` in settings.ini).
"""
from __future__ import annotations

import argparse
import configparser
import importlib
import inspect
import json
import os
import re
import shutil
from pathlib import Path

import snn_robust
from snn_robust.paper import SECTIONS

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / 'nbs'
DIRECTIVE = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')
DROP = {'hide', 'default_exp'}          # nbdev leaves these cells out of its docs
MATHJAX_FILES = ['tex-mml-chtml.js', 'output/chtml/fonts/woff-v2']  # the combined component and its fonts
RESULTS_TAG = 'paper-results'  # a section notebook's cell with the committed report's verdicts (`make results`)
ORIGINALS = '_notebooks'       # the notebooks as the repository has them, offered for download (not pages)
LANDING_FIGURE = ('figures/paper/fig5_fgm_im_dropout0.6.png',
                  "Figure 5 (paper profile, seeds 0-2): the IM's accuracy under FGM over the attack length, one curve "
                  "per number of attack samples $S_{\\mathcal{A}}$; more samples, a stronger attack")
LINK = re.compile(r'(!?\[[^\]]*\]\()([^)\s]+)(\))')  # a Markdown link or image: [text](target)


def relink(text: str, aim) -> str:
    "`text` with each relative link's path replaced by `aim(path)` (None: left as it is)."
    def replace(m: re.Match) -> str:
        path, _, fragment = m.group(2).partition('#')
        new = None if not path or ':' in path or path.startswith('/') else aim(path)  # an address, or a fragment
        return m.group(0) if new is None else m.group(1) + new + ('#' + fragment if fragment else '') + m.group(3)
    return LINK.sub(replace, text)


def from_nbs(here: Path):
    "For `relink`: a path written in `nbs/` that misses from the folder `here` but hits from `nbs/`, aimed from `here`."
    def aim(path: str) -> str | None:
        return None if (here / path).exists() or not (NBS / path).exists() else os.path.relpath(NBS / path, here)
    return aim


def to_repository(src: Path, page: Path, url: str):
    "For `relink`: a path from `page` in the site's tree `src` to a repository file the site lacks, as its `url`/..."
    def aim(path: str) -> str | None:
        repo = (ROOT / page.parent.relative_to(src) / path).resolve()
        if (page.parent / path).exists() or not repo.is_relative_to(ROOT) or not repo.exists(): return None
        return f'{url}/{repo.relative_to(ROOT).as_posix()}'
    return aim


def link_repository(src: Path) -> None:
    "Points the relative links of the site's pages at repository files the site lacks to GitHub (`to_repository`)."
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / 'settings.ini')
    url = f"{cfg['DEFAULT']['git_url']}/blob/{cfg['DEFAULT']['branch']}"
    for page in src.rglob('*.md'): page.write_text(relink(page.read_text(), to_repository(src, page, url)))
    for page in (p for p in src.rglob('*.ipynb') if not p.is_relative_to(src / ORIGINALS)):  # downloads: as they are
        nb = json.loads(page.read_text())
        for c in nb['cells']:
            if c['cell_type'] == 'markdown': c['source'] = relink(''.join(c['source']), to_repository(src, page, url))
        page.write_text(json.dumps(nb, indent=1))


def clean_cell(cell: dict, here: Path = NBS) -> dict | None:
    """`cell` without nbdev's directive lines, as nbdev's docs show it; None where nbdev's docs leave it out.

    A Markdown cell was written in `nbs/`: in a notebook in the folder `here`, its links are re-aimed (`from_nbs`)."""
    if cell['cell_type'] == 'markdown': return {**cell, 'source': relink(''.join(cell['source']), from_nbs(here))}
    if cell['cell_type'] != 'code': return cell
    lines = ''.join(cell['source']).splitlines()
    directives = dict(m.groups() for m in map(DIRECTIVE.match, lines) if m)
    code = '\n'.join(line for line in lines if not DIRECTIVE.match(line)).strip()
    if DROP & set(directives) or directives.get('include') == 'false' or not code: return None
    tags = [*cell.get('metadata', {}).get('tags', []),
            *(['remove-input'] if directives.get('echo') == 'false' else []),
            *(['remove-output'] if directives.get('output') == 'false' else [])]
    return {**cell, 'source': code, 'metadata': {**cell.get('metadata', {}), 'tags': tags}}


def notebook_module(nb: dict) -> str | None:
    "The module a notebook exports to (its `#| default_exp`), or None."
    for cell in nb['cells']:
        m = re.search(r'^\s*#\|\s*default_exp\s+(\S+)', ''.join(cell['source']), re.M)
        if cell['cell_type'] == 'code' and m: return m.group(1)
    return None


def download(notebook: Path, src: Path) -> str:
    """A MyST link that downloads `notebook` (a repository file) as the repository has it, copied to `src/_notebooks/`:
    its `#| export` lines and all, to run and edit."""
    path = notebook.relative_to(ROOT).as_posix()
    (src / ORIGINALS / path).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(notebook, src / ORIGINALS / path)
    return f'source: {{download}}`{path} </{ORIGINALS}/{path}>`'


def api_link(module: str, depth: int) -> str:
    "A Markdown link from a page `depth` folders deep to the API page of `module`."
    page = 'index' if module == '__init__' else module
    name = 'snn_robust' if module == '__init__' else f'snn_robust.{module}'
    return f'[`{name}`]({"../" * depth}api/{page}.md)'


def verdicts_first(cells: list[dict]) -> list[dict]:
    "`cells` with the cells tagged `RESULTS_TAG` (a section's verdicts) moved right after the title cell."
    first = [c for c in cells if RESULTS_TAG in c.get('metadata', {}).get('tags', [])]
    rest = [c for c in cells if c not in first]
    return rest[:1] + first + rest[1:]


def clean_notebook(src: Path, dest: Path, depth: int, note: str) -> str | None:
    """Writes `src` as the site shows it to `dest` (`depth` folders below the site's root); returns its module.

    `note` (Markdown) goes after the notebook's title cell, with the link to the module's API page; a section's
    verdicts (`verdicts_first`) follow it."""
    nb = json.loads(src.read_text())
    module = notebook_module(nb)
    cells = verdicts_first([c for c in (clean_cell(c, src.parent) for c in nb['cells']) if c is not None])
    line = ' · '.join([*([f'API: {api_link(module, depth)}'] if module else []), note])
    cells.insert(1, {'cell_type': 'markdown', 'id': 'site-links', 'metadata': {}, 'source': line})
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps({**nb, 'cells': cells}, indent=1))
    return module


def summary(obj: object) -> str:
    "The first line of `obj`'s docstring, for a table's cell (`|` escaped)."
    doc = inspect.getdoc(obj) if inspect.isfunction(obj) or inspect.isclass(obj) else None
    return (doc or '').strip().split('\n')[0].replace('|', '\\|')


def api_page(module: str, notebook: str) -> str:
    """The API page of `snn_robust.<module>`: the notebook that defines it, a table of its functions and classes with
    their one-line summaries (autosummary), then their docstrings, each with a link to its source (viewcode)."""
    mod = importlib.import_module(f'snn_robust.{module}')
    names = [n for n in getattr(mod, '__all__', []) if inspect.isfunction(getattr(mod, n)) or
             inspect.isclass(getattr(mod, n))]
    table = ['.. autosummary::', '   :nosignatures:', '', *(f'   {n}' for n in names), ''] if names else []
    return '\n'.join([f'# `snn_robust.{module}`', '',
                      f'Defined, explained and tested in [`nbs/{notebook}`](../nbs/{notebook}).', '',
                      '```{eval-rst}', f'.. currentmodule:: snn_robust.{module}', '', *table,
                      f'.. automodule:: snn_robust.{module}', '   :members:', '```', ''])


def api_index(modules: dict[str, str]) -> str:
    "The top-level API page: what `from snn_robust import ...` gives, each name linked to its documentation."
    rows = [f'| {{py:obj}}`{name} <snn_robust.{home}.{name}>` | {summary(getattr(snn_robust, name))} | '
            f'[`snn_robust.{home}`]({home}.md) |' for name, home in snn_robust._HOME.items()]
    return '\n'.join(['# API reference', '',
                      f'`from snn_robust import ...` gives these names (defined in [`nbs/{modules["__init__"]}`]'
                      f'(../nbs/{modules["__init__"]})), loaded on first use. Every module has a page of its own.',
                      '', '| name | what it is | module |', '|---|---|---|', *rows, '',
                      '```{toctree}', ':hidden:', '', *sorted(m for m in modules if m != '__init__'), '```', ''])


def toctree(caption: str, pages: list[str]) -> str:
    "A hidden table of contents (the sidebar's) of `pages` under `caption`; nothing where there are no pages."
    return '\n'.join(['', '```{toctree}', ':hidden:', f':caption: {caption}', '', *pages, '```', '']) if pages else ''


def gallery(profile: str, figures: list[Path], tables: list[Path]) -> str:
    "A page showing every figure of a profile, by file name, and linking its tables."
    body = [f'## `{f.stem}`\n\n![{f.stem}]({f.name})\n' for f in figures]
    return '\n'.join([f'# All figures and tables: profile `{profile}`', '',
                      f'What `snn-robust reproduce --profile {profile}` wrote to `figures/{profile}/`; '
                      '[the report](REPORT.md) says which claim each figure supports.', '',
                      'Tables: ' + ', '.join(f'[`{t.name}`]({t.name})' for t in tables), '', *body])


def section(text: str, heading: str) -> tuple[str, str]:
    "The `## heading` section of Markdown `text` (up to the next `## `), and `text` without it; ('', text) if none."
    m = re.search(rf'^## {re.escape(heading)}\n.*?(?=^## |\Z)', text, re.S | re.M)
    return (m.group(0).strip(), text[:m.start()] + text[m.end():]) if m else ('', text)


def landing_page(readme: str, claims: str, figure: tuple[str, str] = LANDING_FIGURE) -> str:
    """The site's first page from README.md: its title and the paragraph saying what the package is, the `Citing`
    section, the verdicts on the paper's claims (`claims`, the Markdown table of `figures/paper/claims.md`) and
    `figure` (path, caption), then the README's two commands and the rest of it, as it is."""
    title, rest = readme.split('\n', 1)
    m = re.match(r'\s*(```.*?\n```)\n+(.*?)\n\n', rest, re.S)  # the commands, then what it is
    if m is None: raise ValueError('README.md must open with its title, a code block (the commands) and a paragraph')
    commands, intro, body = m.group(1), m.group(2), rest[m.end():]
    citing, body = section(body, 'Citing')
    path, caption = figure
    verdicts = ["## The paper's claims, checked", '',
                'What the committed run of the `paper` profile says of each claim (C1-C14), by the rules of '
                '[its report](figures/paper/REPORT.md), which gives every check behind a verdict:', '',
                claims.strip(), '', f'![{caption}]({path})', '', f'*{caption}.*']
    return '\n'.join([title, '', intro, '', *([citing, ''] if citing else []), *verdicts, '',
                      '## The two commands', '', commands, '', body.strip(), ''])


def prepare(src: Path, mathjax: Path) -> None:
    "Writes the site's source tree to `src` (see the module's docstring)."
    if not (mathjax / MATHJAX_FILES[0]).is_file():
        raise SystemExit(f'MathJax 3 not found in {mathjax}: `make setup` installs it (npm install mathjax@3)')
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    for name in ('conf.py', 'favicon.svg'): shutil.copy(ROOT / 'docs' / name, src / name)
    (src / '_static').mkdir()
    shutil.copy(ROOT / 'docs' / 'site.css', src / '_static' / 'site.css')
    for part in MATHJAX_FILES:
        copy = shutil.copytree if (mathjax / part).is_dir() else shutil.copy
        (src / '_static' / 'mathjax' / part).parent.mkdir(parents=True, exist_ok=True)
        copy(mathjax / part, src / '_static' / 'mathjax' / part)
    notebooks = sorted(p for p in (ROOT / 'nbs').glob('*.ipynb') if p.stem != 'index')
    modules = {}
    for nb in notebooks:
        module = clean_notebook(nb, src / 'nbs' / nb.name, 1, download(nb, src))
        if module: modules[module] = nb.name
    (src / 'api').mkdir()
    for module, notebook in modules.items():
        if module != '__init__': (src / 'api' / f'{module}.md').write_text(api_page(module, notebook))
    (src / 'api' / 'index.md').write_text(api_index(modules))
    reports, executed = [], []
    for folder in sorted(p for p in (ROOT / 'figures').iterdir() if (p / 'REPORT.md').is_file()):
        dest = src / 'figures' / folder.name
        shutil.copytree(folder, dest, ignore=shutil.ignore_patterns('*.md', 'notebooks'))
        shutil.copy(folder / 'REPORT.md', dest / 'REPORT.md')
        tables = sorted(set(folder.glob('*.md')) - {folder / 'REPORT.md'})
        for table in tables: (dest / table.name).write_text('---\norphan: true\n---\n' + table.read_text())  # linked
        (dest / 'gallery.md').write_text(gallery(folder.name, sorted(folder.glob('*.png')), tables))
        reports += [f'figures/{folder.name}/REPORT', f'figures/{folder.name}/gallery']
        for nb in sorted((folder / 'notebooks').glob('*.ipynb')):
            clean_notebook(nb, dest / 'notebooks' / nb.name, 3, f'executed copy, outputs as the run left them: '
                           f'{download(nb, src)}')
            executed.append(f'{nb.stem}, profile {folder.name} <figures/{folder.name}/notebooks/{nb.stem}>')
    shutil.copytree(ROOT / 'bench', src / 'bench', ignore=shutil.ignore_patterns('*.json', '*.tmp'))
    bench = [f'{p.relative_to(src)} <{p.relative_to(src).with_suffix("")}>'  # titled by path: all alike
             for p in sorted((src / 'bench').rglob('*.md'))]
    index = landing_page((ROOT / 'README.md').read_text(), (ROOT / 'figures' / 'paper' / 'claims.md').read_text())
    index += ''.join([
        toctree('Paper sections', [f'nbs/{s}' for s in SECTIONS]), toctree('Reports', reports),
        toctree('Executed notebooks', executed),
        toctree('The package, notebook by notebook', [f'nbs/{p.stem}' for p in notebooks if p.stem not in SECTIONS]),
        toctree('API', ['api/index']), toctree('Benchmarks', bench)])
    (src / 'index.md').write_text(index)
    link_repository(src)


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', type=Path, help='the folder to write (removed first)')
    parser.add_argument('--mathjax', type=Path, required=True, help="npm's mathjax/es5 folder (MathJax 3)")
    args = parser.parse_args()
    prepare(args.src, args.mathjax)
