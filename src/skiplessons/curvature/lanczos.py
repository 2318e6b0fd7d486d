"""Lanczos methods on curvature operators: extreme eigenpairs (scipy's eigsh, or our thick-restart Lanczos
in torch) and spectral densities by stochastic Lanczos quadrature (chapter III.2).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, aslinearoperator, eigsh
from threadpoolctl import threadpool_limits

from .. import checks
from .operators import CurvatureProduct, TorchOperator
from .summaries import SpectralDensity

WHICH = ("LA", "SA", "LM")
METHODS = ("arpack", "lanczos")
EIGS_MEMORY = 2**30         # bytes for the torch Lanczos basis of lanczos_eigs(method="lanczos")
SLQ_MEMORY = 2**30          # bytes for the Lanczos bases of the probes run together
CPU_ONE_PROBE_PARAMS = 20_000   # on CPU, slq runs the autograd products of larger nets one probe at a time


def _as_operator(op) -> LinearOperator:
    if isinstance(op, CurvatureProduct):
        return TorchOperator(op)
    if isinstance(op, torch.Tensor):
        op = op.detach().cpu().double().numpy()
    if isinstance(op, (np.ndarray, list)):
        op = np.asarray(checks.finite(op, "op", "a square matrix"), dtype=float)
    try:
        op = aslinearoperator(op)
    except TypeError as err:
        raise ValueError(f"op must be a LinearOperator, a square matrix or a torch tensor, got {type(op).__name__}"
                         ) from err
    if op.ndim != 2 or op.shape[0] != op.shape[1]:
        raise ValueError(f"op must be square, got shape {op.shape}")
    return op


def lanczos_eigs(op, k: int = 10, which: str = "LA", return_vectors: bool = False, tol: float = 1e-6,
                 ncv: int | None = None, seed: int = 0, method: str = "arpack"):
    """The k largest ("LA"), smallest ("SA") or largest-magnitude ("LM") eigenvalues of a symmetric operator.

    Returns float64 eigenvalues sorted from the most extreme on ("LA"/"LM": descending value / magnitude,
    "SA": ascending), and with `return_vectors` also the (P, k) unit eigenvectors. `op`: a LinearOperator
    (e.g. `hvp_operator`), a `hvp`/`ggnvp` callable, or a square matrix. Two methods:

    - "arpack" (default): implicitly restarted Lanczos (scipy's `eigsh`) in float64 numpy, BLAS held to one
      thread (its threads otherwise fight torch's inside the products). `tol`: ARPACK's relative residual
      tolerance; eigenvalue errors are usually far smaller (about its square over the gap). Memory: `ncv`
      (default max(2k + 1, 20)) float64 vectors of P numbers.
    - "lanczos": our thick-restart Lanczos in torch, in the operator's dtype and device (no numpy round
      trips), full reorthogonalization, one product per step. It stops when every wanted Ritz value's
      estimated relative error min(r, r^2 / gap) / |theta| is <= `tol` (r: residual norm; gap: distance to
      the neighbouring Ritz values less their residuals; an a-posteriori estimate, not a guarantee: on the
      benchmark the true errors were 5-100x smaller); with `return_vectors`, when every residual
      |H y - theta y| <= tol * |theta|, as ARPACK's. Memory: `ncv` basis vectors of P numbers (default
      max(2k + 1, min(6k, 60)), fewer if they would exceed 1 GiB); a thick restart keeps the best half.

    Cost: a few times k products (for k = 10 on the benchmark's 328k-parameter net, over 8 start vectors:
    "arpack" 45-75 at tol 1e-3, 87 at tol 1e-6; "lanczos" 38-47 at tol 1e-3, true errors 8e-6 to 2e-4,
    and less work per step than ARPACK's; more for clustered ends, and "SA" on a Hessian is often slower
    than "LA"). Chapter III.2.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not valid; choose one of {', '.join(METHODS)}")
    if which not in WHICH:
        raise ValueError(f"which={which!r} is not valid; choose one of {', '.join(WHICH)}")
    if method == "lanczos":
        return _lanczos_eigs_torch(op, k, which, return_vectors, tol, ncv, seed)
    if isinstance(tol, bool) or not (isinstance(tol, (int, float, np.floating)) and tol >= 0):
        raise ValueError(f"tol={tol!r} must be a number >= 0 (ARPACK's relative residual tolerance; 0 means "
                         f"machine precision)")
    op = _as_operator(op)
    n = op.shape[0]
    _check_k(k, n)
    ncv = min(n, max(2 * k + 1, 20)) if ncv is None else ncv
    v0 = np.random.default_rng(seed).standard_normal(n)
    with threadpool_limits(limits=1, user_api="blas"):
        out = eigsh(op, k=int(k), which=which, v0=v0, ncv=ncv, tol=tol, return_eigenvectors=return_vectors)
    vals, vecs = out if return_vectors else (out, None)
    order = np.argsort(_key(vals, which), kind="stable")
    return (vals[order], vecs[:, order]) if return_vectors else vals[order]


def _check_k(k, n):
    if int(k) != k or not 1 <= k < n:
        raise ValueError(f"k={k!r} must be an integer with 1 <= k < {n} (the parameter count); for every "
                         f"eigenvalue use the dense matrix and torch.linalg.eigvalsh")


def _key(vals, which):
    """Sort key putting the most wanted eigenvalues first."""
    return {"LA": -vals, "SA": vals, "LM": -np.abs(vals)}[which]


def _lanczos_eigs_torch(op, k, which, return_vectors, tol, ncv, seed):
    apply, p, dtype, device = _torch_side(op)
    _check_k(k, p)
    k = int(k)
    if isinstance(tol, bool) or not (isinstance(tol, (int, float, np.floating)) and tol > 0):
        raise ValueError(f"tol={tol!r} must be a number > 0 (the relative eigenvalue error to reach, e.g. 1e-3)")
    if ncv is None:
        fits = EIGS_MEMORY // (p * torch.empty((), dtype=dtype).element_size())
        ncv = max(2 * k + 1, min(6 * k, 60, fits))
    if int(ncv) != ncv or not k < ncv:
        raise ValueError(f"ncv={ncv!r} must be an integer > k={k} (the basis size between restarts)")
    search = _ThickRestart(apply, p, dtype, device, k, which, float(tol), min(int(ncv), p), seed, return_vectors)
    vals, coef = search.run()
    order = np.argsort(_key(vals, which), kind="stable")[:k]
    vals, coef = vals[order], coef[:, order]
    if not return_vectors:
        return vals
    vecs = torch.from_numpy(coef.T).to(dtype=dtype, device=device) @ search.basis[: coef.shape[0]]
    vecs = vecs.double().cpu().numpy().T
    return vals, vecs / np.linalg.norm(vecs, axis=0)


class _ThickRestart:
    """Thick-restart Lanczos (Wu & Simon 2000) for the k most wanted eigenpairs, all in torch.

    Rows of `basis` are orthonormal (three-term recurrence, then Gram-Schmidt against the whole basis with a
    DGKS second pass); `t` is the projected matrix basis H basis^T: tridiagonal, plus after a restart an
    arrow coupling the kept Ritz vectors to the next row. When the basis is full the best half of the Ritz
    vectors is kept. An exhausted Krylov space (beta ~ 0) continues with a fresh random direction; after
    one, the search stops only once a fresh direction adds nothing to the wanted set (so repeated
    eigenvalues, which one start vector sees once, are found too). With `vectors`, the stopping rule is on
    the residual itself (eigenvectors converge as r / gap, eigenvalues as r^2 / gap). Raises RuntimeError
    after `max_products`. Memory: m + 1 basis rows, plus the kept Ritz vectors during a restart.
    """

    def __init__(self, apply, p, dtype, device, k, which, tol, m, seed, vectors):
        self.apply, self.p, self.k, self.which, self.tol, self.m = apply, p, k, which, tol, m
        self.vectors = vectors
        self.gen = torch.Generator().manual_seed(seed)
        self.basis = torch.empty(m + 1, p, dtype=dtype, device=device)
        self.t = np.zeros((m, m))
        eps = torch.finfo(dtype).eps
        self.breakdown, self.floor = eps ** 0.75, eps ** 0.5
        self.max_products = max(1000, 50 * m)

    def _random(self, j):
        """A unit vector orthogonal to basis rows [:j] (two Gram-Schmidt passes)."""
        w = torch.randn(self.p, generator=self.gen, dtype=torch.float64).to(self.basis)
        for _ in range(2):
            w = _project_out(self.basis[None, :j], w[None])[0]
        return w / w.norm()

    def _converged(self, vals, res, scale):
        """Indices of the k most wanted Ritz values (of `vals`) and whether all meet the error target."""
        wanted = np.argsort(_key(vals, self.which), kind="stable")[: self.k]
        bound = (res if self.vectors else _error_bound(vals, res))[wanted]
        limit = self.tol * np.maximum(np.abs(vals[wanted]), self.floor * scale)
        return wanted, bool(len(wanted) == self.k and np.all(bound <= limit))

    def run(self):
        """(Ritz values, their coefficient vectors in the basis rows) once converged."""
        basis, t, m = self.basis, self.t, self.m
        basis[0] = self._random(0)
        j, arrow, scale, products = 0, 0, 0.0, 0
        fresh = None                      # (first row, k-th wanted value before) after an exhausted space
        while True:
            q = basis[j]
            w = self.apply(q[None])[0]
            products += 1
            a = float(torch.dot(w, q))
            t[j, j] = a
            w.sub_(q, alpha=a)
            if arrow and j == arrow:
                w.sub_(torch.from_numpy(t[:arrow, j]).to(w) @ basis[:arrow])
            elif j > 0:
                w.sub_(basis[j - 1], alpha=t[j - 1, j])
            _reorthogonalize_(basis[None, : j + 1], w[None])
            b = float(w.norm())
            j += 1
            vals, vecs = np.linalg.eigh(t[:j, :j])
            scale = max(scale, float(np.abs(vals).max()), b)
            dead = b <= self.breakdown * scale
            res = (0.0 if dead else b) * np.abs(vecs[j - 1])
            wanted, done = self._converged(vals, res, scale)
            if j == self.p:                           # the basis spans R^P: T holds every eigenvalue
                return vals, vecs
            if dead and fresh is None:               # exhausted: explore a fresh direction before stopping
                done = False
            if fresh is not None:
                done, again = self._fresh_block(fresh, j, b, dead, scale)
                if again:                             # the fresh direction found a new wanted value
                    dead, fresh = True, None
            if done:
                return vals, vecs
            if products >= self.max_products:
                raise RuntimeError(f"lanczos_eigs did not converge in {products} products (tol={self.tol:g}, "
                                   f"ncv={m}); raise tol or ncv, or use method='arpack'")
            if dead:                                  # exhausted Krylov space: decoupled fresh direction
                if fresh is None and len(wanted) == self.k:
                    fresh = (j, float(vals[wanted[-1]]))
                basis[j] = self._random(j)
                b = 0.0
            else:
                torch.div(w, b, out=basis[j])
            if j < m:
                t[j - 1, j] = t[j, j - 1] = b
                continue
            keep = np.argsort(_key(vals, self.which), kind="stable")[: max(self.k, (m + self.k) // 2)]
            arrow = len(keep)
            kept = torch.from_numpy(vecs[:, keep].T.copy()).to(basis) @ basis[:m]
            basis[arrow] = basis[m]
            basis[:arrow] = kept
            s = b * vecs[m - 1, keep]
            t[:] = 0.0
            t[np.arange(arrow), np.arange(arrow)] = vals[keep]
            t[:arrow, arrow] = t[arrow, :arrow] = s
            j, fresh = arrow, None

    def _fresh_block(self, fresh, j, b, dead, scale):
        """(stop, inject again) while a fresh direction, decoupled from rows [:start], is being explored."""
        start, kth = fresh
        vals, vecs = np.linalg.eigh(self.t[start:j, start:j])
        res = (0.0 if dead else b) * np.abs(vecs[-1])
        best, ok = self._converged_block(vals, res, scale)
        if not (ok or dead):
            return False, False
        better = {"LA": best - kth, "SA": kth - best, "LM": abs(best) - abs(kth)}[self.which]
        if better > self.tol * max(abs(kth), self.floor * scale):
            return False, True
        return True, False

    def _converged_block(self, vals, res, scale):
        i = int(np.argsort(_key(vals, self.which), kind="stable")[0])
        bound = (res if self.vectors else _error_bound(vals, res))[i]
        return float(vals[i]), bool(bound <= self.tol * max(abs(vals[i]), self.floor * scale))


def _error_bound(vals, res):
    """Estimated |theta_i - lambda_i| of each Ritz value: min(r_i, r_i^2 / gap_i), where gap_i is the
    distance to the neighbouring Ritz values less their residuals (Parlett's gap theorem with estimated gaps)."""
    idx = np.argsort(vals)
    v, r = vals[idx], res[idx]
    gap = np.full(len(v), np.inf)
    gap[:-1] = np.minimum(gap[:-1], v[1:] - v[:-1] - r[1:])
    gap[1:] = np.minimum(gap[1:], v[1:] - v[:-1] - r[:-1])
    safe = (gap > 0) & (len(v) > 1)                   # a lone Ritz value tells nothing of its gap
    bound = np.where(safe, np.minimum(r, r * r / np.where(safe, gap, 1.0)), r)
    out = np.empty_like(bound)
    out[idx] = bound
    return out


def _reorthogonalize_(basis, w, keep_below=0.0):
    """In place: w (k, P) minus its components along each row's basis (k, j, P), by classical Gram-Schmidt
    with a second pass where the first removed much of w (the DGKS criterion). Two reads of the basis.

    With `keep_below` > 0, components that are all below keep_below * |w| are left in place: one read of
    the basis. keep_below = sqrt(eps) keeps the basis semi-orthogonal, which is all that the Lanczos
    tridiagonal needs to be accurate to rounding (Simon 1984; Parlett, The Symmetric Eigenvalue Problem, 13.8).
    """
    before = w.norm(dim=1)
    for second in (False, True):
        coef = torch.bmm(basis, w.unsqueeze(2))
        if not second and keep_below and not (coef.abs().amax(dim=(1, 2)) > keep_below * before).any():
            return w
        w.unsqueeze(1).baddbmm_(coef.transpose(1, 2), basis, alpha=-1)
        after = w.norm(dim=1)
        if not (after < 0.7 * before).any():
            break
        before = after
    return w


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

    Each of `n_probes` Rademacher probes v / sqrt(P) starts m = min(n_steps, P) Lanczos steps with
    reorthogonalization against the whole basis (three-term recurrence, then the new vector's components
    along all earlier ones are measured and removed by classical Gram-Schmidt, plus a DGKS second pass,
    whenever one exceeds sqrt(eps): the basis stays semi-orthogonal, which keeps T accurate to rounding,
    Simon 1984; vectorised over probes). The tridiagonal T = Q diag(nodes) Q^T gives the Gauss quadrature
    nodes and weights Q[0, :]^2: m nodes per probe, exact for polynomials of degree < 2m. Probes run
    together in blocks (one vectorised product per step) as far as `max_memory` bytes of basis allow,
    except the autograd products of nets of >= 20,000 parameters on CPU, where a vectorised backward costs
    20-30% more per vector than one probe at a time (measured up to 328k parameters).

    Cost: n_probes * m products, plus O(n_probes * m^2 * P) for reorthogonalization (memory-bound: one read
    of the basis per step, two on ~40% of the steps in float32; on the benchmark's 328k-parameter net with
    512 samples, 100 steps cost 1.19x of 100 bare products; a depth-30, width-128 net on 1,000 samples took
    7.6 s per probe in float32 on one core). Memory: m * P numbers per
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
    n_probes, n_steps = checks.integer(n_probes, "n_probes", 1), checks.integer(n_steps, "n_steps", 1)
    checks.integer(seed, "seed", 0, 2**63)
    apply, p, dtype, device = _torch_side(op)
    m = min(int(n_steps), p)
    per_probe = m * p * torch.empty((), dtype=dtype).element_size()
    block = max(1, min(int(n_probes), max_memory // per_probe))
    if isinstance(apply, CurvatureProduct) and torch.device(device).type == "cpu" and p >= CPU_ONE_PROBE_PARAMS:
        block = 1
    gen = torch.Generator().manual_seed(seed)
    probes = (torch.randint(0, 2, (int(n_probes), p), generator=gen) * 2 - 1).to(dtype) / math.sqrt(p)
    nodes, weights = [], []
    for start in range(0, int(n_probes), block):
        lanczos = InPlaceLanczos(apply, probes[start:start + block].to(device), m, gen)
        for _ in range(m):
            lanczos.step()
        evals, evecs = lanczos.ritz()
        nodes.append(evals)
        weights.append(evecs[:, 0, :] ** 2)
    n_samples, n_outputs = getattr(op, "n_samples", None), getattr(op, "n_outputs", None)
    return SpectralDensity(torch.cat(nodes).numpy(), torch.cat(weights).numpy(), p, n_samples, n_outputs)


class LanczosRecurrence:
    """Lanczos on each row of q (k, P) at once, fully reorthogonalized, one `step()` at a time (up to m).

    After the three-term recurrence each new vector gets one classical Gram-Schmidt pass against the whole
    basis, and a second pass when the first removed much of it (the DGKS criterion: orthogonality had been
    lost, as after an invariant subspace is exhausted). A vanishing beta (an invariant subspace found)
    restarts that probe with a fresh random direction, decoupled by beta = 0, so its nodes get no weight.
    `alpha`, `beta` are float64 (k, m); after j steps, T uses alpha[:, :j], beta[:, :j-1], and
    beta[:, j-1] is the coupling to the next vector (the Ritz residual scale).
    """

    def __init__(self, apply, q, m, gen, streams=None):
        k, p = q.shape
        self.apply, self.m, self.gen, self.j, self.q = apply, m, gen, 0, q
        self.streams = None if streams is None else [int(s) for s in streams]
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
        for r in (w.norm(dim=1) < 0.7 * before).nonzero()[:, 0].tolist():       # row by row: no row's numbers
            w[r:r + 1] = _project_out(seen[r:r + 1], w[r:r + 1])                # depend on which others need it
        b = w.norm(dim=1, keepdim=True)
        self.scale = torch.maximum(self.scale, torch.maximum(a.abs(), b))
        dead = (b <= self.breakdown * self.scale)[:, 0]
        if dead.any():
            for r, v in zip(dead.nonzero()[:, 0].tolist(), self.fresh(dead, j).to(q)):
                w[r:r + 1] = _project_out(seen[r:r + 1], _project_out(seen[r:r + 1], v[None]))
            b[dead] = 0.0
        self.beta[:, j] = b[:, 0].double().cpu()
        self.prev, self.b = q, b
        self.q = w / torch.where(dead[:, None], w.norm(dim=1, keepdim=True), b)

    def fresh(self, dead, j):
        """Random directions (on CPU) restarting the rows in `dead` at step j: from the shared generator, or with
        `streams` (one number per row) from a generator of the row's stream and the step alone, so that a row
        restarts the same way whichever rows run beside it (the nets of a sharded run: `stacked_slq`)."""
        p = self.q.shape[1]
        if self.streams is None:
            return torch.randn(int(dead.sum()), p, generator=self.gen)
        seed = self.gen.initial_seed()
        return torch.stack([torch.randn(p, generator=torch.Generator().manual_seed(
            int(np.random.SeedSequence([seed, self.streams[r], j]).generate_state(1)[0])))
            for r in dead.nonzero()[:, 0].tolist()])

    def ritz(self):
        """Eigen-decomposition of the j x j tridiagonals: (k, j) Ritz values, (k, j, j) vectors."""
        j = self.j
        t = (torch.diag_embed(self.alpha[:, :j]) + torch.diag_embed(self.beta[:, : j - 1], 1)
             + torch.diag_embed(self.beta[:, : j - 1], -1))
        return torch.linalg.eigh(t)


class InPlaceLanczos(LanczosRecurrence):
    """`LanczosRecurrence` kept semi-orthogonal, in place (what `slq` runs): the same recurrence, restart and
    tridiagonal, but each new vector's components along the whole basis are removed only when one exceeds
    sqrt(eps) of its norm (measured exactly, one read of the basis; Simon 1984: a semi-orthogonal basis keeps
    T accurate to rounding, with no spurious copies). In float32 about 40% of the steps then need the
    second read, and no (k, P) temporaries are made."""

    def step(self):
        j, q = self.j, self.q
        if j == 0:
            self.basis[:, 0] = q
        w = self.apply(q)
        a = torch.linalg.vecdot(w, q).unsqueeze(1)
        self.alpha[:, j] = a[:, 0].double().cpu()
        self.j += 1
        if self.j == self.m:
            return
        w.addcmul_(a, q, value=-1).addcmul_(self.b, self.prev, value=-1)
        seen = self.basis[:, : j + 1]
        _reorthogonalize_(seen, w, keep_below=torch.finfo(w.dtype).eps ** 0.5)
        b = w.norm(dim=1, keepdim=True)
        self.scale = torch.maximum(self.scale, torch.maximum(a.abs(), b))
        dead = (b <= self.breakdown * self.scale)[:, 0]
        norm = b
        if dead.any():
            fresh = self.fresh(dead, j).to(q)
            w[dead] = _project_out(seen[dead], _project_out(seen[dead], fresh))
            norm = torch.where(dead[:, None], w.norm(dim=1, keepdim=True), b)
            b[dead] = 0.0
        self.beta[:, j] = b[:, 0].double().cpu()
        nxt = self.basis[:, j + 1]
        torch.div(w, norm, out=nxt)
        self.prev, self.b, self.q = q, b, nxt


def _project_out(basis, w):
    """w (k, P) minus its components along each probe's basis rows (k, j, P): one Gram-Schmidt pass."""
    coef = torch.bmm(basis, w.unsqueeze(2))                     # (k, j, 1)
    return w - torch.bmm(coef.transpose(1, 2), basis).squeeze(1)
