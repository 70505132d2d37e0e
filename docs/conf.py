"""Sphinx's configuration of the documentation site (`make docs`): myst-nb reads the notebooks with the outputs
they carry and never runs them, autodoc and napoleon read the docstrings (Google style), autosummary tables them,
viewcode links each to its source, and MathJax 3 is served from the site."""
import re

project = 'snn_robust'
author = 'snn_robust developers'
copyright = '2026 onwards, snn_robust developers'
extensions = ['myst_nb', 'sphinx.ext.autodoc', 'sphinx.ext.autosummary', 'sphinx.ext.napoleon', 'sphinx.ext.viewcode']

nb_execution_mode = 'off'                  # a page shows what its notebook carries; nothing runs at build time
nb_ipywidgets_js = {}                      # widget views would load their JavaScript from a CDN: shown as text
nb_mime_priority_overrides = [('html', 'application/vnd.jupyter.widget-view+json', None)]
myst_enable_extensions = ['dollarmath', 'amsmath']
myst_heading_anchors = 3
mathjax_path = 'mathjax/tex-mml-chtml.js'  # in _static, copied by docs/prepare.py: no CDN

autodoc_member_order = 'bysource'
autosummary_generate = False  # the module pages' tables link to the docstrings on the same page
autodoc_typehints = 'description'
napoleon_google_docstring, napoleon_numpy_docstring = True, False

html_theme = 'sphinx_book_theme'
html_title = 'snn_robust'
html_static_path = ['_static']
html_css_files = ['site.css']  # code blocks and tables scroll inside the column; one search box
html_favicon = 'favicon.svg'
html_context = {'default_mode': 'light'}  # the theme logs a console error without one
html_theme_options = {'repository_url': 'https://github.com/snn-robust/snn_robust', 'use_repository_button': True,
                      'show_toc_level': 2,
                      'use_download_button': False,  # it offers the page's source, directives taken out: a notebook
                      # page links the original instead (`source: nbs/...`)
                      'navbar_persistent': []}      # the header's search button: the sidebar has the search box
exclude_patterns = ['**/.ipynb_checkpoints', '_notebooks']  # the original notebooks, downloads rather than pages


CODE = re.compile(r'(`[^`]+`|\$(?=\S)[^$\n]+(?<=\S)\$)')  # a `code` span, or $maths$ (no space inside the $s)


def rst_part(part: str) -> str:
    """A piece of a Markdown docstring as reStructuredText: a `code` span (on one line) as a literal, $maths$ as
    :math:, else plain text."""
    if part.startswith('$') and CODE.fullmatch(part): return f':math:`{part[1:-1]}`'
    if CODE.fullmatch(part): return '`' + re.sub(r'\s*\n\s*', ' ', part) + '`'
    return re.sub(r'([|*\\]|_(?!\w))', r'\\\1', part)


def markdown_inline(app, what, name, obj, options, lines):
    "The docstrings are Markdown: `code` becomes a literal, $maths$ maths; |, *, \\ and a word's trailing _ are text."
    lines[:] = ''.join(map(rst_part, CODE.split('\n'.join(lines)))).split('\n')


def setup(app):
    app.connect('autodoc-process-docstring', markdown_inline, priority=400)  # before napoleon reads Args/Returns
