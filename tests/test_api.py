"""The public API documents itself: every function and public method a module exports has a one-line summary, names each
parameter in its docstring (`name:` under `Args:`), says what it returns (`Returns:` or `Yields:`) unless it returns None,
and annotates every parameter and its return with annotations that resolve in its module.

Walks every `snn_robust/<module>.py` (but `_modidx` and `__init__`), every name in the module's `__all__` that is a
function or class defined in that module; for a class, the public methods (and properties) defined in its body.
Constants, dataclass fields and constructors are not checked.
"""
import importlib
import inspect
import re
from pathlib import Path

import pytest

import snn_robust

PACKAGE = Path(snn_robust.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob('*.py') if p.stem not in ('_modidx', '__init__'))


def public_callables(module):
    "(qualified name, function, is_property) for each exported function and each public method of an exported class."
    for name in getattr(module, '__all__', []):
        obj = getattr(module, name)
        if getattr(obj, '__module__', None) != module.__name__: continue  # re-exported or a constant
        if inspect.isfunction(obj): yield name, obj, False
        elif inspect.isclass(obj):
            for attr, raw in vars(obj).items():
                if attr.startswith('_'): continue
                if isinstance(raw, property): yield f'{name}.{attr}', raw.fget, True
                elif isinstance(raw, (staticmethod, classmethod)): yield f'{name}.{attr}', raw.__func__, False
                elif inspect.isfunction(raw): yield f'{name}.{attr}', raw, False


def problems(qualname, fn, is_property=False) -> list[str]:
    "What `fn`'s docstring and annotations lack, one line per problem."
    out, doc = [], inspect.getdoc(fn) or ''
    lines = doc.split('\n')
    if not lines[0].strip(): out.append(f'{qualname}: no one-line summary')
    elif len(lines) > 1 and lines[1].strip():
        out.append(f'{qualname}: the summary must be one line followed by a blank line')
    sig = inspect.signature(fn)
    params = [p for i, p in enumerate(sig.parameters.values()) if not (i == 0 and p.name in ('self', 'cls'))]
    for p in params:
        if p.annotation is inspect.Parameter.empty: out.append(f'{qualname}: parameter {p.name} is not annotated')
        if not re.search(rf'^\s*\**{re.escape(p.name)}( \([^)]*\))?:', doc, flags=re.M):
            out.append(f'{qualname}: parameter {p.name} is not described (`{p.name}:` under Args)')
    if params and not re.search(r'^Args:$', doc, flags=re.M): out.append(f'{qualname}: no Args section')
    if sig.return_annotation is inspect.Signature.empty: out.append(f'{qualname}: the return is not annotated')
    elif sig.return_annotation not in ('None', None) and not is_property:
        if not re.search(r'^(Returns|Yields):', doc, flags=re.M): out.append(f'{qualname}: no Returns section')
    try: inspect.signature(fn, eval_str=True)
    except Exception as e: out.append(f'{qualname}: an annotation does not resolve ({type(e).__name__}: {e})')
    return out


@pytest.mark.parametrize('name', MODULES)
def test_public_api_is_documented_and_annotated(name):
    module = importlib.import_module(f'snn_robust.{name}')
    found = [msg for qualname, fn, is_prop in public_callables(module) for msg in problems(qualname, fn, is_prop)]
    assert not found, f'{len(found)} problems in snn_robust.{name}:\n' + '\n'.join(found)


def test_the_check_catches_what_it_should():
    "The checker itself: a bare function fails each check, a documented one passes."
    def bare(x, n=1): return x
    def documented(x: int, *args: int, n: int = 1, **kwargs: str) -> int:
        """Add.

        Args:
            x: a number
            *args: more numbers
            n: another
            **kwargs: ignored

        Returns:
            the sum
        """
    msgs = problems('bare', bare)
    assert any('no one-line summary' in m for m in msgs) and any('x is not annotated' in m for m in msgs)
    assert any('n is not described' in m for m in msgs) and any('return is not annotated' in m for m in msgs)
    assert problems('documented', documented) == []


def test_every_api_name_is_what_it_names_not_a_module():
    "After every submodule is imported (which sets the package's attributes), each API name is still no module."
    import importlib, inspect, pkgutil
    import snn_robust
    for m in pkgutil.iter_modules(snn_robust.__path__):
        if m.name not in ('cluster',): importlib.import_module(f'snn_robust.{m.name}')
    modules = [name for name in snn_robust.__all__ if inspect.ismodule(getattr(snn_robust, name))]
    assert not modules, modules
    from snn_robust import apgd
    assert callable(apgd) and not inspect.ismodule(apgd)
