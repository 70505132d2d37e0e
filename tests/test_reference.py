"""The smoke profile's numbers against committed reference numbers (seed 0), so that a refactor cannot change them unnoticed.

`tests/reference/smoke_seed0/` holds each section notebook's `results.json` and the claims table of a smoke run made when
the verdicts became evidence (issue 11: per-image data for paired bootstrap intervals, extreme predictions with one
realisation per image, section 4.5's one-sample FGM, two small eta in section 4.1): new fields and new numbers, by design.
Before that, the core's counter-based random streams (Philox4x32-10) had changed which numbers every seed draws.
On another CPU the last bits of floating-point results may differ (and grow through one epoch of training), so the comparison has a tolerance: every
number must be within 10 % (or 0.06 absolute: two of the smoke profile's 40 test images), and at least 90 % of them within
1e-3 relative. A change of which random numbers a seed draws moves nearly every number by far more than that.
To renew the reference after a deliberate change of the numbers, copy `runs/smoke/seed0/<notebook>/results.json` of a fresh
`snn-robust reproduce --profile smoke` run to `tests/reference/smoke_seed0/<notebook>.json`, and say why in the commit.
"""
import json
import math
from pathlib import Path

import pytest

from snn_robust.paper import NOTEBOOKS

REFERENCE = Path(__file__).parent / 'reference' / 'smoke_seed0'


def per_image(obj):
    "The numbers of per-image data (a long list of numbers, or a packed string of numbers or 0/1 flags), else None."
    if isinstance(obj, str):
        if len(obj) > 8 and set(obj) <= {'0', '1'}: return [int(c) for c in obj]  # flags, one character per image
        try: values = [float(v) for v in obj.split()]
        except ValueError: return None
        return values if len(values) > 1 else None  # a packed string of numbers (the ResNets' 8 images too)
    if isinstance(obj, list) and len(obj) > 20 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in obj):
        return obj
    return None


def leaves(obj, path=''):
    """The numbers (and strings) of a JSON tree, by path; per-image data as their count and mean, which survive another
    CPU's last bits (one image's flag may flip where its two classes are within rounding of each other)."""
    if (values := per_image(obj)) is not None:
        yield f'{path}#n', str(len(values)); yield f'{path}#mean', math.fsum(values) / len(values)
    elif isinstance(obj, dict):
        for k, v in obj.items(): yield from leaves(v, f'{path}/{k}')
    elif isinstance(obj, list):
        for i, v in enumerate(obj): yield from leaves(v, f'{path}[{i}]')
    else: yield path, obj


def close(a, b, rel, abs_):
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)): return a == b
    if math.isnan(a) or math.isnan(b): return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


@pytest.mark.parametrize('name', NOTEBOOKS)
def test_smoke_numbers_match_the_reference(smoke_reproduce, name):
    ours = dict(leaves(json.loads(smoke_reproduce.outputs[f'runs/smoke/seed0/{name}/results.json'])))
    ref = dict(leaves(json.loads((REFERENCE / f'{name}.json').read_text())))
    assert set(ref) <= set(ours), sorted(set(ref) - set(ours))[:10]  # every reference number is still computed
    numbers = {p: v for p, v in ref.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    far = [(p, v, ours[p]) for p, v in numbers.items() if not close(v, ours[p], 0.1, 0.06)]
    assert not far, far[:10]
    near = sum(close(v, ours[p], 1e-3, 1e-9) for p, v in numbers.items())
    assert near >= 0.9 * len(numbers), f'{near} of {len(numbers)} numbers within 1e-3'
    labels = {p: v for p, v in ref.items() if isinstance(v, str)}
    assert {p: ours[p] for p in labels} == labels  # model labels, sections, reasons


def test_smoke_claim_rows_match_the_reference(smoke_reproduce):
    ours = smoke_reproduce.outputs['figures/smoke/claims.csv'].decode().splitlines()
    ref = (REFERENCE / 'claims.csv').read_text().splitlines()
    assert [row.split(',')[0] for row in ours] == [row.split(',')[0] for row in ref]  # the same claims, in order
