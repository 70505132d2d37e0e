"""The allocator: `snn-robust` runs on tcmalloc where it is installed, and the numbers do not depend on it.

An allocator decides where tensors live, never what they hold: the same computation under glibc's malloc and under a
preloaded tcmalloc gives bit-identical results (SHA-256 of every output tensor's bytes).
"""
import ctypes.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / 'snn-robust')
TCMALLOC = ctypes.util.find_library('tcmalloc_minimal')
needs_tcmalloc = pytest.mark.skipif(TCMALLOC is None, reason='needs libtcmalloc-minimal4 (make setup installs it)')

PROGRAM = """
import hashlib, torch
from snn_robust.attacks import attack_gradient, pgd
from snn_robust.alloc import allocator
from snn_robust.core import mc_probs
from snn_robust.models import StochasticMLP, WideResNet
torch.manual_seed(0)
mlp, wrn = StochasticMLP(), WideResNet(10, 1, 0.3, in_channels=1).eval()
x, y = torch.rand(300, 1, 28, 28), torch.randint(0, 10, (300,))
outs = [mc_probs(mlp, x, 50, generator=torch.Generator().manual_seed(1)),
        attack_gradient(mlp, x, y, 50, generator=torch.Generator().manual_seed(2)),
        pgd(mlp, x[:50], y[:50], 1.0, 5, steps=3, generator=torch.Generator().manual_seed(3)),
        mc_probs(wrn, x[:40], 5, generator=torch.Generator().manual_seed(4))]
print(allocator(), hashlib.sha256(b''.join(o.numpy().tobytes() for o in outs)).hexdigest())
"""


def run(env, program=PROGRAM):
    out = subprocess.run([sys.executable, '-c', program], capture_output=True, text=True, timeout=600,
                         env={k: v for k, v in {**os.environ, **env}.items() if v is not None})
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split()


@needs_tcmalloc
def test_numbers_do_not_depend_on_the_allocator():
    tuned = run({'LD_PRELOAD': None, 'SNN_ROBUST_ALLOCATOR': None})  # glibc with `tune_malloc`'s settings
    glibc = run({'LD_PRELOAD': None, 'SNN_ROBUST_ALLOCATOR': 'glibc'})  # glibc's defaults
    tcmalloc = run({'LD_PRELOAD': TCMALLOC})
    assert tuned[0] == glibc[0] == 'glibc' and tcmalloc[0] == 'tcmalloc'
    assert tuned[1] == glibc[1] == tcmalloc[1]


KEPT = """
import snn_robust.core, torch
def rss_kib(): return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1])
t = torch.ones(2**26)  # 256 MiB
before = rss_kib(); del t
print(before - rss_kib())  # KiB given back to the OS when the tensor is freed
"""


def test_glibc_keeps_freed_tensors_for_reuse_once_the_package_is_imported():
    "On glibc's malloc `tune_malloc` keeps a freed 256 MiB tensor's memory for the next one; its defaults unmap it."
    given_back = {setting: int(run({'LD_PRELOAD': None, 'SNN_ROBUST_ALLOCATOR': setting}, KEPT)[-1])
                  for setting in (None, 'glibc')}  # the default (tuned glibc, without LD_PRELOAD) and glibc's defaults
    assert given_back[None] < 2**18 // 10, given_back  # under a tenth of the 256 MiB
    assert given_back['glibc'] > 2**18 * 9 // 10, given_back


@needs_tcmalloc
def test_the_command_runs_on_tcmalloc_unless_told_otherwise():
    env = {k: v for k, v in os.environ.items() if k not in ('LD_PRELOAD', 'SNN_ROBUST_PRELOADED', 'SNN_ROBUST_ALLOCATOR')}
    on = subprocess.run([CLI, '--version'], capture_output=True, text=True, env=env, timeout=120)
    off = subprocess.run([CLI, '--version'], capture_output=True, text=True, env={**env, 'SNN_ROBUST_ALLOCATOR': 'glibc'},
                         timeout=120)
    assert on.returncode == 0 and on.stdout.strip().endswith('(malloc: tcmalloc)'), on.stdout + on.stderr
    assert off.returncode == 0 and off.stdout.strip().endswith('(malloc: glibc)'), off.stdout + off.stderr
