"""The house: the package's imports form floors that only point down, as the map in `nbs/index.ipynb` declares.

The graph is built from the source (`ast`), every `import` counted, those inside functions included. The floors are
read from the map's table (`| floor | modules | ... |`), so the README shows what this test enforces.
"""
import ast
import json
import re
from pathlib import Path

from snn_robust.paper import SECTIONS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'snn_robust'
MODULES = sorted(p.stem for p in PACKAGE.glob('*.py') if p.stem not in ('__init__', '_modidx'))


def imports(module: str) -> set[str]:
    "The package's modules that `module` imports anywhere in its source (top level and inside functions)."
    found = set()
    for node in ast.walk(ast.parse((PACKAGE / f'{module}.py').read_text())):
        if isinstance(node, ast.ImportFrom):
            name = node.module or ''
            if node.level == 1 and not name: found |= {a.name for a in node.names}  # from . import x
            elif node.level == 1: found.add(name.split('.')[0])
            elif name.startswith('snn_robust.'): found.add(name.split('.')[1])
            elif name == 'snn_robust': found |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split('.')[1] for a in node.names if a.name.startswith('snn_robust.')}
    return (found & set(MODULES)) - {module}


def floors() -> dict[str, int]:
    "The floor of each module, from the map in nbs/index.ipynb (floor 0 at the bottom)."
    cells = json.loads((ROOT / 'nbs' / 'index.ipynb').read_text())['cells']
    text = '\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'markdown')
    rows = re.findall(r'^\| (\d+) \| ([^|]+) \|', text, re.M)
    assert rows, "the map in nbs/index.ipynb has no table of floors ('| floor | modules | ...')"
    return {m: int(floor) for floor, modules in rows for m in re.findall(r'`(\w+)`', modules)}


GRAPH = {m: imports(m) for m in MODULES}


def test_the_map_places_every_module_once():
    placed = floors()
    assert sorted(placed) == MODULES, (set(placed) ^ set(MODULES))


def test_imports_only_point_down():
    placed = floors()
    up = [f'{m} (floor {placed[m]}) imports {d} (floor {placed[d]})' for m, ds in GRAPH.items() for d in ds
          if placed[d] > placed[m]]
    assert not up, up


def circle(graph: dict[str, set[str]]) -> list[str] | None:
    "An import circle of `graph` (depth-first search), or None."
    state = {}

    def visit(m, path):
        if state.get(m) == 'done': return None
        if state.get(m) == 'open': return path[path.index(m):] + [m]
        state[m] = 'open'
        for d in sorted(graph[m]):
            if found := visit(d, path + [m]): return found
        state[m] = 'done'
        return None
    return next((found for m in sorted(graph) if (found := visit(m, []))), None)


def test_no_import_circle():
    found = circle(GRAPH)
    assert found is None, ' -> '.join(found)


def test_the_checker_sees_circles_and_function_level_imports():
    "The graph counts an import inside a function, and the circle check finds a circle (it can fail)."
    assert 'reproduce' in GRAPH['cli']  # cli imports reproduce inside `main`, after parsing
    assert circle({**GRAPH, 'paper': GRAPH['paper'] | {'cli'}}) is not None  # paper -> cli -> ... -> paper


def test_no_module_over_500_lines():
    long = {m: n for m in MODULES if (n := len((PACKAGE / f'{m}.py').read_text().splitlines())) > 500}
    assert not long, long


def test_reproduce_and_the_report_import_no_section_module():
    "Sections are found through their specs (`sections.section_spec`), never imported by name above them."
    section_modules = {name.split('_', 1)[1] for name in SECTIONS}
    for module in ('reproduce', 'report', 'tasks', 'provenance', 'cluster'):
        assert not GRAPH[module] & section_modules, (module, GRAPH[module] & section_modules)
