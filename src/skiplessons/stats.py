"""The statistics every verdict uses: the shared margin rule, intervals, correlation and quartiles.

One rule decides every "A is larger than B" in the book and the ledger (`exceeds`): the difference of the
means must exceed `Z_MARGIN` standard errors of that difference (Welch's, over runs), with any stated
measurement error of each side (e.g. an SLQ fraction's spread over probes) added in quadrature.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import checks

#: how many standard errors a difference must exceed before the book calls it a difference
Z_MARGIN = 2.0


@dataclass(frozen=True)
class Margin:
    """mean(a) - mean(b), its standard error, and whether it exceeds `z` standard errors (None: too few runs)."""

    difference: float
    se: float
    z: float
    n_a: int
    n_b: int

    @property
    def exceeds(self) -> bool | None:
        if self.n_a < 2 or self.n_b < 2:
            return None
        return bool(self.difference > self.z * self.se)

    def __str__(self) -> str:
        return f"{self.difference:+.3f} ± {self.se:.3f} (SE; n = {self.n_a}, {self.n_b})"


def _finite(values, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=float).ravel()
    if not np.isfinite(values).all():
        raise ValueError(f"{name} must be finite numbers, one per run, got {values.tolist()}")
    return values


def margin(a, b, z: float = Z_MARGIN, error_a: float = 0.0, error_b: float = 0.0) -> Margin:
    """The margin of mean(a) over mean(b): Welch's standard error sqrt(s_a²/n_a + s_b²/n_b) over runs, plus the
    measurement errors `error_a`, `error_b` (standard errors of each side's mean from the measurement itself)
    in quadrature. One number per run in `a` and `b`."""
    a, b = _finite(a, "a"), _finite(b, "b")
    if not len(a) or not len(b):
        raise ValueError("a and b need at least one run each")
    if error_a < 0 or error_b < 0:
        raise ValueError(f"error_a={error_a!r} and error_b={error_b!r} must be >= 0")
    var = (a.var(ddof=1) / len(a) if len(a) > 1 else 0.0) + (b.var(ddof=1) / len(b) if len(b) > 1 else 0.0)
    se = float(np.sqrt(var + error_a**2 + error_b**2))
    return Margin(float(a.mean() - b.mean()), se, float(z), len(a), len(b))


def exceeds(a, b, z: float = Z_MARGIN, error_a: float = 0.0, error_b: float = 0.0) -> bool | None:
    """Whether mean(a) - mean(b) > `z` standard errors (`margin`); None when either side has fewer than 2 runs,
    since without a spread there is nothing to compare the gap with."""
    return margin(a, b, z, error_a, error_b).exceeds


def quartiles(values) -> tuple[float, float, float]:
    """25th, 50th and 75th percentiles (linear interpolation, numpy's default) of one number per run.

    A run that never got somewhere counts as `inf` (e.g. the time to a loss threshold); a quartile that
    interpolates towards an `inf` is `inf`.
    """
    v = np.sort(np.asarray(checks.real(values, "values", "numbers, one per run"), dtype=float).ravel())
    if not len(v) or np.isnan(v).any() or (v < 0).any():
        raise ValueError(f"values must be non-negative numbers or inf, one per run, got {v.tolist()}")
    out = []
    for q in (0.25, 0.5, 0.75):
        pos = q * (len(v) - 1)
        lo = int(np.floor(pos))
        frac, hi = pos - lo, min(lo + 1, len(v) - 1)
        if frac == 0 or np.isinf(v[hi]):
            out.append(float(v[lo]) if frac == 0 else np.inf)
        else:
            out.append(float(v[lo] + frac * (v[hi] - v[lo])))
    return tuple(out)


def correlation(a, b, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """Pearson r of paired samples with a Fisher-z confidence interval and a bootstrap one (chapter III.2).

    Returns {"r", "fisher_lo", "fisher_hi", "boot_lo", "boot_hi", "n"}. The Fisher-z interval assumes
    bivariate normality; the bootstrap (resampling pairs, percentile interval) does not."""
    from scipy import stats

    a = np.asarray(checks.finite(a, "a", "numbers, one per pair"), dtype=float).ravel()
    b = np.asarray(checks.finite(b, "b", "numbers, one per pair"), dtype=float).ravel()
    if a.shape != b.shape or a.size < 4:
        raise ValueError(f"a and b must be paired samples of equal length >= 4, got {a.size} and {b.size}")
    for name, v in (("a", a), ("b", b)):
        if np.ptp(v) == 0:
            raise ValueError(f"{name} is constant ({v[0]!r} for all {v.size} pairs): it has no correlation")
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must lie in (0, 1)")
    checks.integer(n_boot, "n_boot", 10)
    checks.integer(seed, "seed")
    r = float(np.corrcoef(a, b)[0, 1])
    zc = stats.norm.ppf(0.5 + level / 2) / np.sqrt(a.size - 3)
    z = np.arctanh(np.clip(r, -0.999999, 0.999999))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(n_boot, a.size))
    with np.errstate(invalid="ignore", divide="ignore"):      # a resample of tied values has no r: dropped
        boot = np.array([np.corrcoef(a[i], b[i])[0, 1] for i in idx])
    boot = boot[np.isfinite(boot)]
    if not boot.size:
        raise ValueError(f"a and b take too few distinct values: no bootstrap resample of the {a.size} pairs has an r")
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return {"r": r, "fisher_lo": float(np.tanh(z - zc)), "fisher_hi": float(np.tanh(z + zc)),
            "boot_lo": float(lo), "boot_hi": float(hi), "n": int(a.size)}
