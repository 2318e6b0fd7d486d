"""Zero eigenvalues of the exact Fisher information of small nets, flat directions and loss slices (Part I).

`fisher_zeros` counts the zero eigenvalues of the exact float64 Fisher (= Gauss-Newton for the squared loss,
= J^T J / N with J the output Jacobian, so its null space is the set of parameter directions that leave every
output unchanged to first order). `flat_directions` gives the directions along which the function is *exactly*
unchanged (straight lines), `function_change` measures a finite move, `loss_slice` / `loss_plane` and
`approach_spectra` show the landscape on the way to a singular point.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch

from . import checks
from .curvature import dense_fisher, flat_fn
from .env import one_thread
from .shallow import ShallowNet, activation, param_index

#: eigenvalue lambda counts as zero when lambda <= ZERO_RTOL * max lambda (float64 Fisher; see `fisher_zeros`)
ZERO_RTOL = 1e-12


@dataclass(frozen=True)
class ZeroCount:
    """Zero eigenvalues of a Fisher matrix and how cleanly they separate from the rest.

    `largest_zero` and `smallest_nonzero` are relative to the largest eigenvalue (nan when absent); their
    ratio `gap` is the spectral gap that makes the count trustworthy. `null_space` holds the eigenvectors of
    the zero eigenvalues as columns (P, count)."""

    count: int
    largest_zero: float
    smallest_nonzero: float
    eigenvalues: np.ndarray
    null_space: np.ndarray

    @property
    def gap(self) -> float:
        if not self.count:
            return math.inf
        return self.smallest_nonzero / self.largest_zero if self.largest_zero > 0 else math.inf


# ----------------------------------------------------------------------------------------------- numerics

def fisher_eigh(net, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and eigenvectors (columns) of the float64 Fisher J^T J / N of `net` on `x`.

    Uses `curvature.dense_fisher` with the squared loss (unit-variance Gaussian outputs), on one thread
    (`one_thread`). Chapter I.1.
    """
    checks.samples(x, "x")
    checks.parameters(net)
    theta, f = flat_fn(net)
    theta = theta.double()
    with one_thread():
        fisher = dense_fisher(f, theta, x.double())
        evals, evecs = torch.linalg.eigh(fisher)
    return evals.numpy(), evecs.numpy()


def fisher_zeros(net, x: torch.Tensor, rtol: float = ZERO_RTOL) -> ZeroCount:
    """Count the Fisher's zero eigenvalues: lambda <= rtol * max lambda, with rtol = 1e-12 by default.

    Why 1e-12: in float64 the eigenvalues that are zero in exact arithmetic come out below ~1e-15 of the
    largest (measured over the tests' nets), while the smallest genuine eigenvalue of our small nets on a few
    hundred Gaussian inputs is above ~1e-9 of it; check `gap` (smallest nonzero / largest zero) before
    trusting a count. Enough inputs
    are needed: N * p must exceed the parameter count, or the rank bound alone creates zeros. Chapter I.1.
    """
    if not rtol > 0:
        raise ValueError(f"rtol={rtol!r} must be > 0")
    checks.samples(x, "x")
    checks.parameters(net)
    n_out = net(x[:1].double()).shape[1]
    n_params = sum(q.numel() for q in net.parameters())
    if x.shape[0] * n_out < n_params:
        raise ValueError(f"x has {x.shape[0]} samples x {n_out} outputs < {n_params} parameters: the Fisher "
                         f"would have zero eigenvalues from too little data alone; pass more samples")
    evals, evecs = fisher_eigh(net, x)
    top = np.abs(evals).max()
    rel = evals / top
    zero = rel <= rtol
    count = int(zero.sum())
    return ZeroCount(count=count, largest_zero=float(rel[zero].max()) if count else math.nan,
                     smallest_nonzero=float(rel[~zero].min()) if count < len(rel) else math.nan,
                     eigenvalues=evals, null_space=evecs[:, zero])


def flat_directions(net) -> torch.Tensor:
    """The straight-line exactly flat directions of `net`'s singular point, as rows of a (k, P) tensor.

    Moving theta by any t times a combination of these rows leaves the function unchanged on every input
    (for "dead": as long as the unit stays dead). Curved flat directions (ReLU rescalings, the GL symmetries of
    linear nets, the bias of a constant unit) are not included, so k can be less than `predicted_zeros`'s
    exact count. Rows are orthonormal. Chapter I.2.
    """
    kind, u = getattr(net, "singularity", ("generic", {}))
    theta, _ = flat_fn(net)
    rows = []

    def unit_rows(name, index):
        for i in param_index(net, name, index):
            row = torch.zeros_like(theta)
            row[i] = 1
            rows.append(row)

    if isinstance(net, ShallowNet):
        skip = net.arch == "residual"
        if kind == "incoming" and not skip:
            unit_rows("w", [u["a"]])
        elif kind == "outgoing":
            unit_rows("J", u["a"])
        elif kind == "overlap" and not skip:
            rows.append(_pair_row(theta, param_index(net, "w", [u["a"]]), param_index(net, "w", [u["b"]])))
    else:
        s1, s2 = net.skips
        if kind == "incoming" and not s1:
            const = activation(net.activation[0])(net.b1[u["a"]] if net.bias else torch.zeros(()))
            for i, k in enumerate(param_index(net, "K", (slice(None), u["a"]))):
                row = torch.zeros_like(theta)
                row[k] = 1
                if net.bias:
                    row[param_index(net, "b2", [i])] = -const.detach()
                rows.append(row)
        elif kind == "outgoing" and not s2:
            unit_rows("J", u["a"])
            if net.bias:
                unit_rows("b1", [u["a"]])
        elif kind == "dead":
            unit_rows("J", u["a"])
            unit_rows("b1", [u["a"]])
            if not s1:
                unit_rows("K", (slice(None), u["a"]))
        elif kind == "overlap" and not s1:
            for ka, kb in zip(param_index(net, "K", (slice(None), u["a"])),
                              param_index(net, "K", (slice(None), u["b"]))):
                rows.append(_pair_row(theta, ka, kb))
        elif kind == "dependence" and not s1:
            rows.extend(_dependence_rows(net, theta, u))
    if not rows:
        return theta.new_zeros(0, theta.numel())
    q, _ = torch.linalg.qr(torch.stack(rows).T)
    return q.T


def _pair_row(theta, i, j):
    row = torch.zeros_like(theta)
    row[i], row[j] = 1, -1
    return row


def _dependence_rows(net, theta, u):
    """dC = v w^T K'^-1 with w^T J = 0 and v orthogonal to the range of C (see `make_dependent`)."""
    w = torch.zeros(net.n, dtype=theta.dtype)
    (alpha, beta), a, b, c = u["coef"], u["a"], u["b"], u["c"]
    w[a], w[b], w[c] = alpha, beta, -1.0
    k_eff = net.K.detach() + (torch.eye(net.n, dtype=theta.dtype) if net.skips[1] else 0)
    row_dir = torch.linalg.solve(k_eff.T, w)                        # w^T K'^-1
    q, _ = torch.linalg.qr(net.C.detach(), mode="complete")
    rows = []
    for v in q[:, net.n:].T:                                        # p - n directions outside range(C)
        row = torch.zeros_like(theta)
        row[param_index(net, "C")] = torch.outer(v, row_dir).reshape(-1)
        rows.append(row)
    return rows


def function_change(net, x: torch.Tensor, direction: torch.Tensor, t: float) -> float:
    """max over inputs and outputs of |f(theta + t d) - f(theta)|, d = `direction` (a P-vector). Chapter I.1."""
    checks.samples(x, "x")
    checks.parameters(net)
    checks.finite(t, "t", "a number")
    theta, f = flat_fn(net)
    direction = torch.as_tensor(checks.finite(direction, "direction"), dtype=theta.dtype).reshape(-1)
    if direction.numel() != theta.numel():
        raise ValueError(f"direction must have P = {theta.numel()} entries, got {direction.numel()}")
    x = x.to(theta.dtype)
    with torch.no_grad(), one_thread():
        return float((f(theta + t * direction, x) - f(theta, x)).abs().max())


def interpolate(start, end, s: float):
    """A copy of `end` with every parameter at (1 - s) * end + s * start: s = 0 is `end`, s = 1 is `start`.

    Used to approach a singular point (`end`) from a generic one (`start`) along a straight line. Chapter I.2.
    """
    if type(start) is not type(end):
        raise ValueError("start and end must be nets of the same class")
    out = copy.deepcopy(end)
    with torch.no_grad():
        for (name, p), q in zip(out.named_parameters(), start.parameters()):
            if p.shape != q.shape:
                raise ValueError(f"start and end differ in the shape of parameter {name}")
            p.copy_((1 - s) * p + s * q)
    return out


def squared_loss(net, x: torch.Tensor, y: torch.Tensor) -> float:
    """The squared loss (1 / 2N) sum ||f(x) - y||^2 of `net` on inputs `x` and targets `y` (chapter I.1)."""
    return float(loss_slice(net, x, y, torch.zeros(sum(p.numel() for p in net.parameters())), [0.0])[0])


def loss_slice(net, x: torch.Tensor, y: torch.Tensor, direction: torch.Tensor, ts) -> np.ndarray:
    """The squared loss (1 / 2N) sum ||f(theta + t d) - y||^2 for each t in `ts` (a 1-D slice). Chapter I.2."""
    checks.samples(x, "x")
    checks.parameters(net)
    ts = np.asarray(checks.finite(ts, "ts"), dtype=float).ravel()
    theta, f = flat_fn(net)
    d = torch.as_tensor(checks.finite(direction, "direction"), dtype=theta.dtype).reshape(-1)
    if d.numel() != theta.numel():
        raise ValueError(f"direction must have P = {theta.numel()} entries, got {d.numel()}")
    y = checks.samples(y, "y", ndim=2, width=net(x[:1].to(theta.dtype)).shape[-1], floating=False)
    if len(y) != len(x):
        raise ValueError(f"y must have one row per row of x ({len(x)}), got {len(y)}")
    x, y = x.to(theta.dtype), y.to(theta.dtype)
    with torch.no_grad(), one_thread():
        return np.array([float(((f(theta + t * d, x) - y) ** 2).sum() / (2 * x.shape[0])) for t in ts])


def loss_plane(net, x: torch.Tensor, y: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor, ts, ss) -> np.ndarray:
    """The squared loss at theta + t d1 + s d2 on the grid (rows: s in `ss`, columns: t in `ts`). Chapter I.3.

    One forward pass per grid point, all points in one batched call (`torch.func.vmap`)."""
    from torch.func import vmap

    checks.samples(x, "x")
    checks.parameters(net)
    ts, ss = (checks.finite(v, name) for v, name in ((ts, "ts"), (ss, "ss")))
    theta, f = flat_fn(net)
    d1, d2 = (torch.as_tensor(checks.finite(d, name), dtype=theta.dtype).reshape(-1)
              for d, name in ((d1, "d1"), (d2, "d2")))
    y = checks.samples(y, "y", ndim=2, width=net(x[:1].to(theta.dtype)).shape[-1], floating=False)
    if len(y) != len(x):
        raise ValueError(f"y must have one row per row of x ({len(x)}), got {len(y)}")
    for name, d in (("d1", d1), ("d2", d2)):
        if d.numel() != theta.numel():
            raise ValueError(f"{name} must have P = {theta.numel()} entries, got {d.numel()}")
    x, y = x.to(theta.dtype), y.to(theta.dtype)
    tt, sgrid = torch.meshgrid(torch.as_tensor(np.asarray(ts, dtype=float)),
                               torch.as_tensor(np.asarray(ss, dtype=float)), indexing="xy")
    thetas = theta + tt.reshape(-1, 1) * d1 + sgrid.reshape(-1, 1) * d2
    with torch.no_grad(), one_thread():
        losses = vmap(lambda th: ((f(th, x) - y) ** 2).sum() / (2 * x.shape[0]))(thetas)
    return losses.reshape(tt.shape).numpy()


def approach_spectra(start, end, x: torch.Tensor, fractions) -> np.ndarray:
    """Fisher eigenvalues (ascending, one row per fraction s) along `interpolate(start, end, s)`.

    s = 1 is the generic net `start`, s = 0 the singular net `end`; e.g. for `eliminate_incoming` the row for s
    is the net with J_a scaled by s. Cost: one dense Fisher per fraction. Chapters I.2, I.3.
    """
    fractions = np.asarray(checks.finite(fractions, "fractions"), dtype=float).ravel()
    if not fractions.size:
        raise ValueError("fractions is empty; pass at least one fraction s")
    return np.stack([fisher_eigh(interpolate(start, end, float(s)), x)[0] for s in fractions])


def approach_fractions(frames: int) -> np.ndarray:
    """`frames` fractions s of the way left to a singular set: geometric from 1 down to 1e-4, then 0 (the set
    itself). Chapters I.2, I.3."""
    if not isinstance(frames, int) or frames < 3:
        raise ValueError(f"frames={frames!r} must be an integer >= 3")
    return np.append(np.geomspace(1, 1e-4, frames - 1), 0.0)


def approach_by_arch(nets: dict, to_singular, x: torch.Tensor, fractions) -> dict[str, np.ndarray]:
    """{arch: `approach_spectra` from `nets[arch]` to `to_singular(nets[arch])`}: the same approach to a singular
    set, once per architecture. Chapters I.2, I.3."""
    return {arch: approach_spectra(net, to_singular(net), x, fractions) for arch, net in nets.items()}
