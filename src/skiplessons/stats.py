"""The statistics every verdict uses: one comparison rule, the Holm correction, intervals, correlation, quartiles.

One rule decides every "A is larger than B" in the book and the ledger (`welch`, `one_sample`, `estimate` make a
`Comparison`; its `outcome` is the rule): Welch's t with the Welch-Satterthwaite degrees of freedom, one-sided
level `ALPHA` = 2.5 % in each direction (so a two-sided 95 % interval of A - B decides: above zero, *shown*; below,
*reversed*; across, *inside*; fewer than two runs a side, *too few runs*).

Why Welch's t and not a permutation test: with n runs a side an exact permutation test cannot reach a one-sided
2.5 % below n = 4 (its smallest p is 1 / C(2n, n): 1/6 at n = 2, 1/20 at n = 3), and it has no place for a
measurement's own error. Welch's t reaches the level at every n, keeps it when the two groups' spreads differ
(plain nets' accuracies spread ten times more than residual nets'), and takes a measurement error as what it
is: a standard error of a side's mean (e.g. the spread over SLQ probes) is added to the variance with infinite
degrees of freedom; a deterministic bound (e.g. SLQ's quadrature resolution) widens the interval by its size,
never in quadrature. Simulated under the null with equal spreads, the rule is conservative at two or three runs a
side (false-positive rate about 1.2 % and 1.7 %) and at the level from about five (`tests/test_stats.py`).

A comparison inside its interval is split in two (`Comparison.negligible`): the 90 % interval lies inside
±delta (the smallest difference that matters for the claim, stated with it), or it is too imprecise, and
`runs_needed` says how many runs a side would resolve a gap of the observed size with 80 % power.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import stats as _st

from . import checks

#: the one-sided level of every primary comparison (a two-sided 95 % interval)
ALPHA = 0.025
#: the level of each side of the equivalence test (a 90 % interval inside ±delta)
EQUIVALENCE_LEVEL = 0.05
#: the power the run count in `Comparison.runs_needed` is computed for
POWER = 0.8

SHOWN, REVERSED, INSIDE, TOO_FEW = "shown", "reversed", "inside", "too few runs"
OUTCOMES = (SHOWN, REVERSED, INSIDE, TOO_FEW)


@dataclass(frozen=True)
class Comparison:
    """An estimated difference A - B (`estimate`, in the units of the measure), its standard error `se` with
    `df` degrees of freedom (sampling and measurement errors combined), a deterministic `bound` on its error,
    `delta` (the smallest difference that matters for the claim; 0: none stated), the runs `n` on each side,
    the variance of one run's value summed over the sides (`unit_var`, for the power computation; `paired` for
    one-sample comparisons) or a run count computed elsewhere (`needed`), and `min_runs`, the fewest runs a side
    it can be judged with."""

    estimate: float
    se: float
    df: float
    n: tuple[int, int]
    bound: float = 0.0
    delta: float = 0.0
    unit_var: float | None = None
    paired: bool = False
    needed: int | None = None
    min_runs: int = 2

    def __post_init__(self):
        bad = {k: v for k, v in (("estimate", self.estimate), ("se", self.se), ("bound", self.bound),
                                 ("delta", self.delta)) if not np.isfinite(v)}
        if bad or self.se < 0 or self.bound < 0 or self.delta < 0 or not self.df > 0:
            raise ValueError(f"a Comparison needs a finite estimate and non-negative finite se, bound and delta, "
                             f"and df > 0; got estimate={self.estimate!r}, se={self.se!r}, df={self.df!r}, "
                             f"bound={self.bound!r}, delta={self.delta!r}")

    @property
    def enough(self) -> bool:
        return min(self.n) >= self.min_runs

    def interval(self, level: float = 2 * ALPHA) -> tuple[float, float]:
        """The two-sided (1 - level) interval of A - B: estimate ± (t quantile × se + bound)."""
        if not 0 < level < 1:
            raise ValueError(f"level={level!r} must lie in (0, 1)")
        half = (_st.t.ppf(1 - level / 2, self.df) * self.se if self.se > 0 else 0.0) + self.bound
        return self.estimate - half, self.estimate + half

    @property
    def outcome(self) -> str:
        """The rule: *shown* when the 95 % interval lies above zero, *reversed* below, *inside* across it,
        *too few runs* with fewer than `min_runs` a side."""
        if not self.enough:
            return TOO_FEW
        lo, hi = self.interval()
        return SHOWN if lo > 0 else REVERSED if hi < 0 else INSIDE

    def p_value(self, direction: str = SHOWN) -> float:
        """One-sided p of A > B (`SHOWN`) or of A < B (`REVERSED`), the bound counted against the claim."""
        if direction not in (SHOWN, REVERSED):
            raise ValueError(f"direction={direction!r} must be {SHOWN!r} or {REVERSED!r}")
        gap = (self.estimate if direction == SHOWN else -self.estimate) - self.bound
        if self.se == 0:
            return 0.0 if gap > 0 else 1.0
        return float(_st.t.sf(gap / self.se, self.df))

    @cached_property
    def runs_needed(self) -> int | None:
        """Runs a side that would show a true difference of the observed size with probability `POWER` (None:
        more runs cannot, because the bound is as large as the gap, or no run count is known)."""
        if self.needed is not None or self.unit_var is None:
            return self.needed
        return _runs_needed(self.estimate, self.bound, self.unit_var, self.paired)

    @property
    def negligible(self) -> bool:
        """Whether the 90 % interval of A - B lies inside ±delta: no difference that matters (False without a
        delta, or with too few runs)."""
        if not self.enough or self.delta <= 0:
            return False
        lo, hi = self.interval(2 * EQUIVALENCE_LEVEL)
        return -self.delta < lo and hi < self.delta

    def __str__(self) -> str:
        lo, hi = self.interval()
        df = "∞" if np.isinf(self.df) else f"{self.df:.1f}"
        extra = f", bound ±{self.bound:.3g}" if self.bound else ""
        return f"{self.estimate:+.3g} (95% interval {lo:+.3g} to {hi:+.3g}; n = {self.n[0]}, {self.n[1]}; df {df}{extra})"


def _values(values, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=float).ravel()
    if not len(values) or not np.isfinite(values).all():
        raise ValueError(f"{name} must be finite numbers, at least one, one per run; got {values.tolist()}")
    return values


def _non_negative(**kw) -> None:
    bad = {k: v for k, v in kw.items() if not (np.isfinite(v) and v >= 0)}
    if bad:
        raise ValueError(f"{', '.join(f'{k}={v!r}' for k, v in bad.items())} must be finite and >= 0")


def _runs_needed(gap: float, bound: float, unit_var: float, one_sample: bool) -> int | None:
    """Runs a side for which a true difference `gap` is shown with probability `POWER` (None when more runs
    cannot: the bound is as large as the gap; 2 when the runs have no spread): the normal approximation, then
    stepped up until the t quantiles at that n agree."""
    usable = abs(gap) - bound
    if usable <= 0:
        return None
    if unit_var <= 0:
        return 2
    z = _st.norm.ppf(1 - ALPHA) + _st.norm.ppf(POWER)
    n = max(2, int(np.ceil(z**2 * unit_var / usable**2)))
    while n < 10**7:
        df = n - 1 if one_sample else 2 * n - 2
        if usable / np.sqrt(unit_var / n) >= _st.t.ppf(1 - ALPHA, df) + _st.t.ppf(POWER, df):
            return n
        n += 1
    return None


def welch(a, b, *, error_a: float = 0.0, error_b: float = 0.0, bound_a: float = 0.0, bound_b: float = 0.0,
          delta: float = 0.0) -> Comparison:
    """mean(a) - mean(b), one number per run in `a` and `b` (Welch's t, Welch-Satterthwaite df). `error_a`,
    `error_b`: standard errors of each side's mean from the measurement itself (added to the variance, infinite
    df); `bound_a`, `bound_b`: deterministic bounds on each side's mean (added to the interval)."""
    a, b = _values(a, "a"), _values(b, "b")
    _non_negative(error_a=error_a, error_b=error_b, bound_a=bound_a, bound_b=bound_b, delta=delta)
    va = a.var(ddof=1) / len(a) if len(a) > 1 else 0.0
    vb = b.var(ddof=1) / len(b) if len(b) > 1 else 0.0
    var = va + vb + error_a**2 + error_b**2
    denom = (va**2 / (len(a) - 1) if len(a) > 1 else 0.0) + (vb**2 / (len(b) - 1) if len(b) > 1 else 0.0)
    df = var**2 / denom if denom > 0 else np.inf
    unit = va * len(a) + vb * len(b) + error_a**2 * len(a) + error_b**2 * len(b)
    gap = float(a.mean() - b.mean())
    return Comparison(gap, float(np.sqrt(var)), float(df), (len(a), len(b)), bound_a + bound_b, delta, unit)


def one_sample(a, value: float = 0.0, *, error: float = 0.0, bound: float = 0.0, delta: float = 0.0) -> Comparison:
    """mean(a) - `value` (Student's t, n - 1 df): a side against a known number, or paired runs as `a` = the
    per-pair differences. `error` and `bound` as in `welch`."""
    a = _values(a, "a")
    _non_negative(error=error, bound=bound, delta=delta)
    if not np.isfinite(value):
        raise ValueError(f"value={value!r} must be a finite number")
    va = a.var(ddof=1) / len(a) if len(a) > 1 else 0.0
    var = va + error**2
    df = var**2 / (va**2 / (len(a) - 1)) if va > 0 else np.inf
    gap = float(a.mean() - value)
    return Comparison(gap, float(np.sqrt(var)), float(df), (len(a), len(a)), bound, delta,
                      va * len(a) + error**2 * len(a), paired=True)


def estimate(value: float, se: float, df: float, n: int, *, bound: float = 0.0, delta: float = 0.0,
             runs_needed: int | None = None, min_runs: int = 2) -> Comparison:
    """A fitted quantity against zero (a regression slope, a Fisher-z correlation) with its own standard error
    and df; `n` is the number of runs it was fitted from."""
    _non_negative(se=se, bound=bound, delta=delta)
    return Comparison(float(value), float(se), float(df), (int(n), int(n)), bound, delta, needed=runs_needed,
                      min_runs=min_runs)


def negative_r(r: float, n: int, *, delta_r: float = 0.0, min_runs: int = 4) -> Comparison:
    """A Pearson r of `n` pairs as evidence of a negative correlation: Fisher's z, -atanh(r), against zero with
    standard error 1/sqrt(n - 3) (shown when the correlation is negative beyond its interval); δ = atanh(`delta_r`);
    the pairs needed for `POWER` at this z, (z quantiles / z)² + 3."""
    if not (np.isfinite(r) and -1 <= r <= 1):
        raise ValueError(f"r={r!r} must be a correlation in [-1, 1]")
    z = -float(np.arctanh(np.clip(r, -0.999999, 0.999999)))
    quantiles = _st.norm.ppf(1 - ALPHA) + _st.norm.ppf(POWER)
    need = int(np.ceil((quantiles / abs(z)) ** 2 + 3)) if z else None
    return estimate(z, 1 / np.sqrt(max(n - 3, 1)), np.inf, n, delta=float(np.arctanh(delta_r)), runs_needed=need,
                    min_runs=min_runs)


def exact(value: float, n: int = 1, *, delta: float = 0.0) -> Comparison:
    """A difference known exactly (a computed count, no sampling): shown or reversed by its sign alone."""
    return estimate(value, 0.0, np.inf, n, delta=delta, min_runs=1)


def holm(comparisons: Mapping[str, Comparison], level: float = ALPHA) -> dict[str, str]:
    """{name: outcome after Holm's step-down correction for their number}: each comparison's smaller one-sided p
    (in the direction its estimate points) is held against level / (m - rank) in increasing order; the first
    that fails stops the rest (*inside*). *too few runs* stays."""
    if not 0 < level < 0.5:
        raise ValueError(f"level={level!r} must lie in (0, 0.5)")
    ready = {k: c for k, c in comparisons.items() if c.enough}
    ps = {k: min((c.p_value(SHOWN), SHOWN), (c.p_value(REVERSED), REVERSED)) for k, c in ready.items()}
    out = {k: TOO_FEW for k in comparisons if k not in ready}
    m, stopped = len(ps), False
    for rank, (k, (p, direction)) in enumerate(sorted(ps.items(), key=lambda kv: kv[1][0])):
        stopped = stopped or p >= level / (m - rank)
        out[k] = INSIDE if stopped else direction
    return {k: out[k] for k in comparisons}


def mean_error(se, bound) -> tuple[float, float]:
    """The measurement error of a mean over nets from each net's own (standard error, deterministic bound):
    standard errors average down as sqrt(sum se²) / n, bounds do not (their mean). The one place every claim
    that uses a measurement error takes it from."""
    se, bound = _values(se, "se"), _values(bound, "bound")
    if se.shape != bound.shape or (se < 0).any() or (bound < 0).any():
        raise ValueError(f"se and bound must be non-negative, one per net, of equal length; got {se.size} and "
                         f"{bound.size}")
    return float(np.sqrt((se**2).sum()) / len(se)), float(bound.mean())


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
