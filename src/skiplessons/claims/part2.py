"""Part II claims: plateaus of the two-unit teacher-student model and the ghosts left with skips
(experiment `plateaus`, read through `toy.PlateauResult`), and the escape-time law of chapter II.1.

Plateau times are measured by the level-independent detector `dynamics.slow_time` (time with
|d log L/dt| < kappa before the student's own threshold) at every kappa of the sweep, and differences are
judged with the book's one comparison rule (`claims.base.judge`).
"""
from __future__ import annotations

import numpy as np

from ..dynamics import curvature_kind
from ..stats import Comparison, estimate, exact, one_sample, quartiles, welch
from .base import Verdict, judge

#: a plain run is on a plateau when its loss changes by less than kappa per unit time for at least this long
PLATEAU_MIN_TIME = 10.0
#: the smallest difference in time on a plateau that matters: half the shortest plateau we call one
DELTA_TIME = PLATEAU_MIN_TIME / 2
#: the smallest difference in a captured fraction that matters: one run in a hundred
DELTA_FRACTION = 0.01


def _time(x: float) -> str:
    return "∞" if np.isinf(x) else f"{x:.0f}"


def _iqr(values) -> str:
    q25, med, q75 = quartiles(values)
    return f"{_time(med)} (IQR {_time(q25)}–{_time(q75)})"


def plateau_length(result) -> Verdict:
    """Plateaus in the plain two-unit model, from experiment `plateaus`.

    Primary comparison: the plain runs' time on a plateau (at the headline kappa) minus `PLATEAU_MIN_TIME`
    (`stats.one_sample`, δ = `DELTA_TIME`). Secondary: the same at every other kappa of the sweep, and whether
    some segment of the overlap line attracts an open set of starts (its curvature matrix M definite, Fukumizu &
    Amari 2000; an exact computation, +1 attracting, -1 a saddle everywhere, 0 undecided at second order).
    """
    slow = {k: result.slow(k)["plain"] for k in result.kappas}
    eig = result.curvature
    attract = {"nowhere": -1.0, "undecided": 0.0}.get(result.attracting, 1.0)
    second = {f"plateaus at κ = {k:g}": one_sample(v, PLATEAU_MIN_TIME, delta=DELTA_TIME)
              for k, v in slow.items() if k != result.kappa}
    second["Milnor-like attractor"] = exact(attract)
    sweep = "; ".join(f"κ = {k:g}: {_iqr(v)}" for k, v in slow.items())
    numbers = (f"plain net, {len(slow[result.kappa])} starts, time with |d log L/dt| < κ before its threshold: "
               f"{sweep}; overlap-line curvature M eigenvalues ({', '.join(f'{e:+.4f}' for e in eig)}): "
               f"attracting {result.attracting}")
    return judge(f"time on a plateau at κ = {result.kappa:g} minus {PLATEAU_MIN_TIME:g}",
                 one_sample(slow[result.kappa], PLATEAU_MIN_TIME, delta=DELTA_TIME), numbers, second)


def _shorter(result, kappa) -> Comparison:
    """Plain minus skip time on a plateau at `kappa`, paired by start (the same starts)."""
    slow = result.slow(kappa)
    return one_sample(slow["plain"] - slow["skip"], delta=DELTA_TIME)


def ghost_plateaus(result) -> Verdict:
    """Ghosts, from experiment `plateaus` (plain and skip students from the same starts). Primary comparison:
    the time on a plateau at the headline kappa, plain minus skip, paired by start. Secondary: the skip runs
    *start away* from the singular sets (shorter effective row |a_i|, skip minus plain, paired); the *ghost is a
    fading slow region* (time on a plateau at alpha = 0 minus alpha = 1 along the ghost curve, paired); shorter
    plateaus at every other kappa. Time to each student's own threshold is reported, not judged (the claim is
    about plateaus, not speed)."""
    start = result.start_len()
    ghost = result.ghost()
    slow_alpha = dict(zip(ghost["alpha"], ghost["slow"]))
    a0, a1 = min(slow_alpha), max(slow_alpha)
    second = {"start away": one_sample(start["skip"] - start["plain"]),
              "plateau fades with α": one_sample(slow_alpha[a0] - slow_alpha[a1], delta=DELTA_TIME)}
    second |= {f"shorter at κ = {k:g}": _shorter(result, k) for k in result.kappas if k != result.kappa}
    sweep = "; ".join(f"κ = {k:g}: {_iqr(result.slow(k)['plain'])} vs {_iqr(result.slow(k)['skip'])}"
                      for k in result.kappas)
    hit = result.hit()
    numbers = (f"{len(start['plain'])} starts, plain vs skip: shorter effective row at the start "
               f"{np.median(start['plain']):.3f} vs {np.median(start['skip']):.3f}; time on a plateau: {sweep}; "
               f"ghost curve (κ = {result.kappa:g}, {ghost['slow'].shape[1]} starts): median plateau time "
               f"{np.median(slow_alpha[a0]):.0f} at α = {a0:g}, {np.median(slow_alpha[a1]):.0f} at α = {a1:g}, "
               f"slowest flow on the former line {ghost['speed'][0]:.1e} → {ghost['speed'][-1]:.3f}; time to own "
               f"threshold (not judged): {_iqr(hit['plain'])} vs {_iqr(hit['skip'])}")
    return judge(f"time on a plateau at κ = {result.kappa:g}, plain − skip (same starts)",
                 _shorter(result, result.kappa), numbers, second)


def escape_time_law(distance, plateau_time, resolution: float) -> Verdict:
    """Chapter II.1: the time a start at distance `distance` from the symmetric set spends on the plateau grows
    like log(1/distance). Primary comparison: the slope b of time = a + b log(1/distance), fitted over three or
    more distances (`stats.estimate`, n - 2 df). The times are read off a trajectory recorded every `resolution`
    time units, so each is known to ±resolution/2 only: that bound on the slope,
    (resolution/2) Σ|x - x̄| / Σ(x - x̄)², widens its interval (a fit through quantized times can have no
    spread at all). Whether every step closer adds time is reported."""
    x = np.log(1.0 / np.asarray(distance, dtype=float))
    y = np.asarray(plateau_time, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 3 or not np.all(np.isfinite(x)) or not np.all(np.isfinite(y)):
        raise ValueError("distance and plateau_time must be finite, 1-D, of equal length >= 3, distances positive")
    if not (np.isfinite(resolution) and resolution > 0):
        raise ValueError(f"resolution={resolution!r} must be the positive time between recorded points")
    (slope, _), cov = np.polyfit(x, y, 1, cov="unscaled")
    resid = y - np.polyval(np.polyfit(x, y, 1), x)
    se = float(np.sqrt(cov[0, 0] * (resid @ resid) / (len(x) - 2)))
    dx = x - x.mean()
    bound = float(resolution / 2 * np.abs(dx).sum() / (dx @ dx))
    monotone = bool(np.all(np.diff(y[np.argsort(x)]) > 0))
    numbers = (f"{len(x)} distances from {np.min(distance):.0e} to {np.max(distance):.0e}: slope {slope:.2f} time "
               f"units per e-fold closer (times recorded every {resolution:.3g}); longer at every step closer: "
               f"{'yes' if monotone else 'no'}")
    return judge("slope of the time on a plateau against log(1/distance)",
                 estimate(slope, se, len(x) - 2, len(x), bound=bound, delta=DELTA_TIME), numbers)


def line_attracts(eigenvalues) -> Verdict:
    """Whether the overlap line has an attracting segment (the Fukumizu-Amari condition: its curvature matrix M
    definite, `dynamics.curvature_kind`), over teachers: `eigenvalues` holds M's eigenvalues, one row per
    teacher. An exact computation (`stats.exact`): +1 when some teacher's line attracts somewhere (holds), -1
    when every teacher's line is a saddle everywhere (does not hold), 0 when none attracts but some is
    semidefinite, undecided at second order (not resolved)."""
    eig = np.atleast_2d(np.asarray(eigenvalues, dtype=float))
    if eig.ndim != 2 or not eig.size or not np.all(np.isfinite(eig)):
        raise ValueError("eigenvalues must be finite, one row of M's eigenvalues per teacher")
    kinds = [curvature_kind(row) for row in eig]
    n, k, semi = len(eig), sum(c in ("|z| < 1", "|z| > 1") for c in kinds), kinds.count("undecided")
    ratio = np.abs(eig).min(axis=1) / np.abs(eig).max(axis=1)
    numbers = (f"{n} teacher{'s' if n > 1 else ''}: M definite for {k}, semidefinite (a zero eigenvalue) for "
               f"{semi}, indefinite for {n - k - semi}; smallest |eigenvalue| / largest from {ratio.min():.2g} to "
               f"{ratio.max():.2g}")
    return judge("some teacher's overlap line attracts (exact)", exact(1.0 if k else 0.0 if semi else -1.0, n),
                 numbers)


def overlap_on_plateau(gap_on_plateau, gap_at_end) -> Verdict:
    """Chapter II.1: runs sit near the overlap set while on a plateau. Per run, the median of
    ``1 - |cos(J1, J2)|`` over its plateau times and its value at the end (at the teacher's distinct units).
    Primary comparison: log10 of the end's minus the plateau's, paired by run (δ: a tenth of a decade)."""
    on, end = np.asarray(gap_on_plateau, dtype=float), np.asarray(gap_at_end, dtype=float)
    if on.shape != end.shape or on.ndim != 1 or np.any(on <= 0) or np.any(end <= 0):
        raise ValueError("gap_on_plateau and gap_at_end must be positive, one per run, of equal length")
    numbers = (f"{len(on)} runs: median 1 - |cos(J1, J2)| on the plateau {np.median(on):.2g}, at the end "
               f"{np.median(end):.2g}")
    return judge("log10 distance from overlap, end − plateau (paired)",
                 one_sample(np.log10(end) - np.log10(on), delta=0.1), numbers)


def _captured_stays(result, arch: str):
    """(radius, min_stay) -> (captured booleans, stays) for student `arch` of a `toy.StayReader` result."""
    return {(r, m): (result.captured(arch, r, m), result.stay(arch, r)) for r in result.radii
            for m in result.min_stays}


def _stay_numbers(captured, stay, t_max: float) -> str:
    """Median stay, how many captured runs were still near the line at the end, and their drift along z."""
    if not captured.any():
        return "none captured"
    left = captured & ~stay.to_end
    return (f"stay median {np.median(stay.duration[captured]):.0f} (still there at t = {t_max:.0f}: "
            f"{int((captured & stay.to_end).sum())}/{int(captured.sum())}), drift along z median "
            f"{np.nanmedian(stay.drift[captured]):.2g}, max {np.nanmax(stay.drift[captured]):.2g}"
            + (f", left with |z| median {np.nanmedian(np.abs(stay.z_out[left])):.2f}" if left.any() else ""))


def _definition(r: float, m: float) -> str:
    return f"r = {r:g}, stay ≥ {m:g}"


def primary_definition(result) -> tuple[float, float]:
    """The capture definition every capture claim is judged on, declared before the run: the middle radius and
    the middle minimum stay of the result's grid; the other definitions are secondary comparisons."""
    return result.radii[len(result.radii) // 2], result.min_stays[len(result.min_stays) // 2]


def captured_by_definition(result) -> dict[str, Comparison]:
    """{definition: the plain runs' captured fraction against zero}, per (radius, minimum stay) of a
    `toy.StayReader` result (`stats.one_sample` on the 0/1 captures)."""
    return {_definition(r, m): one_sample(c.astype(float), delta=DELTA_FRACTION)
            for (r, m), (c, _) in _captured_stays(result, "plain").items()}


def plain_vs_skip_by_definition(result) -> dict[str, Comparison]:
    """{definition: the plain runs' captured fraction minus the skip runs'}, per (radius, minimum stay)
    (`stats.welch` on the 0/1 captures)."""
    plain, skip = _captured_stays(result, "plain"), _captured_stays(result, "skip")
    return {_definition(*k): welch(plain[k][0].astype(float), skip[k][0].astype(float), delta=DELTA_FRACTION)
            for k in plain}


def _split(per: dict, result) -> tuple[str, Comparison, dict]:
    """The primary definition's comparison and the others (secondary)."""
    name = _definition(*primary_definition(result))
    return name, per[name], {k: v for k, v in per.items() if k != name}


def line_captures(result) -> Verdict:
    """Capture by an attracting segment of the overlap line, from experiment `capture` (the plain student on a
    teacher whose curvature M is positive along the input its units read). A run is captured at (radius r,
    minimum stay s) when it stays within r of the line (Euclidean, in parameter space) for at least s without a
    break. Primary comparison: the plain runs' captured fraction against zero at `primary_definition`; the other
    definitions are secondary. The stays (median length, how many were still near the line when the
    integration stopped) and the drift along z during them are reported, not judged."""
    per = _captured_stays(result, "plain")
    name, primary, second = _split(captured_by_definition(result), result)
    r_mid, s_mid = primary_definition(result)
    c, st = per[(r_mid, s_mid)]
    table = "; ".join(f"{_definition(r, m)}: {c.mean():.1%}" for (r, m), (c, _) in per.items())
    eig = ", ".join(f"{e:+.2e}" for e in result.curvature)
    numbers = (f"{len(c)} plain starts, curvature M eigenvalues ({eig}): attracting {result.attracting}; "
               f"captured: {table}; at {name}: {_stay_numbers(c, st, result.t_max)}")
    return judge(f"captured fraction of plain runs at {name}", primary, numbers, second)


def capture_plain_vs_skip(result) -> Verdict:
    """Plain vs skip students from the same starts, from experiment `capture` (a teacher whose line attracts) or
    `plateaus` (our teacher, whose overlap line is a saddle everywhere): stays near the plain net's overlap line
    (for the skip student, where the line was). Primary comparison: the plain runs' captured fraction minus the
    skip runs' at `primary_definition`; the other definitions are secondary. Stays and drift along z are
    reported."""
    plain, skip = _captured_stays(result, "plain"), _captured_stays(result, "skip")
    name, primary, second = _split(plain_vs_skip_by_definition(result), result)
    c, st = plain[primary_definition(result)]
    table = "; ".join(f"{_definition(r, m)}: {plain[(r, m)][0].mean():.1%} vs {skip[(r, m)][0].mean():.1%}"
                      for (r, m) in plain)
    numbers = (f"{len(c)} starts, captured plain vs skip: {table}; plain at {name}: "
               f"{_stay_numbers(c, st, result.t_max)}")
    return judge(f"captured fraction at {name}, plain − skip", primary, numbers, second)
