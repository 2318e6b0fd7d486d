import pickle

import numpy as np
import pytest
import torch

from skiplessons import data


def test_mnist1d_offline_and_standardized():
    d = data.mnist1d(n_samples=500, seed=3)
    assert d.x_train.shape == (400, 40) and d.x_test.shape == (100, 40) and d.n_classes == 10
    assert torch.allclose(d.x_train.mean(0), torch.zeros(40), atol=1e-5)
    assert set(d.y_train.tolist()) <= set(range(10))
    assert torch.equal(d.x_train, data.mnist1d(n_samples=500, seed=3).x_train)


def test_digits_split_is_stratified():
    d = data.digits()
    assert d.x_train.shape[1] == 64 and len(d.x_train) + len(d.x_test) == 1797
    assert torch.bincount(d.y_test, minlength=10).min() >= 35


def test_teacher_targets_come_from_a_teacher():
    d = data.teacher(n_train=50, n_test=10, d_in=3, n_hidden=2, n_out=2)
    assert d.y_train.shape == (50, 2) and d.y_train.is_floating_point()
    assert d.y_train.abs().max() <= 2 ** 0.5 * 2  # |C tanh(Jx)| is bounded


def write_fake_cifar(root, name, n_per_file=6):
    rng = np.random.default_rng(0)
    folder = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}[name]
    files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"] if name == "cifar10" else ["train", "test"]
    key = b"labels" if name == "cifar10" else b"fine_labels"
    n_classes = 10 if name == "cifar10" else 100
    (root / folder).mkdir(parents=True)
    for f in files:
        batch = {b"data": rng.integers(0, 256, size=(n_per_file, 3072), dtype=np.uint8),
                 key: rng.integers(0, n_classes, size=n_per_file).tolist()}
        with open(root / folder / f, "wb") as fh:
            pickle.dump(batch, fh)
    return len(files) - 1


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_reader_on_files_in_the_real_format(tmp_path, name):
    n_train_files = write_fake_cifar(tmp_path, name)
    d = data.cifar(name, root=tmp_path, download=False)
    assert d.x_train.shape == (6 * n_train_files, 3072) and d.x_test.shape == (6, 3072)
    assert d.n_classes == (10 if name == "cifar10" else 100)
    assert torch.allclose(d.x_train.mean(0), torch.zeros(3072), atol=1e-5)


def test_missing_cifar_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="mnist1d"):
        data.cifar("cifar100", root=tmp_path, download=False)


@pytest.mark.parametrize("call,match", [
    (lambda: data.load("imagenet"), "mnist1d, digits"), (lambda: data.cifar("cifar7"), "cifar10, cifar100"),
    (lambda: data.mnist1d(n_samples=3), "n_samples")])
def test_bad_data_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_mnist1d_cache_returns_the_generated_data(tmp_path, monkeypatch):
    import mnist1d.data

    fresh = data.mnist1d(n_samples=300, seed=5)
    first = data.mnist1d(n_samples=300, seed=5, cache=tmp_path)          # generates and stores
    (stored,) = tmp_path.glob("mnist1d-300-5-*.npz")
    with monkeypatch.context() as m:
        m.setattr(mnist1d.data, "make_dataset", lambda args: 1 / 0)
        again = data.mnist1d(n_samples=300, seed=5, cache=tmp_path)      # reads the file, generates nothing
    for d in (first, again):
        assert torch.equal(d.x_train, fresh.x_train) and torch.equal(d.y_test, fresh.y_test)
    stored.write_bytes(b"damaged")                                       # a damaged file is made anew
    assert torch.equal(data.mnist1d(n_samples=300, seed=5, cache=tmp_path).x_test, fresh.x_test)
    assert not list(tmp_path.glob(".*.tmp"))
