"""Curvature of many independent nets at once: block-diagonal Hessian products and SLQ in lockstep
(chapter III.2).

A batch of M nets trained together (`models.DeepMLPs`) shares no parameters, so the Hessian of the sum of
the nets' losses is block diagonal, one (P, P) block per net. One double backward through the batch's graph
therefore gives every net's own product H_m v_m, and M Lanczos recurrences can advance in lockstep, one
batched product per step. On a GPU, where a small net's product is a few hundred tiny kernel launches, the
batch costs about as much as one net; on a CPU the arithmetic dominates and the gain is small (9 depth-30,
width-8 nets on 1,000 samples, 4 probes of 40 steps, one thread: 7.4 s together, 7.7 s one after another).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.func import functional_call

from .. import checks
from ..losses import per_net_loss
from .functional import check_loss, check_targets
from .lanczos import SLQ_MEMORY, LanczosRecurrence
from .operators import TorchOperator
from .summaries import SpectralDensity


def stacked_flat_fn(model: torch.nn.Module, rows=None, dtype: torch.dtype | None = None):
    """`(theta, f)` for a module holding M nets whose every parameter and buffer has the nets on axis 0.

    `theta` (M', P) holds each selected net's parameters flattened in `named_parameters` order (the order of
    `curvature.flat_fn` on that net alone), and `f(theta, x) -> (M', N, C)` evaluates the selected nets.
    `rows` (default: all) selects nets; `dtype` (e.g. float64) casts parameters and floating buffers.
    """
    named = dict(model.named_parameters())
    if not named:
        raise ValueError("model has no parameters; stacked_flat_fn needs at least one")
    m_all = next(iter(named.values())).shape[0]
    tensors = {**named, **dict(model.named_buffers())}
    odd = [k for k, t in tensors.items() if t.ndim == 0 or t.shape[0] != m_all]
    if odd:
        raise ValueError(f"every parameter and buffer must have the M = {m_all} nets on axis 0; "
                         f"{', '.join(odd)} do not")
    rows = list(range(m_all)) if rows is None else [int(r) for r in rows]
    if not rows or any(not 0 <= r < m_all for r in rows):
        raise ValueError(f"rows={rows!r} must be a non-empty list of net indices in [0, {m_all - 1}]")
    idx = torch.as_tensor(rows, device=next(iter(named.values())).device)

    def cast(t):
        t = t.detach().index_select(0, idx)
        return t.to(dtype) if dtype is not None and t.is_floating_point() else t

    names = list(named)
    shapes = [named[n].shape[1:] for n in names]
    sizes = [math.prod(s) for s in shapes]
    buffers = {k: cast(v) for k, v in model.named_buffers()}
    theta = torch.cat([cast(named[n]).reshape(len(rows), -1) for n in names], dim=1)

    def f(theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(theta, sizes, dim=1)
        params = {n: t.reshape(len(rows), *s) for n, t, s in zip(names, parts, shapes)}
        return functional_call(model, (params, buffers), (x,))

    return theta, f


class StackedProduct:
    """The block-diagonal Hessian of M nets as an operator: `H(v)` (or `H @ v`) with v (M, P) or a block
    (k, M, P) returns H_m v[..., m, :] for every net m, in v's shape; `net(m)` is net m's block as a scipy
    LinearOperator (for `lanczos_eigs`, `slq`), `dense()` every block as an (M, P, P) tensor. Attributes:
    `shape` (M, P, P), `n_nets`, `n_params` (P per net), `n_samples`, `n_outputs`, `dtype`, `device`,
    `loss_values` ((M,) float64 numpy)."""

    def __init__(self, apply, theta, out, losses):
        self._apply = apply
        self.n_nets, self.n_params = theta.shape
        self.shape = (self.n_nets, self.n_params, self.n_params)
        self.n_samples, self.n_outputs = out.shape[1:]
        self.dtype, self.device = theta.dtype, theta.device
        self.loss_values = losses.detach().cpu().double().numpy()

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        shape = (self.n_nets, self.n_params)
        if v.ndim not in (2, 3) or tuple(v.shape[-2:]) != shape:
            raise ValueError(f"v must have shape {shape} or (k, {shape[0]}, {shape[1]}), got {tuple(v.shape)}")
        v = v.to(device=self.device, dtype=self.dtype)
        with torch.enable_grad():
            return self._apply(v)

    __matmul__ = __call__

    def net(self, m: int) -> TorchOperator:
        """Net `m`'s block H_m as a symmetric scipy LinearOperator (one batched product per application)."""
        checks.integer(m, "m", 0, self.n_nets)
        return TorchOperator(_NetBlock(self, int(m)))

    def dense(self, chunk: int = 64) -> torch.Tensor:
        """Every net's Hessian block, (M, P, P): the products with the P unit vectors, `chunk` at a time
        (P / chunk batched products; memory M * P^2 numbers)."""
        checks.integer(chunk, "chunk", 1)
        eye = torch.eye(self.n_params, dtype=self.dtype, device=self.device)
        cols = [self(eye[i:i + chunk, None, :].expand(-1, self.n_nets, -1)) for i in range(0, self.n_params, chunk)]
        return torch.cat(cols).permute(1, 2, 0).detach()           # (M, rows, columns); H_m is symmetric


class _NetBlock:
    """One net's block of a `StackedProduct`, applied like a one-net `CurvatureProduct`: v (P,) or (k, P)."""

    def __init__(self, stacked: StackedProduct, m: int):
        self.stacked, self.m = stacked, m
        self.n_params, self.n_samples, self.n_outputs = stacked.n_params, stacked.n_samples, stacked.n_outputs
        self.dtype, self.device = stacked.dtype, stacked.device

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        full = torch.zeros((*v.shape[:-1], self.stacked.n_nets, self.n_params), dtype=self.dtype, device=self.device)
        full[..., self.m, :] = v
        return self.stacked(full)[..., self.m, :]


def stacked_hvp(f, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, loss: str = "ce") -> StackedProduct:
    """Hessian-vector products of M independent nets' batch losses, by double backward on one graph.

    `theta` (M, P) and `f(theta, x) -> (M, N, C)` as from `stacked_flat_fn`; all nets see the same batch
    (x, y). Setup: one forward and one backward pass of the whole batch with `create_graph=True`; each
    product: one backward pass through that gradient graph, for all M nets together (a block of k vectors
    per net goes in one vectorised pass). Memory: the batch's forward graph and its gradient graph.
    """
    check_loss(loss)
    if not isinstance(theta, torch.Tensor) or theta.ndim != 2 or not theta.is_floating_point():
        raise ValueError(f"theta must be a floating (M, P) tensor, one row per net, "
                         f"got {getattr(theta, 'shape', type(theta).__name__)}")
    checks.finite(theta, "theta")
    checks.samples(x, "x", ndim=None, min_ndim=2, floating=False)
    with torch.enable_grad():
        theta = theta.detach().requires_grad_(True)
        x = x.to(device=theta.device, dtype=theta.dtype if x.is_floating_point() else x.dtype)
        try:
            out = f(theta, x)
        except RuntimeError as e:      # e.g. x of another width than the nets' inputs: torch's shape error
            raise ValueError(f"f(theta, x) failed on x of shape {tuple(x.shape)}; x must have the nets' input "
                             f"width ({str(e).splitlines()[0]})") from None
        if out.ndim != 3 or out.shape[0] != theta.shape[0] or out.shape[1] != x.shape[0]:
            raise ValueError(f"f(theta, x) must return outputs of shape (M, N, C) = ({theta.shape[0]}, "
                             f"{x.shape[0]}, C), got {tuple(out.shape)}")
        y = check_targets(out[0], y, loss)
        losses = per_net_loss(out, y)              # check_targets gave mse float targets, ce integer labels
        (g,) = torch.autograd.grad(losses.sum(), theta, create_graph=True)

    def apply(v):
        (res,) = torch.autograd.grad(g, theta, v, retain_graph=True, is_grads_batched=v.ndim == 3)
        return res

    return StackedProduct(apply, theta, out, losses)


def stacked_slq(op: StackedProduct, n_probes: int = 10, n_steps: int = 100, seed: int = 0,
                max_memory: int = SLQ_MEMORY) -> list[SpectralDensity]:
    """Each net's Hessian spectral density by SLQ, all nets' Lanczos recurrences in lockstep.

    The same as `slq` on each net's own operator with the same `seed` (every net gets the same Rademacher
    probes, so the results agree to rounding): full reorthogonalization, m = min(n_steps, P) nodes per
    probe. Cost: n_probes * m batched products (blocks of probes go together as far as `max_memory`
    bytes of Lanczos basis allow), plus reorthogonalization O(M * n_probes * m^2 * P). Memory: m * P
    numbers per net and probe run together. Returns one `SpectralDensity` per net.
    """
    if not isinstance(op, StackedProduct):
        raise ValueError(f"op must be a StackedProduct (from stacked_hvp), got {type(op).__name__}")
    n_probes, n_steps = checks.integer(n_probes, "n_probes", 1), checks.integer(n_steps, "n_steps", 1)
    checks.integer(seed, "seed", 0, 2**63)
    M, p = op.n_nets, op.n_params
    m = min(int(n_steps), p)
    per_probe = M * m * p * torch.empty((), dtype=op.dtype).element_size()
    block = max(1, min(int(n_probes), max_memory // per_probe))
    gen = torch.Generator().manual_seed(seed)
    probes = (torch.randint(0, 2, (int(n_probes), p), generator=gen) * 2 - 1).to(op.dtype) / math.sqrt(p)

    def apply(rows):                                   # rows (k * M, P), probe-major
        return op(rows.view(-1, M, p)).reshape(-1, p)

    nodes, weights = [], []
    for start in range(0, int(n_probes), block):
        q = probes[start:start + block].to(op.device)
        streams = np.repeat(np.arange(start, start + len(q)), M)     # restarts: one stream per probe, every net
        lanczos = LanczosRecurrence(apply, q.repeat_interleave(M, dim=0), m, gen, streams)
        for _ in range(m):
            lanczos.step()
        evals, evecs = lanczos.ritz()
        nodes.append(evals.view(-1, M, m))
        weights.append((evecs[:, 0, :] ** 2).view(-1, M, m))
    nodes, weights = torch.cat(nodes).numpy(), torch.cat(weights).numpy()      # (probes, M, m)
    return [SpectralDensity(np.ascontiguousarray(nodes[:, i]), np.ascontiguousarray(weights[:, i]), p,
                            op.n_samples, op.n_outputs) for i in range(M)]
