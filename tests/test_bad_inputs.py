"""Bad inputs to the library: each is a ValueError naming the argument, never a raw torch/numpy error or a
silently wrong answer (issue #16's list; the CLI's are in test_results.py)."""
import pickle

import numpy as np
import pytest
import torch

from skiplessons import data, degeneracy, models
from skiplessons.curvature import SpectrumSettings, degenerate_fraction, lanczos_eigs
from skiplessons.curvature.stacked import stacked_flat_fn, stacked_hvp


@pytest.mark.parametrize("eigs", [[1.0, np.nan], [np.inf, 1.0], torch.tensor([1.0, float("nan")])])
def test_degenerate_fraction_refuses_non_finite_eigenvalues(eigs):
    with pytest.raises(ValueError, match="eigenvalues must be finite; 1 of 2 are NaN or inf"):
        degenerate_fraction(eigs)


@pytest.mark.parametrize("tol", [-1e-3, float("nan"), "1e-3", True])
def test_arpack_tolerance_is_checked(tol):
    with pytest.raises(ValueError, match="tol=.* must be a number >= 0"):
        lanczos_eigs(np.eye(30), k=2, tol=tol)
    assert np.allclose(lanczos_eigs(np.diag(np.arange(30.0)), k=2, tol=0), [29, 28]), "0: machine precision"


def test_stacked_hvp_with_the_wrong_input_width_names_x():
    net = models.DeepMLPs(models.NetSpec(40, 10, depth=2, width=4), [models.Member("plain", 0)])
    theta, f = stacked_flat_fn(net)
    with pytest.raises(ValueError, match=r"x must be a torch.float32 tensor of shape \(N >= 1, d_in=40\).*"
                                         r"got torch.float32 of shape \(5, 41\)"):
        stacked_hvp(f, theta, torch.randn(5, 41), torch.zeros(5, dtype=torch.long))


def small_batch(d_in=40):
    spec = models.NetSpec(d_in, 3, depth=2, width=4)
    return models.DeepMLPs(spec, [models.Member("plain", 0), models.Member("residual", 1)])


def toy_data(d_in):
    x = torch.randn(40, d_in)
    y = torch.arange(40) % 3
    return data.Dataset("toy", x[:30], y[:30], x[30:], y[30:], 3)


WIDE = r"x has 41 features but the nets expect d_in=40"
X_WIDE, Y = torch.randn(20, 41), torch.arange(20) % 3


@pytest.mark.parametrize("call", [
    lambda net: degeneracy.measure(net, X_WIDE, Y),
    lambda net: degeneracy.measure(net, X_WIDE, Y, SpectrumSettings(method="slq", n_probes=1, n_steps=3)),
    lambda net: degeneracy.hessian_spectrum(net.member(0), X_WIDE, Y),
    lambda net: degeneracy.hessian_spectrum(net.member(0), X_WIDE, Y, SpectrumSettings(method="slq")),
    lambda net: degeneracy.layer_singularities(net, X_WIDE),
    lambda net: degeneracy.train_tracked(net, toy_data(40), 2, [0, 2], X_WIDE, Y),
], ids=["measure", "measure-slq", "hessian_spectrum", "hessian_spectrum-slq",
        "layer_singularities", "train_tracked"])
def test_degeneracy_refuses_data_of_another_width(call):
    with pytest.raises(ValueError, match=WIDE):
        call(small_batch())


@pytest.mark.parametrize("x", [torch.randn(20), torch.randn(2, 20, 40), np.zeros((20, 40))])
def test_degeneracy_refuses_data_that_is_not_a_matrix(x):
    with pytest.raises(ValueError, match=r"x must be an \(N, d_in=40\) tensor of samples, got"):
        degeneracy.measure(small_batch(), x, Y)


def test_train_tracked_checks_the_training_data_before_measuring(monkeypatch):
    measured = []
    monkeypatch.setattr(degeneracy, "measure", lambda *args, **kwargs: measured.append(args))
    with pytest.raises(ValueError, match="data has 41 features but the nets expect d_in=40"):
        degeneracy.train_tracked(small_batch(), toy_data(41), 2, [0, 2], torch.randn(20, 40), Y)
    assert not measured, "the step-0 measurement ran before the data was checked"


def test_hessian_spectrum_of_any_module_names_x():
    model = torch.nn.Sequential(torch.nn.Linear(40, 3))
    with pytest.raises(ValueError, match=r"x of shape \(20, 41\) does not fit the model"):
        degeneracy.hessian_spectrum(model, X_WIDE, Y)


def cifar_file(tmp_path, batch):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir(exist_ok=True)
    for name in ("train", "test"):
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh)


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


GOOD_X = np.zeros((4, 3072), dtype=np.uint8)
GOOD_Y = [0, 1, 2, 3]


@pytest.mark.parametrize("batch,match", [
    ({b"data": np.zeros((4, 100), dtype=np.uint8), b"fine_labels": GOOD_Y}, r"shape \(N, 3072\), got uint8 \(4, 100\)"),
    ({b"data": GOOD_X, b"fine_labels": [0, 1, 2, 100]}, r"labels must lie in \[0, 100\), got \[0, 100\]"),
    ({b"data": GOOD_X, b"fine_labels": [0, 1, 2]}, r"one integer label per image, got int64 \(3,\) for 4 images"),
    ({b"data": GOOD_X.astype(np.int64) + 300, b"fine_labels": GOOD_Y}, r"pixel values must lie in \[0, 255\]"),
    ({b"data": GOOD_X}, "is not a CIFAR batch"),
    ([1, 2, 3], "is not a CIFAR batch"),
    ({b"data": Evil(), b"fine_labels": GOOD_Y}, "refers to builtins.print, which a CIFAR batch never does"),
])
def test_cifar_files_are_validated(tmp_path, batch, match, capsys):
    cifar_file(tmp_path, batch)
    with pytest.raises(ValueError, match=match):
        data.read_cifar(tmp_path, "cifar100")
    assert "pwned" not in capsys.readouterr().out, "the unpickler ran no code"


@pytest.mark.parametrize("content", [b"", b"\x80\x04\x95", bytes(range(256)) * 4])
def test_truncated_or_random_cifar_files(tmp_path, content):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name in ("train", "test"):
        (folder / name).write_bytes(content)
    with pytest.raises(ValueError, match="train is not a CIFAR batch in the python-pickle format"):
        data.read_cifar(tmp_path, "cifar100")


def test_many_random_cifar_files_each_give_the_one_error(tmp_path):
    """Random bytes drive the unpickler into every kind of failure (in a fuzz run of 20,000 files of 500 bytes:
    UnpicklingError, ValueError, OverflowError, MemoryError from a garbage length, ...); each file must end in the
    one ValueError naming it."""
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    (folder / "test").write_bytes(b"")
    rng = np.random.default_rng(0)
    for _ in range(2000):
        (folder / "train").write_bytes(rng.bytes(500))
        with pytest.raises(ValueError, match="train is not a CIFAR batch in the python-pickle format"):
            data.read_cifar(tmp_path, "cifar100")


@pytest.mark.parametrize("kwarg", [dict(callback=print), dict(callback_at={1})])
def test_train_tracked_keeps_its_callback(kwarg):
    with pytest.raises(ValueError, match="train_tracked sets train's callback and callback_at itself"):
        degeneracy.train_tracked(small_batch(), toy_data(40), 2, [0, 2], torch.randn(20, 40), Y, **kwarg)
