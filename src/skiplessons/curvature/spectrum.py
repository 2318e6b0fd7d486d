"""Spectral summaries: spectral densities, degenerate and negative fractions, and the Gauss-Newton rank
bound (chapters I.1 and III.2).

A fraction is measured relative to the largest eigenvalue magnitude: eigenvalue lambda is *degenerate* when
|lambda| <= tol * max|lambda| and *negative* when lambda < -tol * max|lambda|, so the degenerate, negative and
remaining (clearly positive) fractions add up to one. From an SLQ density the fractions are the quadrature
weights of the nodes in those sets.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class RankBound:
    """What the Gauss-Newton rank bound says for N samples, C outputs and P parameters.

    `max_rank` = min(N*C, P); `min_zero_fraction` = 1 - max_rank / P, the least fraction of Gauss-Newton
    (and Fisher) eigenvalues that are exactly zero whatever the architecture.
    """

    n_samples: int
    n_outputs: int
    n_params: int
    max_rank: int
    min_zero_fraction: float


def rank_bound(n_samples: int, n_outputs: int, n_params: int) -> RankBound:
    """The Gauss-Newton rank bound rank(J^T A J) <= rank(J) <= N*C (J is N*C x P). Chapter III.2.

    For softmax cross-entropy the bound is N*(C-1), because diag(p) - p p^T has rank C-1; N*C stays valid.
    """
    for name, value in (("n_samples", n_samples), ("n_outputs", n_outputs), ("n_params", n_params)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive integer")
    max_rank = min(int(n_samples) * int(n_outputs), int(n_params))
    return RankBound(int(n_samples), int(n_outputs), int(n_params), max_rank, 1.0 - max_rank / n_params)


@dataclass(frozen=True)
class SpectralDensity:
    """A spectral density from stochastic Lanczos quadrature: per probe, Gauss quadrature nodes and weights.

    `nodes`, `weights`: (n_probes, m) float64 arrays; each row's weights sum to one; the density estimate is
    the average over probes of sum_j weights[j] * delta(lambda - nodes[j]), a probability measure over the
    eigenvalues, so P * (its mass on a set) estimates how many eigenvalues lie there. `n_samples` and
    `n_outputs` (when known) give the Gauss-Newton rank bound. Chapter III.2.
    """

    nodes: np.ndarray
    weights: np.ndarray
    n_params: int
    n_samples: int | None = None
    n_outputs: int | None = None

    @property
    def n_probes(self) -> int:
        return self.nodes.shape[0]

    @property
    def max_abs(self) -> float:
        """max |node|: the extreme Ritz values converge first, so this estimates max |lambda|."""
        return float(np.abs(self.nodes).max())

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
    the Gauss-Newton bound's least zero fraction 1 - min(N*C, P)/P, or None when N and C are unknown. A
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
    if isinstance(eigs, torch.Tensor):
        eigs = eigs.detach().cpu().double().numpy()
    eigs = np.asarray(eigs, dtype=np.float64)
    if eigs.ndim != 1 or eigs.size == 0:
        raise ValueError(f"eigenvalues must be a non-empty 1-D array or a SpectralDensity, got shape {eigs.shape}")
    if not np.isfinite(eigs).all():
        raise ValueError(f"eigenvalues must be finite; {int((~np.isfinite(eigs)).sum())} of {eigs.size} are "
                         f"NaN or inf (a diverged net or a failed eigensolver)")
    return eigs


def _bound(n_samples, n_outputs, n_params):
    if n_samples is None or n_outputs is None:
        return None
    return rank_bound(n_samples, n_outputs, n_params).min_zero_fraction


def _fraction(eigs_or_density, tol, n_samples, n_outputs, select):
    _check_tol(tol)
    if isinstance(eigs_or_density, SpectralDensity):
        d = eigs_or_density
        n_samples = d.n_samples if n_samples is None else n_samples
        n_outputs = d.n_outputs if n_outputs is None else n_outputs
        value, p = d.mass(select(d.nodes, tol * d.max_abs)), d.n_params
    else:
        eigs = _eigs_array(eigs_or_density)
        value, p = float(select(eigs, tol * np.abs(eigs).max()).mean()), eigs.size
    return Fraction(value, float(tol), p, _bound(n_samples, n_outputs, p))


def degenerate_fraction(eigs_or_density, tol: float = 1e-3, n_samples: int | None = None,
                        n_outputs: int | None = None) -> Fraction:
    """Fraction of eigenvalues with |lambda| <= tol * max|lambda|, from exact eigenvalues or an SLQ density.

    Also reports the Gauss-Newton rank bound (`.rank_bound_fraction`) when N and C are given or stored in
    the density. From SLQ the estimate is reliable down to tol ~ 1e-3 (see `slq`). Costs nothing beyond
    its input. Chapter III.2.
    """
    return _fraction(eigs_or_density, tol, n_samples, n_outputs, lambda e, t: np.abs(e) <= t)


def negative_fraction(eigs_or_density, tol: float = 1e-3, n_samples: int | None = None,
                      n_outputs: int | None = None) -> Fraction:
    """Fraction of eigenvalues with lambda < -tol * max|lambda| (below the degenerate band). Chapter III.2."""
    return _fraction(eigs_or_density, tol, n_samples, n_outputs, lambda e, t: e < -t)


def zero_count(eigs, rtol: float = 1e-3) -> int:
    """Number of eigenvalues with |lambda| <= rtol * max|lambda| (exact eigenvalues only). Chapter I.1."""
    _check_tol(rtol, "rtol")
    eigs = _eigs_array(eigs)
    return int((np.abs(eigs) <= rtol * np.abs(eigs).max()).sum())
