"Data sources: Debian's FashionMNIST, SNN_ROBUST_DATA first, CIFAR-10's own format, and the error when nothing is found."
import pickle

import numpy as np
import pytest

from snn_robust.data import CIFAR_FILES, DEBIAN_FASHION_MNIST, FASHION_FILES, load_split, write_idx


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.exists(), reason='needs Debian package dataset-fashion-mnist (make setup installs it)')
def test_real_fashion_mnist_from_debian(monkeypatch):
    monkeypatch.delenv('SNN_ROBUST_DATA', raising=False)
    train = load_split('fashion_mnist', 'train')
    assert train.x.shape == (60000, 1, 28, 28) and train.y.shape == (60000,)
    assert train.x.min() == 0 and train.x.max() == 1
    assert train.y.bincount().tolist() == [6000] * 10


def test_snn_robust_data_comes_first(tmp_path, monkeypatch):
    raw = tmp_path / 'FashionMNIST' / 'raw'; raw.mkdir(parents=True)
    images = np.full((3, 28, 28), 255, np.uint8); images[1] = 0
    write_idx(raw / (FASHION_FILES['test'][0] + '.gz'), images)
    write_idx(raw / (FASHION_FILES['test'][1] + '.gz'), np.array([4, 5, 6], np.uint8))
    monkeypatch.setenv('SNN_ROBUST_DATA', str(tmp_path))
    split = load_split('fashion_mnist', 'test')
    assert split.x.shape == (3, 1, 28, 28) and split.y.tolist() == [4, 5, 6]
    assert split.x[0].min() == 1 and split.x[1].max() == 0
    assert len(load_split('fashion_mnist', 'test', n=2)) == 2


def test_truncated_fashion_mnist_file_is_named(tmp_path, monkeypatch):
    raw = tmp_path / 'FashionMNIST' / 'raw'; raw.mkdir(parents=True)
    write_idx(raw / FASHION_FILES['test'][0], np.zeros((3, 28, 28), np.uint8))
    (raw / FASHION_FILES['test'][0]).write_bytes((raw / FASHION_FILES['test'][0]).read_bytes())
    write_idx(raw / (FASHION_FILES['test'][1] + '.gz'), np.zeros(3, np.uint8))
    import gzip
    data = gzip.open(raw / FASHION_FILES['test'][0]).read()
    (raw / FASHION_FILES['test'][0]).unlink()
    (raw / FASHION_FILES['test'][0]).write_bytes(data[:-100])
    monkeypatch.setenv('SNN_ROBUST_DATA', str(tmp_path))
    with pytest.raises(ValueError, match='truncated'):
        load_split('fashion_mnist', 'test')


def test_cifar10_in_its_own_format(tmp_path, monkeypatch):
    folder = tmp_path / 'cifar-10-batches-py'; folder.mkdir()
    rng = np.random.default_rng(0)
    for name in CIFAR_FILES['train'] + CIFAR_FILES['test']:
        with open(folder / name, 'wb') as f:
            pickle.dump({b'data': rng.integers(0, 256, (2, 3072), dtype=np.uint8), b'labels': [1, 9]}, f)
    monkeypatch.setenv('SNN_ROBUST_DATA', str(tmp_path))
    train, test = load_split('cifar10', 'train'), load_split('cifar10', 'test')
    assert train.x.shape == (10, 3, 32, 32) and test.y.tolist() == [1, 9]
    assert 0 <= train.x.min() and train.x.max() <= 1


def test_missing_data_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv('SNN_ROBUST_DATA', str(tmp_path))
    monkeypatch.setenv('SNN_ROBUST_CACHE', str(tmp_path / 'cache'))
    with pytest.raises(FileNotFoundError, match='cifar10 not found.*SNN_ROBUST_DATA'):
        load_split('cifar10', 'test')
