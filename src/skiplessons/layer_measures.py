"""Per-layer singularity measures of any net's activations: elimination, overlap, linear dependence.

Introduced in Part I and used on deep nets in Part III (`degeneracy.layer_singularities`). Every measure is
vectorised over layers (a list of (..., N, n) activations) and over leading batch axes.
"""
from __future__ import annotations

import numpy as np
import torch

from . import checks

#: a unit is eliminated when its std over the inputs is <= ELIMINATION_RTOL * the layer's RMS activation
ELIMINATION_RTOL = 1e-2
#: two units overlap when |cosine| of their (centred) activations or incoming weights is >= OVERLAP_THRESHOLD
OVERLAP_THRESHOLD = 0.99
#: a singular value counts towards the numerical rank when it is > RANK_RTOL * the largest one
RANK_RTOL = 1e-3


# ----------------------------------------------------------------------------------------- layer measures

def _as_tensor(a, name):
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(a)
    if not isinstance(a, torch.Tensor):
        raise ValueError(f"{name} must be a tensor or array of shape (..., N, n) or a list of them, "
                         f"got {type(a).__name__}")
    if a.ndim < 2:
        raise ValueError(f"{name} must have shape (..., N, n) with samples N and units n, got {tuple(a.shape)}")
    checks.samples(a, name, ndim=None, min_ndim=2, floating=False)     # no NaN, inf, empty axis, bool
    if a.shape[-2] < 2:
        raise ValueError(f"{name} has N = {a.shape[-2]} sample: a unit's spread over the inputs needs N >= 2")
    return a.detach().to(torch.float64)


def _per_layer(fn, acts, name):
    """Apply `fn` (a tensor (..., N, n) -> tensor (...)) to one array or to each layer of a list."""
    if isinstance(acts, (list, tuple)):
        if not acts:
            raise ValueError(f"{name} is an empty list; pass at least one layer")
        return np.stack([fn(_as_tensor(a, name)).cpu().numpy() for a in acts])
    out = fn(_as_tensor(acts, name)).cpu().numpy()
    return float(out) if out.ndim == 0 else out


def elimination_fraction(acts, rtol: float = ELIMINATION_RTOL):
    """Fraction of a layer's units that are constant over the inputs (e.g. dead ReLUs, saturated tanh).

    Unit j is eliminated when std_n h_nj <= rtol * RMS of the layer's activations (over samples and units);
    rtol = 1e-2 by default, so a unit whose fluctuations are under 1% of the layer's typical magnitude
    counts. A layer of exact zeros is fully eliminated. `acts` is (..., N, n) (returns shape (...)) or a list of
    layers (returns (L, ...)); pass the units' outputs (the branch phi(W h + b)), not a residual stream that
    adds the skip. Introduced in chapter I.2; used per layer in Part III.
    """
    if not rtol > 0:
        raise ValueError(f"rtol={rtol!r} must be > 0")

    def fn(h):
        std = h.std(dim=-2, unbiased=False)
        rms = h.pow(2).mean(dim=(-2, -1)).sqrt()
        return (std <= rtol * rms.unsqueeze(-1)).double().mean(dim=-1)

    return _per_layer(fn, acts, "acts")


def _pair_fraction(cols, threshold, centre):
    """Fraction of unit pairs (columns of (..., N, n)) with |cosine| >= threshold; zero columns never count."""
    if centre:
        cols = cols - cols.mean(dim=-2, keepdim=True)
    norm = cols.norm(dim=-2, keepdim=True)
    scale = cols.abs().amax(dim=(-2, -1), keepdim=True)
    alive = norm > 1e-12 * scale
    unit = torch.where(alive, cols / torch.where(alive, norm, torch.ones_like(norm)), torch.zeros_like(cols))
    cos = (unit.transpose(-1, -2) @ unit).abs()
    n = cols.shape[-1]
    if n < 2:
        raise ValueError(f"overlap needs layers of at least 2 units, got n = {n}")
    upper = torch.triu(torch.ones(n, n, dtype=torch.bool, device=cols.device), diagonal=1)
    return (cos[..., upper] >= threshold).double().mean(dim=-1)


def overlap_fraction(acts=None, weights=None, threshold: float = OVERLAP_THRESHOLD):
    """Fraction of a layer's unit pairs that overlap: |cosine| >= threshold (0.99 by default).

    Give exactly one of `acts` ((..., N, n): cosine of the *centred* activations over the inputs, i.e. the
    correlation) or `weights` ((..., n, fan_in), one row of incoming weights per unit -- append the bias as a
    column if it should count -- uncentred cosine). |cosine| because phi(-u) = -phi(u) makes J_b = -J_a an
    overlap too for tanh. Constant units (zero norm) count as not overlapping (they are eliminated instead).
    Lists of layers give (L, ...). Introduced in chapter I.3; used per layer in Part III.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold={threshold!r} must lie in (0, 1]")
    if (acts is None) == (weights is None):
        raise ValueError("give exactly one of acts (..., N, n) or weights (..., n, fan_in)")
    if acts is not None:
        return _per_layer(lambda h: _pair_fraction(h, threshold, centre=True), acts, "acts")
    return _per_layer(lambda w: _pair_fraction(w.transpose(-1, -2), threshold, centre=False), weights, "weights")


def _centred_svdvals(h):
    n_samples, n = h.shape[-2:]
    if n_samples <= n:
        raise ValueError(f"acts has N = {n_samples} samples for n = {n} units; rank measures need N > n, or "
                         f"every layer looks rank-deficient from too little data alone")
    return torch.linalg.svdvals(h - h.mean(dim=-2, keepdim=True))


def rank_deficit(acts, rtol: float = RANK_RTOL):
    """Linear dependence of a layer: (n - max(r, 1)) / (n - 1), r the numerical rank of the centred activations.

    r counts singular values > rtol * the largest (rtol = 1e-3 by default). The measure is 0 for a layer of
    linearly independent units and 1 when every unit is a multiple of one unit plus a constant (r <= 1; an
    all-constant layer, r = 0, also gives 1). Needs N > n samples. `acts` (..., N, n) -> (...); lists -> (L, ...).
    Introduced in chapter I.4; used per layer in Part III.
    """
    if not rtol > 0:
        raise ValueError(f"rtol={rtol!r} must be > 0")

    def fn(h):
        s = _centred_svdvals(h)
        n = h.shape[-1]
        if n < 2:
            raise ValueError(f"rank_deficit needs layers of at least 2 units, got n = {n}")
        rank = (s > rtol * s[..., :1]).sum(dim=-1).clamp(min=1)
        return (n - rank).double() / (n - 1)

    return _per_layer(fn, acts, "acts")


def live_rank_deficit(acts, elimination_rtol: float = ELIMINATION_RTOL, rank_rtol: float = RANK_RTOL):
    """`rank_deficit` of the units that are *not* eliminated (`elimination_fraction`'s rule), 0 when fewer than
    two are live: linear dependence among live units, so that a dead unit (already counted as eliminated)
    is not counted again as a rank loss. `acts` (..., N, n) -> (...); lists -> (L, ...). Chapter III.2."""
    if not elimination_rtol > 0 or not rank_rtol > 0:
        raise ValueError(f"elimination_rtol={elimination_rtol!r} and rank_rtol={rank_rtol!r} must be > 0")

    def fn(h):
        std = h.std(dim=-2, unbiased=False)
        rms = h.pow(2).mean(dim=(-2, -1)).sqrt()
        live = std > elimination_rtol * rms.unsqueeze(-1)
        flat_h, flat_live = h.reshape(-1, *h.shape[-2:]), live.reshape(-1, h.shape[-1])
        out = torch.zeros(flat_h.shape[0], dtype=torch.float64)
        for i, (a, keep) in enumerate(zip(flat_h, flat_live)):
            k = int(keep.sum())
            if k >= 2:
                s = _centred_svdvals(a[:, keep])
                out[i] = (k - (s > rank_rtol * s[0]).sum().clamp(min=1)).double() / (k - 1)
        return out.reshape(h.shape[:-2])

    return _per_layer(fn, acts, "acts")


def effective_rank(acts, kind: str = "participation"):
    """Effective number of dimensions the centred activations span (between 1 and n; 0 for a constant layer).

    "participation": (sum lambda)^2 / sum lambda^2 over the covariance eigenvalues lambda = s^2 / N;
    "entropy": exp of the entropy of p_i = s_i / sum s (Roy & Vetterli 2007). Unlike `rank_deficit` these need
    no threshold and fall smoothly as units become nearly dependent. Introduced in chapter I.4.
    """
    if kind not in ("participation", "entropy"):
        raise ValueError(f"kind={kind!r} is not valid; choose one of participation, entropy")

    def fn(h):
        s = _centred_svdvals(h)
        if kind == "participation":
            lam = s**2
            total = lam.sum(dim=-1)
            return torch.where(total > 0, total**2 / (lam**2).sum(dim=-1).clamp(min=1e-300), torch.zeros_like(total))
        total = s.sum(dim=-1, keepdim=True)
        p = s / total.clamp(min=1e-300)
        ent = -(p * torch.log(p.clamp(min=1e-300))).sum(dim=-1)
        return torch.where(total.squeeze(-1) > 0, ent.exp(), torch.zeros_like(ent))

    return _per_layer(fn, acts, "acts")


def layer_measures(acts, weights=None, elimination_rtol: float = ELIMINATION_RTOL,
                   overlap_threshold: float = OVERLAP_THRESHOLD, rank_rtol: float = RANK_RTOL) -> dict:
    """All singularity measures of each layer at once: a dict of arrays, one value per layer (and batch index).

    Keys: "elimination", "overlap" (activations), "rank_deficit", "effective_rank" (participation ratio),
    and "weight_overlap" when `weights` (incoming weights, (..., n, fan_in) per layer) are given. The
    thresholds are the module constants unless overridden. Cost: two batched SVDs of the centred (N, n)
    activations and one (n, n) Gram matrix per layer; 30 layers x 3 nets x 1,000 samples x 128 units took
    about 3 s on 2 busy CPU cores. Used per layer in Part III.
    """
    out = {"elimination": elimination_fraction(acts, elimination_rtol),
           "overlap": overlap_fraction(acts, threshold=overlap_threshold),
           "rank_deficit": rank_deficit(acts, rank_rtol),
           "effective_rank": effective_rank(acts)}
    if weights is not None:
        out["weight_overlap"] = overlap_fraction(weights=weights, threshold=overlap_threshold)
    return out
