"""Determinism and resumed runs of `snn-robust reproduce` on CPU, smoke profile.

A second run with the same seed and a fresh cache is killed with SIGKILL once its first notebook has finished (other tasks
mid-way), and started again: it reuses the finished notebooks, and its tables, report and per-notebook numbers are bit-identical to those of the
session's uninterrupted run (conftest.py). A run with seed 1 gives other numbers.
"""
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from snn_robust.report import TIMES

from conftest import folder_bytes, reproduce_args, reproduce_env, snapshot
from snn_robust.paper import NOTEBOOKS
from snn_robust.tasks import default_jobs, task_threads


def report_numbers(report: str) -> str:
    "REPORT.md without what legitimately differs between runs: its times, all in one section (`report.TIMES`)."
    return re.sub(re.escape(TIMES) + r'.*?(?=\n## |\Z)', '', report, flags=re.S)


@dataclass
class Resumed:
    root: Path
    killed_after: list[str]   # notebooks finished when the first attempt was killed
    figures_after_kill: bool  # whether figures/ existed after the kill
    second: subprocess.CompletedProcess
    outputs: dict
    files: dict  # every file of figures/smoke right after the run (`folder_bytes`): later tests rewrite the folder


@pytest.fixture(scope='module')
def resumed(smoke_reproduce, tmp_path_factory) -> Resumed:
    "Seed 0 again, fresh cache: killed (SIGKILL, with its notebook kernel) after the first notebook finished, then run to the end."
    root = tmp_path_factory.mktemp('smoke_seed0_resumed')
    first_done = root / 'runs' / 'smoke' / 'seed0' / NOTEBOOKS[0] / 'run.json'
    proc = subprocess.Popen(reproduce_args(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=reproduce_env(root),
                            start_new_session=True)  # its own process group: the kill reaches the papermill kernel too
    deadline = time.time() + 600
    while not first_done.exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < deadline
        time.sleep(0.05)
    time.sleep(1.0)  # well into the second notebook
    os.killpg(proc.pid, signal.SIGKILL); proc.communicate()
    killed_after = sorted(p.parent.name for p in (root / 'runs' / 'smoke' / 'seed0').glob('*/run.json'))
    figures_after_kill = (root / 'figures').exists()
    second = subprocess.run(reproduce_args(root), capture_output=True, text=True, timeout=1800, env=reproduce_env(root))
    assert second.returncode == 0, second.stderr[-3000:]
    return Resumed(root, killed_after, figures_after_kill, second, snapshot(root), folder_bytes(root))


def test_killed_reproduce_reuses_the_finished_notebooks(resumed):
    assert NOTEBOOKS[0] in resumed.killed_after and len(resumed.killed_after) < len(NOTEBOOKS) and not resumed.figures_after_kill
    done = dict(re.findall(r'\] done   seed 0 (\d\d_\w+): (ran|reused) \(', resumed.second.stdout))
    assert sorted(done) == sorted(NOTEBOOKS), resumed.second.stdout
    assert sorted(n for n, status in done.items() if status == 'reused') == resumed.killed_after, resumed.second.stdout


def test_force_recomputes_a_finished_notebook(resumed):
    stamp = resumed.root / 'runs' / 'smoke' / 'seed0' / NOTEBOOKS[0] / 'run.json'
    before = stamp.stat().st_mtime_ns
    again = subprocess.run(reproduce_args(resumed.root, '--notebooks', NOTEBOOKS[0], '--force'), capture_output=True, text=True,
                           timeout=900, env=reproduce_env(resumed.root))
    assert again.returncode == 0 and 'ran (' in again.stdout and 'reused' not in again.stdout, again.stdout
    assert stamp.stat().st_mtime_ns != before  # a new run stamp (its seconds can coincide with the old ones)


def assert_same_outputs(a: dict, b: dict):
    "Two runs' tables, per-notebook numbers and reports (but for their times) are bit-identical."
    assert sorted(a) == sorted(b) and len([k for k in a if k.endswith('.csv')]) == 4 and len([k for k in a if k.endswith('results.json')]) == len(NOTEBOOKS)
    for key in a:
        if key.endswith('REPORT.md'): assert report_numbers(a[key].decode()) == report_numbers(b[key].decode())
        else: assert a[key] == b[key], key


def test_same_seed_gives_bit_identical_tables_report_and_numbers(smoke_reproduce, resumed):
    assert_same_outputs(smoke_reproduce.outputs, resumed.outputs)


def test_a_rerun_writes_the_same_files_but_for_the_times(smoke_reproduce, resumed):
    "Every file of figures/smoke byte for byte, the report's time section aside: a rerun leaves `git status` clean."
    a, b = smoke_reproduce.files, resumed.files
    assert sorted(a) == sorted(b)
    assert any(f.endswith('.pdf') for f in a) and any(f.endswith('.ipynb') for f in a), sorted(a)
    for f in a:
        x, y = a[f], b[f]
        if f == 'REPORT.md': x, y = report_numbers(x.decode()), report_numbers(y.decode())
        assert x == y, f


def test_the_executor_does_not_change_a_number(smoke_reproduce, tmp_path):
    "Every task in one process, one after the other, at the worker processes' torch threads: the same numbers, bit for bit."
    threads = task_threads(default_jobs('cpu'))
    if threads is None: pytest.skip('one core: the default run is already one job')
    serial = subprocess.run(reproduce_args(tmp_path, '--jobs', '1'), capture_output=True, text=True, timeout=1800,
                            env=reproduce_env(tmp_path, OMP_NUM_THREADS=str(threads)))
    assert serial.returncode == 0, serial.stderr[-3000:]
    assert f'1 at a time (torch threads per task: torch default, {threads})' in serial.stdout, serial.stdout
    assert_same_outputs(smoke_reproduce.outputs, snapshot(tmp_path))


def test_another_seed_gives_other_numbers(smoke_reproduce, tmp_path):
    subset = ['09_attack_length', '10_inference_samples']  # Tables 1 and 2
    other = subprocess.run(reproduce_args(tmp_path, '--seeds', '1', '--notebooks', *subset), capture_output=True, text=True,
                           timeout=1800, env=reproduce_env(tmp_path))
    assert other.returncode == 0, other.stderr[-3000:]
    mine = snapshot(tmp_path)
    for table in ('table1_attack_length.csv', 'table2_inference_samples.csv'):
        assert mine[f'figures/smoke/{table}'] != smoke_reproduce.outputs[f'figures/smoke/{table}'], table
    for name in subset:
        ours = json.loads(smoke_reproduce.outputs[f'runs/smoke/seed0/{name}/results.json'])
        theirs = json.loads(mine[f'runs/smoke/seed1/{name}/results.json'])
        assert ours['seed'] == 0 and theirs['seed'] == 1
        assert {k: v for k, v in ours.items() if k != 'seed'} != {k: v for k, v in theirs.items() if k != 'seed'}, name
