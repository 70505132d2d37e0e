"""The time-left estimate of `snn-robust reproduce`, on the task graph with recorded durations.

A recorded run (the quick profile from an empty model cache, per-task seconds in bench/RESULTS.md; `tasks.EXPECTED_SECONDS`
was read off such runs, so the 1.7x slower replay is what tests the scaling) is replayed on two
workers as `run_tasks` schedules it: each task, in the graph's order, as soon as its models are trained and a worker is
free. After every task the estimate (`tasks.time_left`) is compared with the time the replay still took.
"""
import re
from pathlib import Path

import pytest

from snn_robust.tasks import task_graph, time_left

ROOT = Path(__file__).resolve().parents[1]


def recorded_seconds() -> dict[str, float]:
    "Per-task seconds of the first quick run from an empty cache in bench/RESULTS.md, by task label ('train bnn', ...)."
    text = (ROOT / 'bench' / 'RESULTS.md').read_text()
    section = text[text.index('reproduce --profile quick` from an empty model cache'):]
    row = next(line for line in section.splitlines() if line.startswith('| ') and 'train bnn' in line)
    cell = row.split('|')[-2]
    return {m.group(1).strip(): float(m.group(2)) for m in re.finditer(r'([a-z0-9_. ()]+?) (\d+(?:\.\d+)?)(?:,|$)', cell.strip())}


def replay(tasks, seconds: dict[str, float], jobs: int = 2) -> list[tuple[float, dict, dict]]:
    "When each task ends on `jobs` workers, as `run_tasks` starts them; per end: (time, tasks done, running ones' ages)."
    done, running, ends, now, left = {}, {}, [], 0.0, list(tasks)
    while left or running:
        for t in [t for t in left if all(k in done for k in t.needs)][:jobs - len(running)]:
            running[t.key] = (now, t); left.remove(t)
        key, (began, task) = min(running.items(), key=lambda kv: kv[1][0] + seconds[kv[1][1].what])
        now = began + seconds[task.what]; del running[key]
        done[key] = (None, 'trained' if task.kind == 'train' else 'ran', dict(seconds=seconds[task.what]))
        ends.append((now, dict(done), {k: now - b for k, (b, _) in running.items()}))
    return ends


@pytest.mark.parametrize('slower', [1.0, 1.7])  # this machine, and one 1.7x slower than the table's
def test_the_estimate_is_within_a_quarter_from_a_third_of_the_run_on(tmp_path, monkeypatch, slower):
    monkeypatch.setenv('SNN_ROBUST_CACHE', str(tmp_path / 'cache'))  # nothing cached: every model trains
    tasks = task_graph('quick', [0], ['05_theory', '06_smoothing', '07_variance', '08_attack_samples',
                                      '09_attack_length', '10_inference_samples'], 'cpu', tmp_path / 'runs', force=True)
    seconds = {what: s * slower for what, s in recorded_seconds().items()}
    assert {t.what for t in tasks} <= set(seconds), {t.what for t in tasks} - set(seconds)
    ends = replay(tasks, seconds)
    total, costs = ends[-1][0], {t.key: t.cost for t in tasks}
    checked = 0
    for now, done, running in ends[:-1]:
        truth = total - now
        if now < total / 3: continue
        estimate = time_left(done, costs, jobs=2, running=running)
        assert abs(estimate - truth) <= 0.25 * truth, (now, estimate, truth)
        checked += 1
    assert checked >= 3
