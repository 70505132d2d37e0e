"""OS errors the command can meet (issue 28, items 3 and 4): a full disk, a read-only file system, an immutable folder, a
name too long, a file in the way, an empty path. Each gives ONE line naming the path and the cause: exit 2 before any
work where it can be known then, else exit 1 after the work with the previous outputs intact. The full and read-only
disks are small tmpfs mounts (root only: skipped elsewhere), the immutable folder `chattr +i` (where the file system
supports it)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import CLI, reproduce_env


def mount_tmpfs(where: Path, size: str, read_only: bool = False) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which('mount'): pytest.skip('mounting a small tmpfs needs root')
    options = f'size={size}' + (',ro' if read_only else '')
    done = subprocess.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs', str(where)], capture_output=True, text=True)
    if done.returncode: pytest.skip(f'cannot mount a tmpfs here: {done.stderr.strip()}')
    return where


@pytest.fixture
def tmpfs(tmp_path):
    "`tmpfs(size, read_only=False)` mounts a tmpfs of `size` below tmp_path; unmounted at the end."
    mounted = []
    def mount(size: str, read_only: bool = False) -> Path:
        mounted.append(mount_tmpfs(tmp_path / f'tmpfs{len(mounted)}', size, read_only)); return mounted[-1]
    yield mount
    for m in mounted: subprocess.run(['umount', '-l', str(m)], check=False)


@pytest.fixture(scope='module')
def theory_runs(tmp_path_factory) -> Path:
    "A finished smoke run of 05_theory (no models), whose notebook the tests' commands reuse."
    root = tmp_path_factory.mktemp('theory')
    done = run(['reproduce', *common(root / 'runs', root / 'figures')], root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root / 'runs'


def common(runs: Path, figures) -> list[str]:
    return ['--profile', 'smoke', '--device', 'cpu', '--notebooks', '05_theory', '--runs', str(runs), '--figures', str(figures)]


def run(args: list[str], root: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=900, env=reproduce_env(root, **env))


def one_line(result: subprocess.CompletedProcess, code: int, *fragments: str) -> str:
    "The error line of a command that failed with `code`: no traceback, the last line of stderr, holding `fragments`."
    assert result.returncode == code, (result.returncode, result.stderr[-3000:])
    assert 'Traceback' not in result.stderr, result.stderr[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith('snn-robust: error: ') and all(f in line for f in fragments), line
    return line


def test_a_full_checkpoint_cache_is_one_line_naming_the_checkpoint(tmpfs, tmp_path):
    cache = tmpfs('256k')  # a smoke BNN's checkpoint takes 1.4 MB
    result = run(['train', '--profile', 'smoke', '--models', 'bnn', '--device', 'cpu'], tmp_path, SNN_ROBUST_CACHE=str(cache))
    line = one_line(result, 1, f'cannot save checkpoint {cache}/models/bnn-fashion_mnist-', 'no space left on the device')
    assert line.endswith('MB free)'), line
    assert [p.name for p in (cache / 'models').iterdir() if not p.name.endswith('.lock')] == []  # no half file


def test_a_full_figures_disk_is_one_line_after_the_work_and_keeps_the_previous_outputs(tmpfs, theory_runs, tmp_path):
    figures = tmpfs('64k')  # 05_theory's figures take more
    (figures / 'smoke').mkdir(); (figures / 'smoke' / 'REPORT.md').write_text('the previous report')
    result = run(['reproduce', *common(theory_runs, figures)], tmp_path)
    one_line(result, 1, f'cannot write {figures}/smoke', 'no space left on the device', 'it is left as it was')
    assert (figures / 'smoke' / 'REPORT.md').read_text() == 'the previous report'
    assert sorted(p.name for p in figures.iterdir()) == ['smoke']  # no temporary folder is left


def test_a_read_only_file_system_is_found_before_any_work(tmpfs, tmp_path):
    read_only = tmpfs('1m', read_only=True)
    result = run(['reproduce', *common(tmp_path / 'runs', read_only / 'figures')], tmp_path)
    one_line(result, 2, f'figures folder {read_only}/figures is not writable', 'the file system is read-only')
    result = run(['train', '--profile', 'smoke', '--device', 'cpu'], tmp_path, SNN_ROBUST_CACHE=str(read_only / 'cache'))
    one_line(result, 2, 'cache (SNN_ROBUST_CACHE) folder', 'the file system is read-only')
    assert not (tmp_path / 'runs').exists()


def test_an_immutable_figures_folder_is_found_before_any_work(tmp_path):
    target = tmp_path / 'figures' / 'smoke'; target.mkdir(parents=True)
    if not shutil.which('chattr'): pytest.skip('no chattr here')
    done = subprocess.run(['chattr', '+i', str(target)], capture_output=True, text=True)
    if done.returncode: pytest.skip(f'chattr +i is not supported here: {done.stderr.strip()}')
    try:
        result = run(['reproduce', *common(tmp_path / 'runs', tmp_path / 'figures')], tmp_path)
        one_line(result, 2, f'figures folder {target} cannot be replaced: it is immutable or append-only')
        assert not (tmp_path / 'runs').exists()  # before any work
    finally: subprocess.run(['chattr', '-i', str(target)], check=False)


@pytest.mark.parametrize('figures, says', [
    ('{tmp}/' + 'x' * 300, 'a name in the path is too long (at most 255 bytes)'),
    ('', "figures must name a folder, got ''"),
    ('{tmp}/a_file/figures', 'a_file is a file, not a folder'),
    ('{tmp}/a_file', 'is a file, not a folder'),
])
def test_bad_figures_paths_are_one_line_before_any_work(tmp_path, figures, says):
    (tmp_path / 'a_file').write_text('x')
    result = run(['reproduce', *common(tmp_path / 'runs', figures.replace('{tmp}', str(tmp_path)))], tmp_path)
    one_line(result, 2, says)
    assert not (tmp_path / 'runs').exists()
