"""Markdown tables that keep their columns: every table the package wrote (figures/, bench/, the README) and every
table in a notebook's Markdown has as many cells in each row as in its header, a `|` inside a cell escaped (`\\|`)."""
import json
import re
from pathlib import Path

import pytest

from snn_robust.outputs import markdown_table
from snn_robust.paper import CLAIMS, TESTS

ROOT = Path(__file__).resolve().parent.parent
SEPARATOR = re.compile(r'\|?(\s*:?-+:?\s*\|)+\s*(:?-+:?)?')  # |---|:--:| ...
FILES = sorted([*ROOT.glob('figures/**/*.md'), *ROOT.glob('bench/**/*.md'), ROOT / 'README.md'])


def cells(row: str) -> list[str]:
    "A table row's cells: split at each `|` that is not escaped, the outer ones dropped."
    row = row.strip()
    row = row[1:] if row.startswith('|') else row
    row = row[:-1] if row.endswith('|') and not row.endswith('\\|') else row
    return re.split(r'(?<!\\)\|', row)


def tables(text: str) -> list[tuple[str, list[str]]]:
    "The Markdown tables in `text` (outside fenced code): (header, rows)."
    found, lines, fenced = [], text.splitlines(), False
    for i, line in enumerate(lines):
        if line.lstrip().startswith('```'): fenced = not fenced
        if fenced or i + 1 >= len(lines) or '|' not in line or not SEPARATOR.fullmatch(lines[i + 1].strip()): continue
        rows = []
        for row in lines[i + 2:]:
            if '|' not in row or not row.strip(): break
            rows.append(row)
        found.append((line, rows))
    return found


def broken(text: str) -> list[str]:
    "The rows of `text`'s tables with another number of cells than their header."
    return [row for header, rows in tables(text) for row in rows if len(cells(row)) != len(cells(header))]


def notebook_markdown_cells():
    for nb in sorted(ROOT.glob('nbs/*.ipynb')):
        for i, cell in enumerate(json.loads(nb.read_text())['cells']):
            if cell['cell_type'] == 'markdown': yield f'{nb.name}#{i}', ''.join(cell['source'])


def test_the_parser_reads_escaped_pipes():
    text = '| a | b |\n|---|---|\n| x \\|\\|d\\|\\| | y |\n| x ||d|| | y |\n\n```\n| a |\n|---|\n| 1 | 2 |\n```'
    assert [len(cells(r)) for r in tables(text)[0][1]] == [2, 6] and broken(text) == ['| x ||d|| | y |']


def test_the_writer_keeps_every_statement_in_its_cell():
    statements = [c.statement for c in CLAIMS.values()] + [t.effect for tests in TESTS.values() for t in tests.values()]
    assert any('||' in s for s in statements)  # the registry has norms: ||delta||
    text = markdown_table(['claim', 'statement', 'x|y'], [[i, s, 0.5] for i, s in enumerate(statements)])
    assert len(tables(text)[0][1]) == len(statements) and broken(text) == []


@pytest.mark.parametrize('path', FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_tables_keep_their_columns(path):
    assert broken(path.read_text()) == []


def test_notebook_tables_keep_their_columns():
    found = {name: broken(text) for name, text in notebook_markdown_cells()}
    assert sum(len(tables(text)) for _, text in notebook_markdown_cells()) > 5
    assert {name: rows for name, rows in found.items() if rows} == {}
