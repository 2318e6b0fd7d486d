"""Bad inputs to the library: each is a ValueError naming the argument, never a raw torch/numpy error or a
silently wrong answer (issue #16's list; the CLI's are in test_results.py)."""
import pickle

import numpy as np
import pytest
import torch

from skiplessons import data, models
from skiplessons.curvature import degenerate_fraction, lanczos_eigs
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
    with pytest.raises(ValueError, match=r"failed on x of shape \(5, 41\); x must have the nets' input width"):
        stacked_hvp(f, theta, torch.randn(5, 41), torch.zeros(5, dtype=torch.long))


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
