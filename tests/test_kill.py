"""Reliability of the command as a process: a killed `reproduce` leaves no process and no temporary folder behind and
is rerun to the same numbers; two commands sharing a runs folder run each notebook once (issue 28, items 1 and 2)."""
import json
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import reproduce_args, reproduce_env

NOTEBOOKS = ('05_theory', '07_variance')  # about 20 s each on the smoke profile, run side by side
pytestmark = pytest.mark.skipif(not Path('/proc/self/environ').exists(), reason='finds processes through /proc (Linux)')


def env_with_marker(root: Path, cache: Path) -> tuple[dict, str]:
    "The command's environment: the session run's cache (trained models), a private TMPDIR and a marker its processes inherit."
    marker = f'SNN_ROBUST_TEST_MARK={uuid.uuid4().hex}'
    (root / 'tmp').mkdir(parents=True, exist_ok=True)
    env = reproduce_env(root, SNN_ROBUST_CACHE=str(cache), TMPDIR=str(root / 'tmp'))
    return {**env, marker.split('=')[0]: marker.split('=')[1]}, marker


def processes_with(marker: str) -> list[str]:
    "The live processes (not zombies) whose environment holds `marker`, as 'pid cmdline'."
    found = []
    for p in Path('/proc').iterdir():
        if not p.name.isdigit(): continue
        try:
            if marker.encode() in (p / 'environ').read_bytes().split(b'\0'):
                cmdline = (p / 'cmdline').read_bytes().replace(b'\0', b' ').decode()
                found.append(f'{p.name} {cmdline[:200]}')
        except OSError: continue  # gone, or a zombie
    return found


def leftovers(tmp: Path) -> list[str]:
    "What a run left in its temporary folder, apart from torch's per-user compile cache (kept across runs by design)."
    return sorted(p.name for p in tmp.iterdir() if not p.name.startswith('torchinductor_'))


def results(root: Path) -> dict:
    return {n: json.loads((root / 'runs' / 'smoke' / 'seed0' / n / 'results.json').read_text()) for n in NOTEBOOKS}


def test_a_killed_reproduce_leaves_nothing_behind_and_reruns_to_the_same_numbers(smoke_reproduce, tmp_path):
    env, marker = env_with_marker(tmp_path, smoke_reproduce.root / 'cache')
    args = reproduce_args(tmp_path, '--notebooks', *NOTEBOOKS)
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    running = [tmp_path / 'runs' / 'smoke' / 'seed0' / n / f'{n}.ipynb' for n in NOTEBOOKS]
    deadline = time.time() + 300
    while not all(p.exists() for p in running):  # both notebooks' kernels are at work
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.5)
    time.sleep(3)
    assert len(processes_with(marker)) >= 5  # the command, two workers, two kernels (and the resource tracker)
    assert [p for p in (tmp_path / 'tmp').iterdir() if p.name.startswith('snn-kernel-')]
    proc.send_signal(signal.SIGKILL); proc.communicate()
    time.sleep(10)
    assert processes_with(marker) == []
    assert leftovers(tmp_path / 'tmp') == []
    rerun = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert leftovers(tmp_path / 'tmp') == [] and processes_with(marker) == []
    for name, numbers in results(tmp_path).items():
        assert numbers == json.loads(smoke_reproduce.outputs[f'runs/smoke/seed0/{name}/results.json']), name


def test_two_commands_on_one_runs_folder_run_each_notebook_once(smoke_reproduce, tmp_path):
    env, _ = env_with_marker(tmp_path, smoke_reproduce.root / 'cache')
    args = reproduce_args(tmp_path, '--notebooks', *NOTEBOOKS)
    procs = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    lines = '\n'.join(out for out, _ in outs)
    for name in NOTEBOOKS:
        assert lines.count(f'done   seed 0 {name}: ran') == 1, lines
        assert lines.count(f'done   seed 0 {name}: reused') == 1, lines
    waited = [line for _, err in outs for line in err.splitlines() if 'waiting for snn-robust pid' in line]
    assert all(line.endswith('which is running this notebook') for line in waited), waited
    for name, numbers in results(tmp_path).items():
        assert numbers == json.loads(smoke_reproduce.outputs[f'runs/smoke/seed0/{name}/results.json']), name
