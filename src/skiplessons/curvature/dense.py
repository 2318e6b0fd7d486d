"""Exact (dense) curvature matrices for small nets: output Jacobian, Hessian, Gauss-Newton, Fisher (chapter I.1).

Each builds a full (P, P) matrix, so memory is P^2 numbers and they refuse nets above `max_params`
parameters; for larger nets use `hvp_operator` / `ggn_operator` with `lanczos_eigs` or `slq`.
"""
from __future__ import annotations

import torch
from torch.func import grad, jacrev, jvp, vmap

from .functional import (FlatFn, Loss, as_inputs, batch_loss, check_loss, check_targets, loss_name,
                         output_hessian_factor, outputs)

MAX_PARAMS = 5000
DEFAULT_CHUNK = 256


def check_size(theta: torch.Tensor, max_params: int, what: str) -> None:
    """Raise a ValueError when a dense (P, P) matrix of `what` would exceed `max_params` parameters."""
    p = theta.numel()
    if p > max_params:
        raise ValueError(
            f"the dense {what} of a net with {p:,} parameters is a {p:,} x {p:,} matrix; max_params={max_params:,} "
            f"refuses nets above that limit. Use hvp_operator/ggn_operator with lanczos_eigs (extreme "
            f"eigenvalues) or slq (spectral density) instead, or raise max_params if you have the memory.")


def output_jacobian(f: FlatFn, theta: torch.Tensor, x: torch.Tensor, chunk_size: int | None = DEFAULT_CHUNK
                    ) -> torch.Tensor:
    """d f(theta, x) / d theta as a (N*C, P) tensor, row n*C + c for output c of sample n.

    Reverse mode (N*C backward passes) when N*C <= P, else forward mode (P forward passes); `chunk_size`
    vectorises that many passes at once. Memory: N*C*P numbers plus one chunk of passes. Chapter I.1.
    """
    out = outputs(f, theta, x)
    x = as_inputs(x, theta)
    n_out = out.numel()

    def flat(t):
        return f(t, x).reshape(-1)

    theta = theta.detach()
    if n_out <= theta.numel():
        return jacrev(flat, chunk_size=chunk_size)(theta)
    basis = torch.eye(theta.numel(), dtype=theta.dtype, device=theta.device)
    columns = vmap(lambda v: jvp(flat, (theta,), (v,))[1], chunk_size=chunk_size)(basis)
    return columns.T


def dense_hessian(f: FlatFn, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, loss: Loss = "mse",
                  max_params: int = MAX_PARAMS, chunk_size: int | None = DEFAULT_CHUNK) -> torch.Tensor:
    """The exact (P, P) Hessian of the loss on the batch (x, y), in theta's dtype and device.

    Built as `jacrev(grad(loss), chunk_size)`: P Hessian-vector products vectorised `chunk_size` at a time.
    On a 3,118-parameter tanh MLP (batch 64, float64, CPU, one thread; bench/curvature.py) this took
    0.53 s against 1.50 s for `torch.func.hessian` (forward-over-reverse, all P at once): 2.8x faster (our
    runs on a loaded 2-core machine ranged 1.3-2.8x). Memory: P^2 numbers plus `chunk_size` copies of the
    backward graph. `loss`: "mse", "ce" or a callable (outputs, targets) -> scalar. Raises ValueError above
    `max_params`. Chapter I.1.
    """
    check_size(theta, max_params, "Hessian")
    loss_name(loss)
    y = check_targets(outputs(f, theta, x), y, loss)
    x = as_inputs(x, theta)

    def total(t):
        return batch_loss(f(t, x), y, loss)

    return jacrev(grad(total), chunk_size=chunk_size)(theta.detach())


def dense_ggn(f: FlatFn, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, loss: str = "mse",
              max_params: int = MAX_PARAMS, chunk_size: int | None = DEFAULT_CHUNK) -> torch.Tensor:
    """The exact (P, P) generalized Gauss-Newton matrix J^T (d^2 loss / d out^2) J of the batch.

    It is the Hessian without the term weighted by the residuals, always positive semi-definite, of rank
    <= N*C (N*(C-1) for "ce"). For these two losses it does not depend on y (y is only checked).
    Cost: one `output_jacobian` plus a (P, N*C) x (N*C, P) product; memory N*C*P + P^2. Chapter I.1.
    """
    check_size(theta, max_params, "Gauss-Newton matrix")
    check_targets(outputs(f, theta, x), y, check_loss(loss))
    return _jtaj(f, theta, x, loss, chunk_size)


def dense_fisher(f: FlatFn, theta: torch.Tensor, x: torch.Tensor, loss: str = "mse",
                 max_params: int = MAX_PARAMS, chunk_size: int | None = DEFAULT_CHUNK) -> torch.Tensor:
    """The expected Fisher information (P, P) of the model's predictive distribution, per sample.

    "mse": outputs are the mean of a unit-variance Gaussian, F = J^T J / N. "ce": softmax classes,
    F = J^T (diag p - p p^T) J / N. For both losses it equals the Gauss-Newton matrix (canonical links),
    and it needs no targets. Cost and memory as `dense_ggn`. Chapter I.1.
    """
    check_size(theta, max_params, "Fisher matrix")
    check_loss(loss)
    return _jtaj(f, theta, x, loss, chunk_size)


def _jtaj(f, theta, x, loss, chunk_size):
    out = outputs(f, theta, x).detach()
    n, c = out.shape
    jac = output_jacobian(f, theta, x, chunk_size=chunk_size).reshape(n, c, -1)
    factor = output_hessian_factor(out, loss)                   # A_n with A_n A_n^T = N d2loss/dout_n^2
    b = torch.einsum("nck,ncp->nkp", factor, jac).reshape(n * c, -1)
    return b.T @ b / n
