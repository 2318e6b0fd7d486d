"""Lanczos methods on curvature operators: extreme eigenpairs (scipy's eigsh) and spectral densities by
stochastic Lanczos quadrature (chapter III.2).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, aslinearoperator, eigsh
from threadpoolctl import threadpool_limits

from .operators import CurvatureProduct, TorchOperator
from .spectrum import SpectralDensity

WHICH = ("LA", "SA", "LM")
SLQ_MEMORY = 2**30          # bytes for the Lanczos bases of the probes run together


def _as_operator(op) -> LinearOperator:
    if isinstance(op, CurvatureProduct):
        return TorchOperator(op)
    if isinstance(op, torch.Tensor):
        op = op.detach().cpu().double().numpy()
    try:
        op = aslinearoperator(op)
    except TypeError as err:
        raise ValueError(f"op must be a LinearOperator, a square matrix or a torch tensor, got {type(op).__name__}"
                         ) from err
    if op.ndim != 2 or op.shape[0] != op.shape[1]:
        raise ValueError(f"op must be square, got shape {op.shape}")
    return op


def lanczos_eigs(op, k: int = 10, which: str = "LA", return_vectors: bool = False, tol: float = 1e-6,
                 ncv: int | None = None, seed: int = 0):
    """The k largest ("LA"), smallest ("SA") or largest-magnitude ("LM") eigenvalues of a symmetric operator.

    Implicitly restarted Lanczos (ARPACK via `scipy.sparse.linalg.eigsh`), with scipy's BLAS held to one
    thread meanwhile (its threads otherwise fight torch's inside the products and double the cost). Returns
    float64 eigenvalues sorted from the most extreme on ("LA"/"LM": descending value / magnitude, "SA":
    ascending), and with `return_vectors` also the (P, k) unit eigenvectors. `op`: a LinearOperator (e.g.
    `hvp_operator`), a `hvp`/`ggnvp` callable, or a square matrix. `tol` is ARPACK's relative residual
    tolerance; eigenvalue errors are usually far smaller (about its square over the gap).

    Cost: a few times k products (87 for k = 10 at tol 1e-6 on the benchmark's 328k-parameter net; more
    for clustered ends, and "SA" on a Hessian is often slower than "LA"); memory: `ncv` (default
    max(2k + 1, 20)) vectors of P float64 numbers. Chapter III.2.
    """
    op = _as_operator(op)
    n = op.shape[0]
    if which not in WHICH:
        raise ValueError(f"which={which!r} is not valid; choose one of {', '.join(WHICH)}")
    if int(k) != k or not 1 <= k < n:
        raise ValueError(f"k={k!r} must be an integer with 1 <= k < {n} (the parameter count); for every "
                         f"eigenvalue use the dense matrix and torch.linalg.eigvalsh")
    ncv = min(n, max(2 * k + 1, 20)) if ncv is None else ncv
    v0 = np.random.default_rng(seed).standard_normal(n)
    with threadpool_limits(limits=1, user_api="blas"):
        out = eigsh(op, k=int(k), which=which, v0=v0, ncv=ncv, tol=tol, return_eigenvectors=return_vectors)
    vals, vecs = out if return_vectors else (out, None)
    key = {"LA": -vals, "SA": vals, "LM": -np.abs(vals)}[which]
    order = np.argsort(key, kind="stable")
    return (vals[order], vecs[:, order]) if return_vectors else vals[order]


def _torch_side(op):
    """(apply on (k, P) blocks, P, dtype, device) for a TorchOperator or any other square operator."""
    if isinstance(op, (TorchOperator, CurvatureProduct)):
        prod = op.torch_apply if isinstance(op, TorchOperator) else op
        return prod, prod.n_params, prod.dtype, prod.device
    if isinstance(op, torch.Tensor) and op.ndim == 2 and op.shape[0] == op.shape[1] and op.is_floating_point():
        return (lambda v: v @ op.T), op.shape[0], op.dtype, op.device
    lin = _as_operator(op)

    def apply(v):
        return torch.as_tensor(lin.matmat(v.cpu().double().numpy().T).T)

    return apply, lin.shape[0], torch.float64, torch.device("cpu")


def slq(op, n_probes: int = 10, n_steps: int = 100, seed: int = 0, max_memory: int = SLQ_MEMORY
        ) -> SpectralDensity:
    """Spectral density of a symmetric operator by stochastic Lanczos quadrature (Ghorbani et al. 2019).

    Each of `n_probes` Rademacher probes v / sqrt(P) starts m = min(n_steps, P) Lanczos steps with full
    reorthogonalization (three-term recurrence, then one classical Gram-Schmidt pass against all earlier
    basis vectors, vectorised over probes). The tridiagonal T = Q diag(nodes) Q^T gives the Gauss quadrature
    nodes and weights Q[0, :]^2: m nodes per probe, exact for polynomials of degree < 2m. Probes run
    together in blocks (one vectorised product per step) as far as `max_memory` bytes of basis allow.

    Cost: n_probes * m products, plus O(n_probes * m^2 * P) for reorthogonalization (memory-bound; on the
    benchmark's 328k-parameter net with 512 samples, 100 steps cost 1.01-1.25x of 100 bare products; a depth-30,
    width-128 net on 1,000 samples took 11 s per probe in float32 on one core). Memory: m * P numbers per
    probe run together. `op`: a LinearOperator (from `hvp_operator` / `ggn_operator` it stays in torch, in
    the net's dtype and device), a `hvp`/`ggnvp` callable, or a square matrix.

    Resolution: fractions of eigenvalues within tol * max|lambda| of zero (see `degenerate_fraction`) agree
    with the exact ones to ~0.01 down to tol ~ 1e-3 (m = 80, 40 probes, in our tests) when the near-zero
    eigenvalues form a cluster apart from the bulk, as near a minimum or for the Gauss-Newton's exact zeros.
    Below ~1e-3, or where the bulk runs continuously through the band (large residuals, e.g. mse to random
    targets at initialization, where we saw errors of 0.1-0.2 at 1e-3), the quadrature cannot resolve the
    cluster: nodes are ~max|lambda|/m apart and each carries the mass of its neighbourhood. The sampling
    error of a fraction shrinks as 1 / sqrt(n_probes * P). Chapter III.2.
    """
    for name, value in (("n_probes", n_probes), ("n_steps", n_steps)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive integer")
    apply, p, dtype, device = _torch_side(op)
    m = min(int(n_steps), p)
    per_probe = m * p * torch.empty((), dtype=dtype).element_size()
    block = max(1, min(int(n_probes), max_memory // per_probe))
    gen = torch.Generator().manual_seed(seed)
    probes = (torch.randint(0, 2, (int(n_probes), p), generator=gen) * 2 - 1).to(dtype) / math.sqrt(p)
    nodes, weights = [], []
    for start in range(0, int(n_probes), block):
        lanczos = _Lanczos(apply, probes[start:start + block].to(device), m, gen)
        for _ in range(m):
            lanczos.step()
        evals, evecs = lanczos.ritz()
        nodes.append(evals)
        weights.append(evecs[:, 0, :] ** 2)
    n_samples, n_outputs = getattr(op, "n_samples", None), getattr(op, "n_outputs", None)
    return SpectralDensity(torch.cat(nodes).numpy(), torch.cat(weights).numpy(), p, n_samples, n_outputs)


class _Lanczos:
    """Lanczos on each row of q (k, P) at once, fully reorthogonalized, one `step()` at a time (up to m).

    After the three-term recurrence each new vector gets one classical Gram-Schmidt pass against the whole
    basis, and a second pass when the first removed much of it (the DGKS criterion: orthogonality had been
    lost, as after an invariant subspace is exhausted). A vanishing beta (an invariant subspace found)
    restarts that probe with a fresh random direction, decoupled by beta = 0, so its nodes get no weight.
    `alpha`, `beta` are float64 (k, m); after j steps, T uses alpha[:, :j], beta[:, :j-1], and
    beta[:, j-1] is the coupling to the next vector (the Ritz residual scale).
    """

    def __init__(self, apply, q, m, gen):
        k, p = q.shape
        self.apply, self.m, self.gen, self.j, self.q = apply, m, gen, 0, q
        self.basis = torch.zeros(k, m, p, dtype=q.dtype, device=q.device)
        self.alpha = torch.zeros(k, m, dtype=torch.float64)
        self.beta = torch.zeros(k, m, dtype=torch.float64)
        self.prev, self.b = torch.zeros_like(q), torch.zeros(k, 1, dtype=q.dtype, device=q.device)
        self.scale = torch.zeros(k, 1, dtype=q.dtype, device=q.device)
        self.breakdown = torch.finfo(q.dtype).eps ** 0.75

    def step(self):
        j, q = self.j, self.q
        self.basis[:, j] = q
        w = self.apply(q)
        a = (w * q).sum(1, keepdim=True)
        self.alpha[:, j] = a[:, 0].double().cpu()
        self.j += 1
        if self.j == self.m:
            return
        w = w - a * q - self.b * self.prev
        seen = self.basis[:, : j + 1]
        before = w.norm(dim=1)
        w = _project_out(seen, w)
        if (w.norm(dim=1) < 0.7 * before).any():
            w = _project_out(seen, w)
        b = w.norm(dim=1, keepdim=True)
        self.scale = torch.maximum(self.scale, torch.maximum(a.abs(), b))
        dead = (b <= self.breakdown * self.scale)[:, 0]
        if dead.any():
            fresh = torch.randn(int(dead.sum()), q.shape[1], generator=self.gen).to(q)
            w[dead] = _project_out(seen[dead], _project_out(seen[dead], fresh))
            b[dead] = 0.0
        self.beta[:, j] = b[:, 0].double().cpu()
        self.prev, self.b = q, b
        self.q = w / torch.where(dead[:, None], w.norm(dim=1, keepdim=True), b)

    def ritz(self):
        """Eigen-decomposition of the j x j tridiagonals: (k, j) Ritz values, (k, j, j) vectors."""
        j = self.j
        t = (torch.diag_embed(self.alpha[:, :j]) + torch.diag_embed(self.beta[:, : j - 1], 1)
             + torch.diag_embed(self.beta[:, : j - 1], -1))
        return torch.linalg.eigh(t)


def _project_out(basis, w):
    """w (k, P) minus its components along each probe's basis rows (k, j, P): one Gram-Schmidt pass."""
    coef = torch.bmm(basis, w.unsqueeze(2))                     # (k, j, 1)
    return w - torch.bmm(coef.transpose(1, 2), basis).squeeze(1)
