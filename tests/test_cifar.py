"""The ResNet half on generated CIFAR-format data from FashionMNIST: the folder's layout, the smoke profile end to end
(Figures 12 and 14, the ResNet rows), and one training and one attack step of the paper's WRN-28-10 on the CPU."""
import json
import pickle
import subprocess
import time

import numpy as np
import pytest
import torch

from conftest import reproduce_args, reproduce_env
from snn_robust.attacks import attack_gradient, fgm_step
from snn_robust.data import (CIFAR_FILES, DEBIAN_FASHION_MNIST, FASHION_CLASSES, GENERATED_CIFAR, load_split,
                             write_generated_cifar10)
from snn_robust.experiments import experiment_config
from snn_robust.paper import TABLE_ETA
from snn_robust.train import build_model, make_optimizer, train_step

pytestmark = pytest.mark.skipif(not DEBIAN_FASHION_MNIST.exists(),
                                reason='needs Debian package dataset-fashion-mnist (make setup installs it)')
BATCH_KEYS = {b'batch_label', b'labels', b'data', b'filenames'}  # CIFAR-10's python version, as pickle.load gives it
META_KEYS = {b'num_cases_per_batch', b'label_names', b'num_vis'}


def unpickle(path):
    "CIFAR-10's own recipe (its web page's `unpickle`)."
    with open(path, 'rb') as f: return pickle.load(f, encoding='bytes')


def test_generated_folder_has_cifar_layout(tmp_path, monkeypatch):
    folder = write_generated_cifar10(tmp_path, n_train=52, n_test=7)
    assert folder == tmp_path / 'cifar-10-batches-py'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['cifar-10-batches-py']  # no temporary folder left
    assert sorted(p.name for p in folder.iterdir()) == sorted([*CIFAR_FILES['train'], 'test_batch', 'batches.meta'])
    sizes = []
    for kind, names in (('training', CIFAR_FILES['train']), ('testing', CIFAR_FILES['test'])):
        for i, name in enumerate(names, 1):
            batch = unpickle(folder / name)
            assert set(batch) == BATCH_KEYS
            assert batch[b'batch_label'] == f'{GENERATED_CIFAR}: {kind} batch {i} of {len(names)}'.encode()
            data, labels = batch[b'data'], batch[b'labels']
            assert isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.shape == (len(labels), 3072)
            assert all(type(v) is int and 0 <= v < 10 for v in labels)
            assert len(batch[b'filenames']) == len(labels) and all(isinstance(n, bytes) for n in batch[b'filenames'])
            sizes.append(len(labels))
    assert sizes == [11, 11, 10, 10, 10, 7]  # 52 images over five training batches, as evenly as possible
    meta = unpickle(folder / 'batches.meta')
    assert set(meta) == META_KEYS and meta[b'num_vis'] == 3072 and meta[b'num_cases_per_batch'] == 11
    assert meta[b'label_names'] == [c.encode() for c in FASHION_CLASSES]

    monkeypatch.setenv('SNN_ROBUST_DATA', str(tmp_path))
    train, test = load_split('cifar10', 'train'), load_split('cifar10', 'test')
    fashion = load_split('fashion_mnist', 'train', 52)
    assert train.x.shape == (52, 3, 32, 32) and test.x.shape == (7, 3, 32, 32)
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    assert torch.equal(train.x[:, :, 2:30, 2:30], fashion.x.expand(-1, 3, -1, -1)) and torch.equal(train.y, fashion.y)
    assert train.x[:, :, :2].max() == 0 and train.x[:, :, :, 30:].max() == 0  # the padding is black
    assert train.note == test.note == GENERATED_CIFAR


def test_bad_generated_folder_and_arguments(tmp_path, monkeypatch):
    folder = write_generated_cifar10(tmp_path / 'data', n_train=5, n_test=1)
    monkeypatch.setenv('SNN_ROBUST_DATA', str(tmp_path / 'data'))
    monkeypatch.setenv('SNN_ROBUST_CACHE', str(tmp_path / 'cache'))
    (folder / 'data_batch_5').unlink()
    with pytest.raises(FileNotFoundError) as e: load_split('cifar10', 'train')
    assert str(folder) in str(e.value) and 'data_batch_5' in str(e.value) and 'test_batch' in str(e.value)
    assert len(load_split('cifar10', 'test')) == 1  # the test split is whole
    (folder / 'test_batch').write_bytes(b'not a pickle')
    with pytest.raises(ValueError, match=f'{folder / "test_batch"} is not a CIFAR-10 batch file'):
        load_split('cifar10', 'test')
    with pytest.raises(FileExistsError, match='cifar-10-batches-py exists'): write_generated_cifar10(tmp_path / 'data')
    (tmp_path / 'file').write_text('')
    for args, message in [(dict(root=tmp_path / 'file'), 'root must be a folder'),
                          (dict(root=tmp_path / 'new', n_train=4), r'n_train must be an integer in \[5, 60000\]'),
                          (dict(root=tmp_path / 'new', n_train=True), r'n_train must be an integer in \[5, 60000\]'),
                          (dict(root=tmp_path / 'new', n_test=10001), r'n_test must be an integer in \[1, 10000\]'),
                          (dict(root=tmp_path / 'new', n_test=2.0), r'n_test must be an integer in \[1, 10000\]')]:
        with pytest.raises(ValueError, match=message): write_generated_cifar10(**args)
    assert not (tmp_path / 'new').exists()  # arguments are checked before any work


def test_generated_folder_appears_whole_or_not_at_all(tmp_path, monkeypatch):
    "A write that fails half-way (here: the third batch file) leaves no folder, and no temporary one, behind."
    calls, dump = [], pickle.dump
    def failing_dump(obj, f, protocol=None):
        calls.append(1)
        if len(calls) == 3: raise OSError('disk full')
        dump(obj, f, protocol=protocol)
    monkeypatch.setattr(pickle, 'dump', failing_dump)
    with pytest.raises(OSError, match='disk full'): write_generated_cifar10(tmp_path, n_train=5, n_test=1)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope='module')
def generated_smoke(tmp_path_factory):
    "`reproduce --profile smoke` (every notebook) with SNN_ROBUST_DATA naming generated CIFAR-format data."
    root = tmp_path_factory.mktemp('cifar_smoke')
    write_generated_cifar10(root / 'data', n_train=500, n_test=20)  # the smoke profile's WRN: 500 images, 8 tested
    start = time.time()
    result = subprocess.run(reproduce_args(root), capture_output=True, text=True, timeout=1200,
                            env=reproduce_env(root, SNN_ROBUST_DATA=str(root / 'data')))
    assert result.returncode == 0, result.stderr[-3000:]
    print(f'generated-CIFAR smoke run: {time.time() - start:.0f} s')
    return root


def test_generated_cifar_smoke_runs_the_resnet_half(generated_smoke):
    out, runs = generated_smoke / 'figures' / 'smoke', generated_smoke / 'runs' / 'smoke' / 'seed0'
    for stem in ('fig12_fgsm_dropout', 'fig14_pgd_dropout'):
        assert (out / f'{stem}.png').stat().st_size > 1000 and (out / f'{stem}.pdf').stat().st_size > 1000, stem
    # the ResNets ran on the generated CIFAR-format data, in every section, under its label, never as the paper's
    labels = {p: f'ResNet dropout {p} (WRN-10-1 on {GENERATED_CIFAR})' for p in (0.3, 0.6)}
    for results in sorted(runs.glob('*/results.json')):
        r = json.loads(results.read_text())
        if r['section'] == '3': continue  # the theory checks: no trained models
        assert r['not_run'] == {}, results
        assert [r['labels'][f'dropout{p}'] for p in (0.3, 0.6)] == list(labels.values()), results
        assert not r['paper_setting']['dropout0.3'] and not r['paper_setting']['dropout0.6'], results
    sweeps = json.loads((runs / '08_attack_samples' / 'results.json').read_text())['sweeps']
    assert {'fgsm', 'pgd'} <= set(sweeps['dropout0.3']) and {'fgsm', 'pgd'} <= set(sweeps['dropout0.6'])
    wrn = sorted(p.name for p in (generated_smoke / 'cache' / 'models').glob('wrn-*.pt'))
    assert len(wrn) == 4 and all(n.startswith('wrn-cifar10-') and n.endswith('-generated.pt') for n in wrn), wrn
    report = (out / 'REPORT.md').read_text()
    for label in labels.values():  # the ResNet rows of Tables 1 and 2
        assert report.count(f'| {label} |') == 2, label
    for table in ('table1_attack_length', 'table2_inference_samples'):
        assert all(label in (out / f'{table}.csv').read_text() for label in labels.values()), table
    checks = (out / 'checks.csv').read_text()
    for row in ('C4/variance/dropout0.3/dropout0.6', 'C6/falls/fgsm/dropout0.3', 'C8/deterministic/dropout0.6', 'C12/flat/dropout0.3'):
        assert f'{row},' in checks, row
    assert all('stand-in' in line for line in checks.splitlines() if 'dropout' in line.split(',')[0]), checks  # generated data decides nothing


def test_paper_wrn_one_training_and_one_attack_step_on_cpu(tmp_path, monkeypatch):
    "The paper profile's WRN-28-10 settings on generated CIFAR-format data: one SGD step, one FGM step (2 images)."
    write_generated_cifar10(tmp_path, n_train=5, n_test=2)
    monkeypatch.setenv('SNN_ROBUST_DATA', str(tmp_path))
    config = experiment_config('dropout0.3', 'paper')
    assert (config.dataset, config.depth, config.widen_factor, config.epochs) == ('cifar10', 28, 10, 200)
    model, g = build_model(config), torch.Generator().manual_seed(0)
    assert model.in_channels == 3 and sum(p.numel() for p in model.parameters()) > 36_000_000
    train = load_split('cifar10', 'train', 2)
    model.train(); optimizer = make_optimizer(model, config)
    loss = train_step(model, config, train.x, train.y, 50_000, g)
    assert loss.ndim == 0 and torch.isfinite(loss)
    before = model.conv1.weight.detach().clone()
    optimizer.zero_grad(); loss.backward(); optimizer.step()
    assert not torch.equal(before, model.conv1.weight) and torch.isfinite(model.conv1.weight).all()
    model.eval()
    test, eta = load_split('cifar10', 'test'), TABLE_ETA['cifar10']
    grad = attack_gradient(model, test.x, test.y, n_samples=1, generator=g)
    x_adv = fgm_step(test.x, grad, eta)
    assert grad.shape == x_adv.shape == (2, 3, 32, 32) and torch.isfinite(grad).all() and grad.abs().sum() > 0
    step = (x_adv - test.x).flatten(1).norm(dim=1)  # an L2 step of eta, less where [0, 1] clips it
    assert (step > 0).all() and (step <= eta + 1e-5).all() and 0 <= x_adv.min() and x_adv.max() <= 1
