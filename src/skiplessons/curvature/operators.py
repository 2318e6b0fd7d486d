"""Matrix-free curvature: Hessian- and Gauss-Newton-vector products, as torch callables and as scipy
LinearOperators (chapter III.2).

One autograd graph is built per (parameters, batch) and reused by every product (rebuilding it per product
costs an extra forward and backward pass each time). Products accept one vector (P,) or a block (k, P) of
k vectors, which are pushed through the graph together (vectorised backward; on CPU that costs 20-30% more
per vector than single products, so a block of one goes the single way).
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator

from .functional import (FlatFn, Loss, batch_loss, check_loss, check_targets, loss_name, loss_value,
                         output_hessian_factor, outputs)


class CurvatureProduct:
    """A symmetric (P, P) curvature matrix M of one batch, applied as `M(v)` to v of shape (P,) or (k, P).

    Attributes: `n_params` (P), `n_samples` (N), `n_outputs` (C), `dtype`, `device`, `loss_value` (the
    batch loss at theta, a float). Results have v's shape, in theta's dtype and device.
    """

    def __init__(self, apply, theta, out, loss_val):
        self._apply = apply
        self.n_params = theta.numel()
        self.n_samples, self.n_outputs = out.shape
        self.dtype = theta.dtype
        self.device = theta.device
        self.loss_value = float(loss_val)

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        if v.shape[-1] != self.n_params or v.ndim not in (1, 2):
            raise ValueError(f"v must have shape ({self.n_params},) or (k, {self.n_params}), got {tuple(v.shape)}")
        v = v.to(device=self.device, dtype=self.dtype)
        with torch.enable_grad():
            if v.ndim == 2 and v.shape[0] == 1:        # a block of one: the plain backward is ~20% cheaper
                return self._apply(v[0]).unsqueeze(0)
            return self._apply(v)


def _graph(f, theta, x, y, loss):
    loss_name(loss)
    theta = theta.detach().requires_grad_(True)
    out = outputs(f, theta, x)
    y = check_targets(out, y, loss)
    return theta, out, y


def _backward(target, wrt, v, batched):
    (res,) = torch.autograd.grad(target, wrt, v, retain_graph=True, is_grads_batched=batched)
    return res


def hvp(f: FlatFn, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, loss: Loss = "mse") -> CurvatureProduct:
    """Hessian-vector products H v of the batch loss, by double backward on one retained graph.

    Setup: one forward and one backward pass with `create_graph=True`. Each product: one backward pass
    through that gradient graph (about 2-3 forward passes of work); a block of k vectors goes in one
    vectorised pass. Memory: the forward graph plus its gradient graph, kept alive while the callable is.
    `loss`: "mse", "ce" or a callable (outputs, targets) -> scalar. Chapter III.2.
    """
    with torch.enable_grad():
        theta, out, y = _graph(f, theta, x, y, loss)
        value = batch_loss(out, y, loss)
        (g,) = torch.autograd.grad(value, theta, create_graph=True)
    if not g.requires_grad:          # the loss is linear in theta: H = 0
        return CurvatureProduct(torch.zeros_like, theta, out, value.detach())
    return CurvatureProduct(lambda v: _backward(g, theta, v, v.ndim == 2), theta, out, value.detach())


def ggnvp(f: FlatFn, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, loss: str = "mse") -> CurvatureProduct:
    """Gauss-Newton-vector products G v = J^T (d^2 loss / d out^2) J v / N, from one retained graph.

    J v (a Jacobian-vector product) is taken by differentiating the vector-Jacobian product J^T u with
    respect to u, then J^T w by a plain backward, so both reuse the same forward graph. Setup: one forward
    and one backward pass; each product: about three backward passes. Memory: the forward graph plus one
    backward graph. Chapter III.2.
    """
    check_loss(loss)                 # the output Hessian factor is known for the named losses only
    with torch.enable_grad():
        theta, out, y = _graph(f, theta, x, y, loss)
        value = loss_value(out, y, loss)
        u = torch.zeros_like(out, requires_grad=True)
        (jtu,) = torch.autograd.grad(out, theta, u, create_graph=True)
    factor = output_hessian_factor(out.detach(), loss)
    n = out.shape[0]

    def apply(v):
        batched = v.ndim == 2
        jv = _backward(jtu, u, v, batched)                           # (N, C) or (k, N, C)
        mid = torch.einsum("nck,...nc->...nk", factor, jv)            # A_n^T J_n v
        mid = torch.einsum("nck,...nk->...nc", factor, mid) / n       # A_n A_n^T J_n v / N
        return _backward(out, theta, mid, batched)

    return CurvatureProduct(apply, theta, out, value.detach())


class TorchOperator(LinearOperator):
    """A symmetric scipy LinearOperator (float64 numpy in and out) over a torch `CurvatureProduct`.

    The torch side keeps its own dtype and device; `torch_apply` exposes it to torch-level algorithms
    (e.g. `slq`) without numpy round trips. `n_samples` / `n_outputs` feed the rank bound.
    """

    def __init__(self, product: CurvatureProduct):
        super().__init__(dtype=np.float64, shape=(product.n_params, product.n_params))
        self.torch_apply = product
        self.n_samples = product.n_samples
        self.n_outputs = product.n_outputs

    def _to_torch(self, a):
        return torch.as_tensor(np.ascontiguousarray(a), dtype=self.torch_apply.dtype, device=self.torch_apply.device)

    def _matvec(self, v):
        v = np.asarray(v).reshape(-1)
        return self.torch_apply(self._to_torch(v)).detach().cpu().double().numpy()

    def _matmat(self, m):
        return self.torch_apply(self._to_torch(np.asarray(m).T)).detach().cpu().double().numpy().T

    _rmatvec = _matvec
    _rmatmat = _matmat

    def _adjoint(self):
        return self


def hvp_operator(f: FlatFn, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, loss: Loss = "mse"
                 ) -> TorchOperator:
    """The batch-loss Hessian as a scipy LinearOperator; cost per product as `hvp`. Chapter III.2."""
    return TorchOperator(hvp(f, theta, x, y, loss))


def ggn_operator(f: FlatFn, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, loss: str = "mse"
                 ) -> TorchOperator:
    """The batch Gauss-Newton matrix as a scipy LinearOperator; cost per product as `ggnvp`. Chapter III.2."""
    return TorchOperator(ggnvp(f, theta, x, y, loss))
