"""Curvature of a network's loss: exact matrices for small nets, Lanczos methods for large ones (Parts I, III).

One call for any model and loss: `spectrum(model, "ce" | "mse" | callable, (x, y), method="auto" | "dense" |
"lanczos" | "slq")` returns a `Spectrum` (eigenvalues when exact, a spectral density from SLQ, and the
`SpectrumSettings` used: the one settings type, also what experiment configs store). The parts below are
what it is built from.

Everything works on a flat parameter vector: `theta, f = flat_fn(model)` gives `f(theta, x) -> (N, C)`.
Losses: "mse" = (1/(2N)) sum_n ||f(x_n) - y_n||^2 and "ce" = mean cross-entropy with integer labels.

- Small nets, exact: `output_jacobian`, `dense_hessian`, `dense_ggn`, `dense_fisher` ((P, P) matrices; they
  refuse nets above `max_params`).
- Any net, matrix-free: `hvp` / `ggnvp` (torch callables), `hvp_operator` / `ggn_operator` (scipy
  LinearOperators), `lanczos_eigs` (extreme eigenpairs), `slq` (spectral density).
- Many independent nets at once (a `models.DeepMLPs` batch): `stacked_flat_fn`, `stacked_hvp` (every net's
  H_m v_m from one double backward), `stacked_slq` (all nets' Lanczos recurrences in lockstep).
- Summaries: `degenerate_fraction`, `negative_fraction`, `near_zero_fraction` (under each of
  `NORMALIZATIONS`, with its error over SLQ probes), `zero_count`, `rank_bound`.

**The rank bound.** The Hessian of a loss over N samples with C outputs each is
H = J^T A J + sum_{n,c} r_{nc} d^2 f_{nc} / d theta^2, where J is the (N*C, P) output Jacobian, A the loss's
Hessian in the outputs, and r_{nc} = d loss / d f_{nc} the residuals. The first term, the Gauss-Newton
matrix (equal to the Fisher for these two losses), has rank <= N*rank(A): N*(C-1) for softmax cross-entropy
(adding a constant to all logits changes nothing), N*C for the squared error; when P exceeds it, at least
1 - N*(C-1)/P of its eigenvalues are exactly zero *whatever the architecture*; as the fit improves the residual term shrinks
and the Hessian inherits those zeros. A degenerate fraction near that bound measures the data size, not the
net: `degenerate_fraction` therefore reports the bound with every fraction (`.rank_bound_fraction`).
"""
from .entry import Spectrum, spectrum
from .settings import DENSE_MAX, METHODS, TOLS, SpectrumSettings
from .dense import MAX_PARAMS, dense_fisher, dense_ggn, dense_hessian, output_jacobian
from .functional import LOSSES, flat_fn, loss_value
from .lanczos import lanczos_eigs, slq
from .operators import CurvatureProduct, TorchOperator, ggn_operator, ggnvp, hvp, hvp_operator
from .stacked import StackedProduct, stacked_flat_fn, stacked_hvp, stacked_slq
from .summaries import (NORMALIZATIONS, Fraction, NearZero, RankBound, SpectralDensity, degenerate_fraction,
                       near_zero_fraction, negative_fraction, rank_bound, spectral_scale, zero_count)

__all__ = [
    "DENSE_MAX", "METHODS", "TOLS", "Spectrum", "SpectrumSettings", "spectrum",
    "LOSSES", "MAX_PARAMS", "NORMALIZATIONS", "NearZero", "near_zero_fraction", "spectral_scale", "CurvatureProduct", "Fraction", "RankBound", "SpectralDensity", "TorchOperator",
    "degenerate_fraction", "dense_fisher", "dense_ggn", "dense_hessian", "flat_fn", "ggn_operator", "ggnvp",
    "hvp", "hvp_operator", "lanczos_eigs", "loss_value", "negative_fraction", "output_jacobian", "rank_bound",
    "slq", "stacked_flat_fn", "stacked_hvp", "stacked_slq", "StackedProduct", "zero_count",
]
