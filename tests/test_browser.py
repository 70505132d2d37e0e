"""The documentation site (`make docs`, in `_docs/`) and JupyterLab, in a real browser: Debian's chromium, headless,
driven by Playwright. Screenshots go to `tests/artifacts/` (git-ignored)."""
import contextlib
import functools
import json
import os
import posixpath
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest
from ipykernel.ipkernel import IPythonKernel

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / '_docs'
ARTIFACTS = ROOT / 'tests' / 'artifacts'
CHROMIUM = Path('/usr/bin/chromium')
SECTION_PAGE = 'nbs/08_attack_samples.html'
LAB_NOTEBOOK = ROOT / 'nbs' / '08_attack_samples.ipynb'  # its smoke defaults run in about 25 s on 2 cores
SITE_SOURCES = [ROOT / 'README.md', *ROOT.glob('nbs/*.ipynb'), *ROOT.glob('figures/*/REPORT.md'),
                *ROOT.glob('docs/*.py'), *ROOT.glob('docs/*.css')]
# raw TeX left on a page: $$, \( or \[, or a $...$ holding a TeX command
RAW_TEX = re.compile(r'\$\$|\\\(|\\\[|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$')


@pytest.fixture(scope='module')
def browser():
    if not CHROMIUM.exists(): pytest.fail(f'{CHROMIUM} not found: `make setup` installs it (apt-get install chromium)')
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=['--no-sandbox'])
        yield browser
        browser.close()


def serve(folder: Path) -> ThreadingHTTPServer:
    "An HTTP server on a free local port for `folder`, in a daemon thread."
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args): pass
    server = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


PAGE_FACTS = """async () => {
    if (window.MathJax?.startup?.promise) await MathJax.startup.promise;
    const images = await Promise.all([...document.images].map(async img => {
        img.loading = 'eager';
        try { await img.decode(); } catch (e) {}
        return [img.currentSrc || img.src, img.naturalWidth];
    }));
    const math = [...document.querySelectorAll('.math')];
    const prose = document.body.cloneNode(true);
    prose.querySelectorAll('pre, code, script, style, mjx-container, .cell_output').forEach(e => e.remove());
    const shown = e => e.offsetParent !== null;
    return {images, math: math.length, typeset: math.filter(e => e.querySelector('mjx-container')).length,
            text: prose.innerText, links: [...document.querySelectorAll('a[href]')].map(a => a.href),
            ids: [...document.querySelectorAll('[id]')].map(e => e.id),
            wider: document.documentElement.scrollWidth - document.documentElement.clientWidth,  // beyond the window
            searches: [...document.querySelectorAll('input[type=search], input[name=q], .search-button-field, '
                                                    + '.search-button')].filter(shown).length};
}"""


@pytest.fixture(scope='module')
def site(browser):
    """Every page of the site, loaded once over HTTP: its console errors, failed requests, requests that leave the
    site, and facts (`PAGE_FACTS`)."""
    if not (SITE / 'index.html').exists(): pytest.fail(f'no site in {SITE}: run `make docs` first')
    built = (SITE / 'index.html').stat().st_mtime
    stale = [str(p.relative_to(ROOT)) for p in SITE_SOURCES if p.stat().st_mtime > built]
    if stale: pytest.fail(f'the site in {SITE} is older than {", ".join(stale[:5])}: run `make docs`')
    server = serve(SITE)
    base = f'http://127.0.0.1:{server.server_port}/'
    page = browser.new_page(viewport={'width': 1280, 'height': 900})
    problems = []
    page.on('console', lambda m: problems.append(f'console {m.type}: {m.text}') if m.type == 'error' else None)
    page.on('pageerror', lambda e: problems.append(f'page error: {e}'))
    page.on('requestfailed', lambda r: problems.append(f'failed request: {r.url} ({r.failure})')
            if r.failure != 'net::ERR_ABORTED' else None)  # cut short by the next page; a missing file: HTTP 404
    page.on('response', lambda r: problems.append(f'HTTP {r.status}: {r.url}') if r.status >= 400 else None)
    page.on('request', lambda r: None if r.url.startswith((base, 'data:', 'blob:'))
            else problems.append(f'request outside the site: {r.url}'))  # it works offline
    pages = {}
    for html in sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob('*.html') if '_static' not in p.parts):
        problems.clear()
        page.goto(base + html, wait_until='load')
        pages[html] = {**page.evaluate(PAGE_FACTS), 'problems': list(problems)}
    yield base, page, pages
    page.close()
    server.shutdown()
    server.server_close()  # its listening socket, else closed (with a ResourceWarning) whenever it is collected


def test_site_has_every_notebook_report_and_module(site):
    _, _, pages = site
    notebooks = {f'nbs/{p.stem}.html' for p in ROOT.glob('nbs/*.ipynb') if p.stem != 'index'}
    reports = {f'figures/{p.parent.name}/REPORT.html' for p in ROOT.glob('figures/*/REPORT.md')}
    modules = {f'api/{p.stem}.html' for p in ROOT.glob('snn_robust/*.py') if not p.stem.startswith('_')}
    assert notebooks | reports | modules | {'index.html', 'api/index.html'} <= set(pages)
    assert 'A literate, notebook-based reproducibility package' in pages['index.html']['text']  # the README
    api = pages['api/core.html']['text']  # docstrings, their Google-style sections read by napoleon
    assert 'mc_probs' in api and 'Parameters' in api and 'Args:' not in api


def test_every_page_loads_without_console_errors_or_outside_requests(site):
    _, _, pages = site
    assert {html: facts['problems'] for html, facts in pages.items() if facts['problems']} == {}


def test_every_image_renders(site):
    _, _, pages = site
    images = [(html, src, width) for html, facts in pages.items() for src, width in facts['images']]
    assert sum(src.endswith('.png') for _, src, _ in images) >= len(list(ROOT.glob('figures/*/*.png')))
    assert [(html, src) for html, src, width in images if width == 0] == []


def test_math_is_typeset(site):
    _, _, pages = site
    assert sum(facts['math'] for facts in pages.values()) > 50
    assert {html: (facts['typeset'], facts['math']) for html, facts in pages.items()
            if facts['typeset'] < facts['math']} == {}
    raw = {html: RAW_TEX.findall(facts['text']) for html, facts in pages.items()}
    assert {html: tex for html, tex in raw.items() if tex} == {}


def test_internal_links_resolve(site):
    base, _, pages = site
    broken = []
    for html, facts in pages.items():
        for link in facts['links']:
            if not link.startswith(base): continue
            url, fragment = urldefrag(link)
            path = urlparse(url).path.lstrip('/') or 'index.html'
            path = path + 'index.html' if path.endswith('/') else path
            if not (SITE / path).is_file(): broken.append((html, link))
            elif fragment and path.endswith('.html') and fragment not in pages[path]['ids']: broken.append((html, link))
    assert sum(len(facts['links']) for facts in pages.values()) > 500 and broken == []


def test_no_page_is_wider_than_the_window_and_each_has_one_search_box(site):
    _, _, pages = site  # at 1280 px: code blocks and tables scroll inside the column (docs/site.css)
    assert {html: facts['wider'] for html, facts in pages.items() if facts['wider'] > 0} == {}
    assert {html: facts['searches'] for html, facts in pages.items() if facts['searches'] != 1
            and html != 'search.html'} == {}  # the search page has its own box too


LANDING = """() => {
    const article = document.querySelector('article');
    const order = [...article.querySelectorAll('h1, h2, table, img, pre')].map(e => e.tagName == 'PRE'
        ? (e.textContent.includes('@inproceedings') ? 'bibtex' : e.textContent.includes('make quick') ? 'commands' : 'pre')
        : e.tagName == 'TABLE' ? 'table:' + e.querySelectorAll('tbody tr').length : e.tagName.toLowerCase());
    return {order, first: article.querySelector('p').innerText,
            claims: [...article.querySelector('table').querySelectorAll('tbody tr td:first-child')].map(c => c.innerText)};
}"""


def test_landing_page_opens_with_the_package_its_citation_verdicts_and_a_figure(site):
    base, page, pages = site
    page.goto(base + 'index.html', wait_until='load')
    facts = page.evaluate(LANDING)
    order = [x for x in facts['order'] if x != 'pre']
    claims = (ROOT / 'figures' / 'paper' / 'claims.md').read_text().count('\n| C')
    assert order[:6] == ['h1', 'h2', 'bibtex', 'h2', f'table:{claims}', 'img'] and order[6:9] == ['h2', 'commands', 'h2']
    assert facts['first'].startswith('A literate, notebook-based reproducibility package')
    assert facts['claims'] == [f'C{i}' for i in range(1, claims + 1)]  # one row a claim: no || breaks a row
    landing = [(src, width) for src, width in pages['index.html']['images'] if src.endswith('.png')]  # in _images/
    assert landing and all(width > 0 for _, width in landing)
    readme = (ROOT / 'README.md').read_text()
    assert readme.startswith('# snn_robust\n\n```sh\nmake quick') and '@inproceedings' in readme  # the README: commands first


def test_section_pages_open_with_their_verdicts_and_link_the_original_notebook(site):
    base, page, pages = site
    page.goto(base + SECTION_PAGE, wait_until='load')
    first = page.evaluate("""() => [...document.querySelector('article').querySelectorAll('table, .cell')]
                             .map(e => e.tagName == 'TABLE' ? 'table' : 'cell').slice(0, 2)""")
    assert first == ['table', 'table'] and 'Results of the' in pages[SECTION_PAGE]['text']
    link = page.locator('a.download', has_text='nbs/08_attack_samples.ipynb')
    original = SITE / urlparse(link.evaluate('a => a.href')).path.lstrip('/')
    assert original.read_bytes() == (ROOT / 'nbs' / '08_attack_samples.ipynb').read_bytes()  # #| export and all
    assert any('/_modules/snn_robust/core.html#' in link for link in pages['api/core.html']['links'])  # [source]


def test_screenshot_of_a_section_page(site):
    base, page, pages = site
    page.goto(base + SECTION_PAGE, wait_until='load')
    page.evaluate(PAGE_FACTS)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / 'site_section.png'
    page.screenshot(path=shot)
    assert shot.stat().st_size > 20_000 and 'Section 4.3' in pages[SECTION_PAGE]['text']
    print(f'screenshot: {shot}')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def makefile_variable(name: str) -> str:
    "A variable's value as the Makefile sets it (`NAME := value`)."
    m = re.search(rf'^{name} := (.*)$', (ROOT / 'Makefile').read_text(), re.M)
    assert m, f'no {name} in the Makefile'
    return m.group(1)


@contextlib.contextmanager
def jupyterlab(tmp: Path, args: list[str], cwd: Path):
    """JupyterLab (`jupyter lab` with `args`, run in `cwd`) on a free local port with a token, with a private model
    cache, configuration, user settings and workspaces in `tmp`; yields its URL and the token."""
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, 'SNN_ROBUST_CACHE': str(tmp / 'cache'), 'JUPYTER_CONFIG_DIR': str(tmp / 'config'),
           'JUPYTERLAB_SETTINGS_DIR': str(tmp / 'settings'), 'JUPYTERLAB_WORKSPACES_DIR': str(tmp / 'workspaces')}
    command = [str(Path(sys.executable).parent / 'jupyter'), 'lab', '--no-browser', f'--port={port}',
               '--ServerApp.port_retries=0', f'--IdentityProvider.token={token}', *args,
               *(['--allow-root'] if os.getuid() == 0 else [])]
    log = tmp / 'lab.log'
    with log.open('w') as out: server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    url = f'http://127.0.0.1:{port}'
    try:
        deadline = time.time() + 60
        while True:
            assert server.poll() is None, f'jupyter lab exited: {log.read_text()[-3000:]}'
            try:
                with urllib.request.urlopen(f'{url}/api/status?token={token}', timeout=2): break
            except OSError:
                assert time.time() < deadline, f'jupyter lab did not answer in 60 s: {log.read_text()[-3000:]}'
                time.sleep(0.5)
        yield url, token
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on a copy of the notebook, with private settings (no news, no update check: nothing to fetch);
    yields its URL and the copy."""
    shutil.copy(LAB_NOTEBOOK, tmp_path / LAB_NOTEBOOK.name)
    settings = tmp_path / 'settings' / '@jupyterlab' / 'apputils-extension'
    settings.mkdir(parents=True)
    (settings / 'notification.jupyterlab-settings').write_text('{"fetchNews": "false", "checkForUpdates": false}')
    with jupyterlab(tmp_path, [f'--ServerApp.root_dir={tmp_path}'], tmp_path) as (url, token):
        yield f'{url}/lab/tree/{LAB_NOTEBOOK.name}?token={token}', tmp_path / LAB_NOTEBOOK.name


@pytest.fixture
def make_lab(tmp_path):
    """JupyterLab as `make lab` starts it: the Makefile's `LAB_ARGS`, in the repository's root, the venv's settings
    (`LAB_OVERRIDES`, which `make setup` installs); yields its URL and token."""
    overrides = Path(sys.prefix) / 'share' / 'jupyter' / 'lab' / 'settings' / 'overrides.json'
    wanted = json.loads(makefile_variable('LAB_OVERRIDES'))
    assert overrides.is_file() and json.loads(overrides.read_text()) == wanted, f'{overrides}: run `make setup`'
    with jupyterlab(tmp_path, shlex.split(makefile_variable('LAB_ARGS')), ROOT) as server: yield server


# every image of the notebook's rendered Markdown, loaded: [src, naturalWidth]
LAB_IMAGES = """async () => Promise.all([...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-MarkdownCell .jp-RenderedMarkdown img')].map(async img => {
        img.loading = 'eager';
        try { await img.decode(); } catch (e) {}
        return [img.getAttribute('src'), img.naturalWidth];
    }))"""
MARKDOWN_IMAGE = re.compile(r'!\[[^\]]*\]\(([^)\s]+)\)')


def test_make_lab_opens_the_notebooks_with_every_committed_figure(browser, make_lab):
    url, token = make_lab
    page = browser.new_page(viewport={'width': 1400, 'height': 900})
    page.goto(f'{url}/?token={token}')  # where `make lab` opens: the index, from the repository's root
    page.wait_for_function("() => document.querySelector('.jp-mod-current .lm-TabBar-tabLabel')?.textContent == "
                           "'index.ipynb'", timeout=60_000)
    shown = {}
    for name in ('06_smoothing', '08_attack_samples'):
        nb = json.loads((ROOT / 'nbs' / f'{name}.ipynb').read_text())
        wanted = [src for c in nb['cells'] if c['cell_type'] == 'markdown'
                  for src in MARKDOWN_IMAGE.findall(''.join(c['source']))]
        assert sum(src.startswith('../figures/') for src in wanted) >= 2, name
        page.goto(f'{url}/lab/tree/nbs/{name}.ipynb?token={token}')
        page.wait_for_function(f"() => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
                               f".jp-MarkdownCell .jp-RenderedMarkdown img').length >= {len(wanted)}", timeout=60_000)
        shown[name] = page.evaluate(LAB_IMAGES)
        files = sorted(f'/files/{posixpath.normpath("nbs/" + src)}' for src in wanted)  # as the server serves them
        assert sorted(urlparse(src).path for src, _ in shown[name]) == files
        assert [src for src, width in shown[name] if width == 0] == []
        if name == '08_attack_samples':  # a committed figure in view, for the screenshot
            figure = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedMarkdown img').first
            figure.scroll_into_view_if_needed()
            page.evaluate('() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))')
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=ARTIFACTS / 'jupyterlab_committed_figure.png')
    assert page.get_by_text('official Jupyter news').count() == 0  # JupyterLab's news prompt is off
    page.close()


PROMPTS = "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim())"
# run all is over: nothing queued or running, and something ran (an error leaves the cells after it unrun)
DONE = f"() => {{ const p = ({PROMPTS})(); return !p.includes('[*]:') && p.some(x => /^\\[\\d+\\]:$/.test(x)); }}"
RAN = re.compile(r'^\[\d+\]:$')


def test_jupyterlab_runs_the_section_notebook(browser, lab):
    url, copy = lab
    page = browser.new_page(viewport={'width': 1400, 'height': 900})
    page.goto(url)
    page.wait_for_function("() => document.querySelector('.jp-Toolbar-kernelName')?.textContent.trim() == 'snn_robust'",
                           timeout=60_000)  # the notebook's kernel, as its metadata names it
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=60_000)
    # opened, not changed: the notebook carries the kernel's language_info (settings.ini keeps it through nbdev_clean),
    # so JupyterLab has nothing to write into it; on another Python its version differs and the notebook is modified
    page.wait_for_timeout(2000)
    same_python = json.loads(copy.read_text())['metadata'].get('language_info') == IPythonKernel.language_info
    assert page.evaluate('() => !!document.querySelector(".jp-mod-dirty")') == (not same_python)
    page.locator('.lm-MenuBar-itemLabel', has_text='Run').first.click()
    page.locator('.lm-Menu-itemLabel', has_text=re.compile(r'^Run All Cells$')).click()
    page.wait_for_function(DONE, timeout=240_000, polling=1000)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / 'jupyterlab_run_all.png'
    figures = page.locator('.jp-OutputArea-output img')
    if figures.count():  # the first figure in view, drawn (the notebook renders what scrolls in a frame later)
        figures.first.scroll_into_view_if_needed()
        figures.first.evaluate('img => img.decode()')
        page.evaluate('() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))')
    page.screenshot(path=shot)
    print(f'screenshot: {shot}')
    page.keyboard.press('Control+s')  # the saved copy: what ran, output by output
    page.wait_for_function('() => !document.querySelector(".jp-mod-dirty")', timeout=30_000)
    outputs = [o for cell in json.loads(copy.read_text())['cells'] for o in cell.get('outputs', [])]
    assert [(o['ename'], o['evalue']) for o in outputs if o['output_type'] == 'error'] == []
    assert all(RAN.match(p) for p in page.evaluate(PROMPTS))
    assert sum('image/png' in o.get('data', {}) for o in outputs) >= 3
    assert figures.first.evaluate('img => img.decode().then(() => img.naturalWidth)') > 0
    stderr = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
    assert [t for t in stderr if 'Traceback' in t or 'Error' in t or 'Warning' in t] == []
    page.close()
