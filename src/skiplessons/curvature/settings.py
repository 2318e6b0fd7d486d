"""How a Hessian spectrum is measured: the one settings type of the library (chapter III.2).

`SpectrumSettings` is both what `curvature.spectrum` takes and what every experiment config stores (its
`spectrum` field), so a stored result's hash covers every setting of its spectra, the SLQ probes' `seed`
included.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .. import checks

#: tolerances (relative to max|lambda|) at which degenerate fractions are reported
TOLS = (1e-1, 1e-2, 1e-3)
#: nets with at most this many parameters get the exact dense Hessian under method "auto"; larger ones get SLQ
DENSE_MAX = 1200
#: "auto" (dense up to `dense_max` parameters, else SLQ), "dense" (every eigenvalue), "lanczos" (the `n_eigs`
#: largest in magnitude) or "slq" (a spectral density)
METHODS = ("auto", "dense", "lanczos", "slq")


@dataclass(frozen=True)
class SpectrumSettings:
    """How a spectrum is computed and summarised: `method` (one of `METHODS`), `dense_max`, the SLQ sizes
    (`n_probes` Rademacher probes of `n_steps` Lanczos steps, drawn from `seed`), `n_eigs` for "lanczos",
    the tolerances `tols` of the degenerate fractions and `neg_tol` of the negative fraction."""

    method: str = "auto"
    dense_max: int = DENSE_MAX
    n_probes: int = 4
    n_steps: int = 40
    n_eigs: int = 10
    tols: tuple = TOLS
    neg_tol: float = 1e-3
    seed: int = 0

    def __post_init__(self):
        checks.integer(self.dense_max, "dense_max", 0)
        checks.integer(self.n_probes, "n_probes", 1)
        checks.integer(self.n_steps, "n_steps", 1)
        checks.integer(self.n_eigs, "n_eigs", 1)
        checks.integer(self.seed, "seed", 0, 2**63)
        if self.method not in METHODS:
            raise ValueError(f"method={self.method!r} is not valid; choose one of {', '.join(METHODS)}")
        if isinstance(self.tols, (list, np.ndarray)):
            object.__setattr__(self, "tols", tuple(self.tols))
        if not isinstance(self.tols, tuple) or not self.tols or any(
                not isinstance(t, numbers.Real) or not 0 < t < float("inf") for t in self.tols):
            raise ValueError(f"tols={self.tols!r} must be a non-empty sequence of numbers > 0")
        if not isinstance(self.neg_tol, numbers.Real) or not 0 < self.neg_tol < float("inf"):
            raise ValueError(f"neg_tol={self.neg_tol!r} must be > 0")

    def choose(self, n_params: int) -> str:
        """The method for a net of `n_params` parameters: `method`, or under "auto" "dense" up to `dense_max`
        parameters and "slq" above."""
        if self.method != "auto":
            return self.method
        return "dense" if n_params <= self.dense_max else "slq"
