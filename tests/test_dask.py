"""The task graph on Dask, smoke profile, CPU: a local cluster of two worker processes gives the same tables, report and
per-notebook numbers as the in-process run (conftest.py's, at the same torch threads) and trains each model once; a worker
killed with SIGKILL mid-notebook is replaced and the run ends with the same numbers; SLURM jobs through dask-jobqueue, on a
single-node SLURM started here (skipped, with the daemon's error, only where it cannot run), and the job script and
submission checked against a stand-in `sbatch`.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import reproduce_args, reproduce_env, snapshot
from test_determinism import assert_same_outputs
from snn_robust.checkpoints import checkpoint_path
from snn_robust.data import DEBIAN_FASHION_MNIST
from snn_robust.experiments import experiment_config
from snn_robust.paper import NOTEBOOKS
from snn_robust.tasks import task_graph, task_threads

pytestmark = pytest.mark.skipif(not DEBIAN_FASHION_MNIST.exists(), reason='needs FashionMNIST (make setup installs it)')
TABLES = ['09_attack_length', '10_inference_samples']  # Tables 1 and 2
THREADS = task_threads(2) or 1  # torch threads per task of the session's in-process run (two jobs), and of two workers here


def test_local_dask_cluster_gives_the_same_numbers_and_trains_each_model_once(smoke_reproduce, tmp_path):
    result = subprocess.run(reproduce_args(tmp_path, '--executor', 'dask', '--workers', '2'), capture_output=True, text=True,
                            timeout=1800, env=reproduce_env(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f'on a local Dask cluster of 2 worker processes, 2 at a time (torch threads per task: {THREADS})' in result.stdout, result.stdout
    assert_same_outputs(smoke_reproduce.outputs, snapshot(tmp_path))
    trains = [t for t in task_graph('smoke', [0], NOTEBOOKS, 'cpu', tmp_path / 'fresh_runs') if t.kind == 'train']
    trained = re.findall(r'\] done   seed 0 train (.+): (\w+) \(', result.stdout)
    assert len(trained) == len(trains) == 8 and all(status == 'trained' for _, status in trained), result.stdout
    assert len(list((tmp_path / 'cache' / 'models').glob('*.pt'))) == len(trains)  # no notebook trained one of its own
    logs = sorted((tmp_path / 'runs' / 'smoke' / 'train').glob('*.log'))
    assert len(logs) == len(trains) and all(log.read_text().count(' start seed 0 train ') == 1 for log in logs)
    for run_dir in (tmp_path / 'runs' / 'smoke' / 'seed0').iterdir():  # each notebook's log beside its executed copy
        log = (run_dir / 'task.log').read_text()
        assert f'start seed 0 {run_dir.name} on worker' in log and f'done  seed 0 {run_dir.name}: ran' in log, log


def kill_a_notebook_worker(client, run_dir: Path, proc) -> str:
    "SIGKILL the worker running a notebook task once its log shows it started; the task's name."
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        for address, keys in client.processing().items():
            running = [k for k in keys if str(k).startswith('seed 0 ') and (run_dir / str(k)[7:].split('-')[0] / 'task.log').exists()]
            if running:
                time.sleep(2)  # well into the notebook: its kernel is running
                os.kill(client.run(os.getpid, workers=[address])[address], signal.SIGKILL)
                return str(running[0])[7:].split('-')[0]
        time.sleep(0.05)
    raise AssertionError(f'no notebook task was seen running: {proc.communicate()[1][-3000:]}')


def test_a_worker_killed_mid_notebook_is_replaced_and_the_numbers_are_the_same(smoke_reproduce, tmp_path):
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit=0, dashboard_address=':0') as cluster, \
            Client(cluster) as client:
        proc = subprocess.Popen(reproduce_args(tmp_path, '--executor', 'dask', '--scheduler', cluster.scheduler_address,
                                               '--notebooks', *TABLES), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=reproduce_env(tmp_path))
        killed = kill_a_notebook_worker(client, tmp_path / 'runs' / 'smoke' / 'seed0', proc)
        out, err = proc.communicate(timeout=1800)
        assert proc.returncode == 0, err[-3000:]
        client.wait_for_workers(2, timeout=60)  # the nanny started a new worker process
        # a task that raises is not retried: the run stops with exit code 1, naming the task and its log
        checkpoint_path(experiment_config('bnn', 'smoke', 0), tmp_path / 'cache2').mkdir(parents=True)  # blocks its save
        failed = subprocess.run(reproduce_args(tmp_path, '--executor', 'dask', '--scheduler', cluster.scheduler_address,
                                               '--notebooks', '07_variance'), capture_output=True, text=True, timeout=900,
                                env={**reproduce_env(tmp_path), 'SNN_ROBUST_CACHE': str(tmp_path / 'cache2')})
    assert failed.returncode == 1 and 'seed 0 train bnn failed' in failed.stderr, failed.stderr[-3000:]
    failed_log = Path(failed.stderr.split('its log: ')[1].split(';')[0])
    assert failed_log.parent == tmp_path / 'runs' / 'smoke' / 'train' and 'Traceback' in failed_log.read_text()
    assert 'on the Dask cluster at tcp://' in out and f'(torch threads per task: {THREADS})' in out, out
    log = (tmp_path / 'runs' / 'smoke' / 'seed0' / killed / 'task.log').read_text()
    assert log.count(f'start seed 0 {killed} on worker') == 2 and log.count(f'done  seed 0 {killed}: ran') == 1, log
    mine = snapshot(tmp_path)
    for name in TABLES:
        key = f'runs/smoke/seed0/{name}/results.json'
        assert mine[key] == smoke_reproduce.outputs[key], name
    for table in ('table1_attack_length.csv', 'table2_inference_samples.csv'):
        assert mine[f'figures/smoke/{table}'] == smoke_reproduce.outputs[f'figures/smoke/{table}'], table


# ---- SLURM ----

def stand_in_slurm(bin_dir: Path, record: Path):
    "`sbatch` that keeps the job script and submits nothing, `squeue` that lists no job, `scancel` that records its argument."
    bin_dir.mkdir()
    scripts = {'sbatch': f'cp "$1" {record}/job.sh; echo "Submitted batch job 4242"',
               'squeue': 'exit 0', 'scancel': f'echo "$@" >> {record}/scancel'}
    for name, body in scripts.items():
        (bin_dir / name).write_text(f'#!/bin/sh\n{body}\n'); (bin_dir / name).chmod(0o755)


def test_slurm_job_script_and_submission_against_a_stand_in_sbatch(tmp_path, monkeypatch):
    from snn_robust.cluster import dask_cluster
    stand_in_slurm(tmp_path / 'bin', tmp_path)
    monkeypatch.setenv('PATH', f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    slurm = dict(queue='gpu', walltime='01:00:00', memory='8GB', cores=4, gpus=2)
    with dask_cluster('slurm', 'auto', workers=3, slurm=slurm) as run:
        assert (run.device, run.slots, run.threads) == ('cuda', 6, 2)  # 3 jobs of 2 worker processes, one per GPU
        deadline = time.time() + 60
        while not (tmp_path / 'job.sh').exists(): assert time.time() < deadline; time.sleep(0.05)
    script = (tmp_path / 'job.sh').read_text()
    for line in ('#SBATCH -p gpu', '#SBATCH -t 01:00:00', '#SBATCH --cpus-per-task=4', '#SBATCH --mem=8G', '#SBATCH --gres=gpu:2'):
        assert line in script.splitlines(), script
    assert re.search(r'--nthreads 1 .*--nworkers 2 .*--resources GPU=1', script) or \
        re.search(r'--nworkers 2 .*--nthreads 1 .*--resources GPU=1', script), script  # one Dask thread per process
    assert (tmp_path / 'scancel').read_text().split() == ['4242'] * 3  # the jobs are cancelled with the run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


SLURM_CONF = """\
ClusterName=snntest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=4000
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def start_munge() -> subprocess.Popen | None:
    "Start munged (as the user munge) unless one answers already; the process started, or None."
    if subprocess.run('munge -n | unmunge', shell=True, capture_output=True).returncode == 0: return None
    Path('/run/munge').mkdir(exist_ok=True); shutil.chown('/run/munge', 'munge', 'munge')
    proc = subprocess.Popen(['runuser', '-u', 'munge', '--', '/usr/sbin/munged', '--foreground'], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while subprocess.run('munge -n | unmunge', shell=True, capture_output=True).returncode != 0:
        if proc.poll() is not None or time.time() > deadline:
            proc.kill(); raise RuntimeError(f'munged did not start: {proc.communicate()[1][-1000:]}')
        time.sleep(0.2)
    return proc


@pytest.fixture(scope='module')
def slurm(tmp_path_factory):
    "A single-node SLURM on localhost (Debian's slurm-wlm, as root): its SLURM_CONF; skipped with the reason it cannot run."
    if os.geteuid() != 0: pytest.skip('a single-node SLURM needs root to start slurmctld, slurmd and munged')
    missing = [b for b in ('/usr/sbin/slurmctld', '/usr/sbin/slurmd', '/usr/sbin/munged', 'sbatch') if not shutil.which(b)]
    if missing: pytest.skip(f'SLURM is not installed ({", ".join(missing)} missing; make slurm installs slurm-wlm and munge)')
    root = tmp_path_factory.mktemp('slurm')
    (root / 'state').mkdir(); (root / 'spool').mkdir()
    conf = root / 'slurm.conf'
    conf.write_text(SLURM_CONF.format(host=socket.gethostname().split('.')[0], ctld_port=free_port(), d_port=free_port(),
                                      dir=root, cpus=os.cpu_count()))
    env = {**os.environ, 'SLURM_CONF': str(conf)}
    try: munged = start_munge()
    except RuntimeError as e: pytest.skip(str(e))
    daemons = [subprocess.Popen([f'/usr/sbin/{d}', '-D', '-f', str(conf)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for d in ('slurmctld', 'slurmd')]
    try:
        deadline = time.time() + 60
        while 'idle' not in subprocess.run(['sinfo', '-h', '-o', '%t'], env=env, capture_output=True, text=True).stdout:
            dead = [p for p in daemons if p.poll() is not None]
            if dead or time.time() > deadline:
                logs = ' | '.join(f'{p.name}: ' + p.read_text()[-500:] for p in root.glob('*.log'))
                errors = ' | '.join(p.communicate()[1][-500:] for p in dead)
                pytest.skip(f'the SLURM daemons did not start: {errors} {logs}')
            time.sleep(0.5)
        yield env
    finally:
        subprocess.run(['scontrol', 'shutdown'], env=env, capture_output=True)
        for p in daemons:
            try: p.wait(timeout=30)
            except subprocess.TimeoutExpired: p.kill()
        if munged is not None: munged.terminate(); munged.wait(timeout=30)


def test_smoke_notebook_through_slurm_jobs_on_a_single_node_slurm(slurm, smoke_reproduce, tmp_path):
    args = reproduce_args(tmp_path, '--notebooks', '05_theory', '--executor', 'slurm', '--workers', '1', '--slurm-queue', 'debug',
                          '--slurm-walltime', '00:30:00', '--slurm-memory', '2GB', '--slurm-cores', str(THREADS))
    result = subprocess.run(args, capture_output=True, text=True, timeout=900, env={**reproduce_env(tmp_path), **slurm}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f'on 1 SLURM job of 1 Dask worker process, 1 at a time (torch threads per task: {THREADS})' in result.stdout, result.stdout
    log = (tmp_path / 'runs' / 'smoke' / 'seed0' / '05_theory' / 'task.log').read_text()
    assert re.search(r'start seed 0 05_theory on worker SLURMCluster-0 ', log), log  # a worker of the SLURM job ran it
    assert list(tmp_path.glob('slurm-*.out')), 'the job wrote its SLURM output file'
    key = 'runs/smoke/seed0/05_theory/results.json'
    assert snapshot(tmp_path)[key] == smoke_reproduce.outputs[key]
    assert json.loads(snapshot(tmp_path)[key])['claims']
