"""Spectral summaries: spectral densities, degenerate and negative fractions, and the Gauss-Newton rank
bound (chapters I.1 and III.2).

A fraction is measured relative to the largest eigenvalue magnitude: eigenvalue lambda is *degenerate* when
|lambda| <= tol * max|lambda| and *negative* when lambda < -tol * max|lambda|, so the degenerate, negative and
remaining (clearly positive) fractions add up to one. From an SLQ density the fractions are the quadrature
weights of the nodes in those sets.

"Near zero" depends on what |lambda| is compared with, and nets of different architectures differ in their
largest eigenvalue, so `near_zero_fraction` measures the same spectrum under three normalizations
(`NORMALIZATIONS`): relative to the net's own max|lambda|, relative to its mean |lambda| (a trace-like scale
set by the bulk rather than by one outlier) and absolute. From SLQ each fraction carries its standard error
over probes (`.error`, a standard error the comparison rule adds to the variance) and the quadrature's
resolution (`.resolution`, a deterministic bound that widens the interval: `stats.welch(bound_a=...)`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import checks


@dataclass(frozen=True)
class RankBound:
    """What the Gauss-Newton rank bound says for N samples, C outputs and P parameters.

    `max_rank` = min(N*(C-1), P) for softmax cross-entropy (min(N*C, P) for the squared error);
    `min_zero_fraction` = 1 - max_rank / P, the least fraction of Gauss-Newton (and Fisher) eigenvalues that
    are exactly zero whatever the architecture.
    """

    n_samples: int
    n_outputs: int
    n_params: int
    max_rank: int
    min_zero_fraction: float


#: losses whose Gauss-Newton rank bound `rank_bound` knows: per sample, rank C-1 (softmax) or C (squared error)
BOUND_LOSSES = ("ce", "mse")


def rank_bound(n_samples: int, n_outputs: int, n_params: int, loss: str = "ce") -> RankBound:
    """The Gauss-Newton rank bound rank(J^T A J) <= min(N * rank(A_n), P). Chapter III.2.

    For softmax cross-entropy ("ce") each sample's output Hessian A_n = diag(p) - p p^T annihilates the all-ones
    vector (adding a constant to every logit changes nothing), so rank(A_n) = C-1 and the bound is N*(C-1);
    for the squared error ("mse") A_n is the identity and the bound is N*C.
    """
    for name, value in (("n_samples", n_samples), ("n_outputs", n_outputs), ("n_params", n_params)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive integer")
    if loss not in BOUND_LOSSES:
        raise ValueError(f"loss={loss!r} is not valid; choose one of {', '.join(BOUND_LOSSES)}")
    per_sample = int(n_outputs) - 1 if loss == "ce" else int(n_outputs)
    max_rank = min(int(n_samples) * per_sample, int(n_params))
    return RankBound(int(n_samples), int(n_outputs), int(n_params), max_rank, 1.0 - max_rank / n_params)


@dataclass(frozen=True)
class SpectralDensity:
    """A spectral density from stochastic Lanczos quadrature: per probe, Gauss quadrature nodes and weights.

    `nodes`, `weights`: (n_probes, m) float64 arrays; each row's weights sum to one; the density estimate is
    the average over probes of sum_j weights[j] * delta(lambda - nodes[j]), a probability measure over the
    eigenvalues, so P * (its mass on a set) estimates how many eigenvalues lie there. `n_samples`,
    `n_outputs` (when known) and `loss` give the Gauss-Newton rank bound. Chapter III.2.
    """

    nodes: np.ndarray
    weights: np.ndarray
    n_params: int
    n_samples: int | None = None
    n_outputs: int | None = None
    loss: str = "ce"

    @property
    def n_probes(self) -> int:
        return self.nodes.shape[0]

    @property
    def max_abs(self) -> float:
        """max |node|: the extreme Ritz values converge first, so this estimates max |lambda|."""
        return float(np.abs(self.nodes).max())

    @property
    def mean_abs(self) -> float:
        """The mean |lambda| over all P eigenvalues (the density's first absolute moment, averaged over probes)."""
        return float((self.weights * np.abs(self.nodes)).sum(axis=1).mean())

    @property
    def trace(self) -> float:
        """tr H = P * the mean eigenvalue (Hutchinson's estimate from the probes; exact for a dense spectrum)."""
        return float(self.n_params * (self.weights * self.nodes).sum(axis=1).mean())

    def probe_masses(self, mask: np.ndarray) -> np.ndarray:
        """Each probe's estimate of the fraction of eigenvalues in a set (n_probes,), given a node mask."""
        return (self.weights * mask).sum(axis=1)

    def mass(self, mask: np.ndarray) -> float:
        """Estimated fraction of eigenvalues in a set, given the nodes in it as a boolean mask."""
        return float((self.weights * mask).sum(axis=1).mean())

    def density(self, grid, sigma: float) -> np.ndarray:
        """The density smoothed by a Gaussian of width `sigma`, evaluated on `grid` (integrates to one)."""
        if not sigma > 0:
            raise ValueError(f"sigma={sigma!r} must be > 0 (the width of the smoothing Gaussian)")
        grid = np.asarray(grid, dtype=np.float64)
        z = (grid[..., None, None] - self.nodes) / sigma
        kernel = np.exp(-0.5 * z * z) / (sigma * np.sqrt(2 * np.pi))
        return (kernel * self.weights).sum(axis=-1).mean(axis=-1)


class Fraction(float):
    """A fraction of eigenvalues (a float) that also carries how it was measured.

    `tol` (relative to max|lambda|), `n_params`, `count` (fraction * n_params) and `rank_bound_fraction`:
    the Gauss-Newton bound's least zero fraction 1 - min(N*(C-1), P)/P, or None when N and C are unknown. A
    degenerate fraction near `rank_bound_fraction` says more about the data size than about the net.
    """

    def __new__(cls, value, tol, n_params, rank_bound_fraction=None):
        obj = super().__new__(cls, value)
        obj.tol = tol
        obj.n_params = n_params
        obj.count = value * n_params
        obj.rank_bound_fraction = rank_bound_fraction
        return obj

    def __reduce__(self):
        return (Fraction, (float(self), self.tol, self.n_params, self.rank_bound_fraction))

    def __repr__(self):
        return (f"Fraction({float(self):.6g}, tol={self.tol:g}, n_params={self.n_params}, "
                f"rank_bound_fraction={self.rank_bound_fraction})")

    def as_dict(self) -> dict:
        return {"fraction": float(self), "tol": self.tol, "n_params": self.n_params, "count": self.count,
                "rank_bound_fraction": self.rank_bound_fraction}


def _check_tol(tol, name="tol"):
    if isinstance(tol, bool) or not (isinstance(tol, (int, float, np.floating)) and tol > 0):
        raise ValueError(f"{name}={tol!r} must be a number > 0 (a fraction of max|lambda|, e.g. 1e-3)")


def _eigs_array(eigs):
    eigs = checks.real(eigs, "eigenvalues", "a 1-D array of eigenvalues or a SpectralDensity")
    if isinstance(eigs, torch.Tensor):
        eigs = eigs.detach().cpu().double().numpy()
    eigs = np.asarray(eigs, dtype=np.float64)
    if eigs.ndim != 1 or eigs.size == 0:
        raise ValueError(f"eigenvalues must be a non-empty 1-D array or a SpectralDensity, got shape {eigs.shape}")
    if not np.isfinite(eigs).all():
        raise ValueError(f"eigenvalues must be finite; {int((~np.isfinite(eigs)).sum())} of {eigs.size} are "
                         f"NaN or inf (a diverged net or a failed eigensolver)")
    return eigs


def _bound(n_samples, n_outputs, n_params, loss):
    if n_samples is None or n_outputs is None:
        return None
    return rank_bound(n_samples, n_outputs, n_params, loss).min_zero_fraction


def _fraction(eigs_or_density, tol, n_samples, n_outputs, loss, select):
    _check_tol(tol)
    if isinstance(eigs_or_density, SpectralDensity):
        d = eigs_or_density
        n_samples = d.n_samples if n_samples is None else n_samples
        n_outputs = d.n_outputs if n_outputs is None else n_outputs
        loss = d.loss if loss is None else loss
        value, p = d.mass(select(d.nodes, tol * d.max_abs)), d.n_params
    else:
        eigs = _eigs_array(eigs_or_density)
        value, p = float(select(eigs, tol * np.abs(eigs).max()).mean()), eigs.size
    return Fraction(value, float(tol), p, _bound(n_samples, n_outputs, p, loss or "ce"))


def degenerate_fraction(eigs_or_density, tol: float = 1e-3, n_samples: int | None = None,
                        n_outputs: int | None = None, loss: str | None = None) -> Fraction:
    """Fraction of eigenvalues with |lambda| <= tol * max|lambda|, from exact eigenvalues or an SLQ density.

    Also reports the Gauss-Newton rank bound (`.rank_bound_fraction`) when N and C are given or stored in
    the density (`loss`: "ce" by default, or the density's). From SLQ the estimate is reliable down to
    tol ~ 1e-3 (see `slq`). Costs nothing beyond its input. Chapter III.2.
    """
    return _fraction(eigs_or_density, tol, n_samples, n_outputs, loss, lambda e, t: np.abs(e) <= t)


def negative_fraction(eigs_or_density, tol: float = 1e-3, n_samples: int | None = None,
                      n_outputs: int | None = None, loss: str | None = None) -> Fraction:
    """Fraction of eigenvalues with lambda < -tol * max|lambda| (below the degenerate band). Chapter III.2."""
    return _fraction(eigs_or_density, tol, n_samples, n_outputs, loss, lambda e, t: e < -t)


#: what a near-zero threshold is relative to: the net's max|lambda|, its mean |lambda|, or nothing (absolute)
NORMALIZATIONS = ("max", "mean", "absolute")


@dataclass(frozen=True)
class NearZero:
    """The fraction of eigenvalues with |lambda| <= threshold * scale, where `scale` is max|lambda|, mean|lambda|
    or 1 (`normalization`). Two errors: `error`, the standard error over SLQ probes (0 for one probe), and
    `resolution`, the Chebyshev-Markov-Stieltjes bound on how far each probe's quadrature can be from its
    own measure at the two edges +-threshold*scale (the larger weight of the two nodes next to each edge,
    averaged over probes; ~1/P for a dense spectrum). The first is a standard error, the second a bound: they
    are never combined in quadrature (`stats.welch` takes them apart)."""

    fraction: float
    error: float
    resolution: float
    threshold: float
    normalization: str
    scale: float

    def __float__(self) -> float:
        return float(self.fraction)


def _edge_bound(nodes: np.ndarray, weights: np.ndarray, edge: float) -> float:
    """The larger weight of the two quadrature nodes around `edge` (CMS: the true distribution function at
    `edge` lies within that of the quadrature's)."""
    order = np.argsort(nodes)
    n, w = nodes[order], weights[order]
    j = int(np.searchsorted(n, edge, side="right"))
    return float(max(w[k] for k in (j - 1, j) if 0 <= k < len(n)))


def _density(eigs_or_density) -> SpectralDensity:
    if isinstance(eigs_or_density, SpectralDensity):
        return eigs_or_density
    eigs = _eigs_array(eigs_or_density)
    return SpectralDensity(eigs[None, :], np.full((1, eigs.size), 1.0 / eigs.size), eigs.size)


def spectral_scale(eigs_or_density, normalization: str = "max") -> float:
    """The scale a near-zero threshold multiplies: max|lambda| ("max"), mean|lambda| ("mean") or 1 ("absolute")."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization={normalization!r} is not valid; choose one of {', '.join(NORMALIZATIONS)}")
    d = _density(eigs_or_density)
    return {"max": d.max_abs, "mean": d.mean_abs, "absolute": 1.0}[normalization]


def near_zero_fraction(eigs_or_density, threshold: float, normalization: str = "max") -> NearZero:
    """Fraction of eigenvalues with |lambda| <= threshold * scale, under one of `NORMALIZATIONS`, with its
    standard error over SLQ probes (std over probes / sqrt(n_probes); 0 for exact eigenvalues or one probe)
    and the quadrature's resolution at the threshold (see `NearZero`): a threshold that falls inside the
    spike of nodes at zero cannot be resolved by SLQ, and `resolution` says so (up to 1).

    "max" is `degenerate_fraction`'s rule; "mean" divides by the mean |lambda| instead, so one large outlier
    does not move the threshold; "absolute" compares every net with the same number. Chapter III.2.
    """
    _check_tol(threshold, "threshold")
    d = _density(eigs_or_density)
    scale = spectral_scale(d, normalization)
    t = threshold * scale
    per_probe = d.probe_masses(np.abs(d.nodes) <= t)
    error = float(per_probe.std(ddof=1) / np.sqrt(len(per_probe))) if len(per_probe) > 1 else 0.0
    resolution = float(np.mean([min(1.0, _edge_bound(n, w, t) + _edge_bound(n, w, -t))
                                for n, w in zip(d.nodes, d.weights)]))
    return NearZero(float(per_probe.mean()), error, resolution, float(threshold), normalization, float(scale))


def zero_count(eigs, rtol: float = 1e-3) -> int:
    """Number of eigenvalues with |lambda| <= rtol * max|lambda| (exact eigenvalues only). Chapter I.1."""
    _check_tol(rtol, "rtol")
    eigs = _eigs_array(eigs)
    return int((np.abs(eigs) <= rtol * np.abs(eigs).max()).sum())
