"""The losses of the book, defined once: training (`train`) and curvature (`curvature`) both use them.

"ce" is the mean cross-entropy of integer labels, "mse" is (1/2N) sum_n ||f_n - y_n||^2. `loss_value` takes
one net's outputs (N, C); `per_net_loss` takes a batch of nets' outputs (M, N, C) and returns one loss per net
with exactly the same definition, so a Hessian of a batch of nets is the Hessian of each net's own loss.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("mse", "ce")


def check_loss(loss: str) -> str:
    """Return `loss` if it is one of `LOSSES`, else raise a ValueError naming the valid values."""
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is not valid; choose one of {', '.join(LOSSES)}")
    return loss


def loss_value(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """The scalar loss of one net's outputs `out` (N, C): "mse" or "ce" (see the module docstring)."""
    if check_loss(loss) == "mse":
        return 0.5 * (out - y).pow(2).sum() / out.shape[0]
    return F.cross_entropy(out, y)


def per_net_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The loss of each net of a batch, shape (M,), from outputs (M, N, C): "ce" for integer labels `y` (N,),
    "mse" for float targets `y` (N, C) -- the same numbers as `loss_value` on each net alone."""
    M, N = out.shape[:2]
    if y.is_floating_point():
        return 0.5 * (out - y).pow(2).sum(-1).mean(-1)
    return F.cross_entropy(out.reshape(M * N, -1), y.repeat(M), reduction="none").view(M, N).mean(1)
