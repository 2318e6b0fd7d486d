"""Part II claims: plateaus of the two-unit teacher-student model and the ghosts left with skips
(experiment `plateaus`, read through `toy.PlateauResult`), and the escape-time law of chapter II.1.

Plateau times are measured by the level-independent detector `dynamics.slow_time` (time with
|d log L/dt| < kappa before the student's own threshold) at every kappa of the sweep, and differences are
judged with the shared margin rule (`stats.exceeds`).
"""
from __future__ import annotations

import numpy as np

from ..dynamics import curvature_kind
from ..stats import Z_MARGIN, exceeds, quartiles
from .base import FAILS, HOLDS, PARTLY, UNRESOLVED, Verdict

#: a plain run is on a plateau when its loss changes by less than kappa per unit time for at least this long
PLATEAU_MIN_TIME = 10.0


def _time(x: float) -> str:
    return "∞" if np.isinf(x) else f"{x:.0f}"


def _iqr(values) -> str:
    q25, med, q75 = quartiles(values)
    return f"{_time(med)} (IQR {_time(q25)}–{_time(q75)})"


def _verdict(parts: dict[str, bool | None]) -> tuple[str, str]:
    """HOLDS when every part came out as claimed, PARTLY when some did, FAILS when none did and at least one was
    refuted, UNRESOLVED when none was shown and none refuted (inside the margin)."""
    said = {True: "yes", False: "no", None: "not resolved at this size"}
    text = ", ".join(f"{name} {said[v]}" for name, v in parts.items())
    wins = [v is True for v in parts.values()]
    if all(wins):
        return HOLDS, text
    if any(wins):
        return PARTLY, text
    return (FAILS if any(v is False for v in parts.values()) else UNRESOLVED), text


def plateau_length(result) -> Verdict:
    """Plateaus and the Milnor-like attractor in the plain two-unit model, from experiment `plateaus`.

    Two parts: *plateaus*, the plain runs' median time on a plateau (at the headline kappa) is at least
    `PLATEAU_MIN_TIME`; and a *Milnor-like attractor*, some segment of the overlap line attracts an open set
    of starts, i.e. its curvature matrix M is definite (Fukumizu & Amari 2000). Holds when both do, partly holds
    when one does.
    """
    slow = {k: result.slow(k)["plain"] for k in result.kappas}
    median = quartiles(slow[result.kappa])[1]
    eig = result.curvature
    parts = {"plateaus": bool(median >= PLATEAU_MIN_TIME), "Milnor-like attractor": result.attracting != "nowhere"}
    verdict, said = _verdict(parts)
    sweep = "; ".join(f"κ = {k:g}: {_iqr(v)}" for k, v in slow.items())
    numbers = (f"plain net, {len(slow[result.kappa])} starts, time with |d log L/dt| < κ before its threshold: "
               f"{sweep}; overlap-line curvature M eigenvalues ({', '.join(f'{e:+.4f}' for e in eig)}): "
               f"attracting {result.attracting}; as claimed: {said}")
    return Verdict(numbers, verdict)


def _larger(a, b) -> bool | None:
    """True when mean(a) exceeds mean(b) by the margin rule, False when b exceeds a, None when neither does."""
    if exceeds(a, b):
        return True
    return False if exceeds(b, a) else None


def _shorter_everywhere(result) -> bool | None:
    """True when the skip runs' plateau time is shorter by the margin rule at every kappa, False when it is
    longer at some kappa, None otherwise (inside the margin somewhere, reversed nowhere)."""
    each = [_larger(result.slow(k)["plain"], result.slow(k)["skip"]) for k in result.kappas]
    if any(x is False for x in each):
        return False
    return True if all(x is True for x in each) else None


def ghost_plateaus(result) -> Verdict:
    """Ghosts, from experiment `plateaus` (plain and skip students from the same starts), three parts: the skip
    runs *start away* from the singular sets (shorter effective row |a_i| longer than the plain runs', by the
    margin rule); the *ghost is a fading slow region* (time on a plateau from the same starts shorter at
    alpha = 1 than at alpha = 0, by the margin rule, along the ghost curve); and *shorter plateaus* at every
    kappa of the sweep. Time to each student's own threshold is reported, not judged (the claim is about
    plateaus, not speed).
    """
    start = result.start_len()
    ghost = result.ghost()
    slow_alpha = dict(zip(ghost["alpha"], ghost["slow"]))
    a0, a1 = min(slow_alpha), max(slow_alpha)
    parts = {"start away": _larger(start["skip"], start["plain"]),
             "plateau fades with α": _larger(slow_alpha[a0], slow_alpha[a1]),
             "shorter plateaus at every κ": _shorter_everywhere(result)}
    verdict, said = _verdict(parts)
    sweep = "; ".join(f"κ = {k:g}: {_iqr(result.slow(k)['plain'])} vs {_iqr(result.slow(k)['skip'])}"
                      for k in result.kappas)
    hit = result.hit()
    numbers = (f"{len(start['plain'])} starts, plain vs skip: shorter effective row at the start "
               f"{np.median(start['plain']):.3f} vs {np.median(start['skip']):.3f}; time on a plateau: {sweep}; "
               f"ghost curve (κ = {result.kappa:g}, {ghost['slow'].shape[1]} starts): median plateau time "
               f"{np.median(slow_alpha[a0]):.0f} at α = {a0:g}, {np.median(slow_alpha[a1]):.0f} at α = {a1:g}, "
               f"slowest flow on the former line {ghost['speed'][0]:.1e} → {ghost['speed'][-1]:.3f}; time to own "
               f"threshold (not judged): {_iqr(hit['plain'])} vs {_iqr(hit['skip'])}; as claimed: {said}")
    return Verdict(numbers, verdict)


def escape_time_law(distance, plateau_time) -> Verdict:
    """Chapter II.1: the time a start at distance `distance` from the symmetric set spends on the plateau grows
    like log(1/distance). Fits time = a + b log(1/distance) over three or more distances; holds when the slope
    b exceeds `Z_MARGIN` standard errors of the fit and every step closer adds time, does not hold when the
    slope is negative beyond the margin, otherwise not resolved at this size."""
    x = np.log(1.0 / np.asarray(distance, dtype=float))
    y = np.asarray(plateau_time, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 3 or not np.all(np.isfinite(x)):
        raise ValueError("distance and plateau_time must be 1-D of equal length >= 3, distances positive")
    (slope, _), cov = np.polyfit(x, y, 1, cov=True)
    se = float(np.sqrt(cov[0, 0]))
    order = np.argsort(x)
    monotone = bool(np.all(np.diff(y[order]) > 0))
    verdict = (HOLDS if slope > Z_MARGIN * se and monotone else FAILS if slope < -Z_MARGIN * se else UNRESOLVED)
    numbers = (f"{len(x)} distances from {np.min(distance):.0e} to {np.max(distance):.0e}: slope "
               f"{slope:.2f} ± {se:.2f} time units per e-fold closer; longer at every step closer: "
               f"{'yes' if monotone else 'no'}")
    return Verdict(numbers, verdict)


def line_attracts(eigenvalues) -> Verdict:
    """Whether the overlap line has an attracting segment (the Fukumizu-Amari condition: its curvature matrix M
    definite, `dynamics.curvature_kind`), over teachers: `eigenvalues` holds M's eigenvalues, one row per
    teacher. Holds when every teacher's line attracts somewhere, partly holds when some do, does not hold when
    none does (every line a saddle, or semidefinite: not attracting to second order)."""
    eig = np.atleast_2d(np.asarray(eigenvalues, dtype=float))
    if eig.ndim != 2 or not eig.size or not np.all(np.isfinite(eig)):
        raise ValueError("eigenvalues must be finite, one row of M's eigenvalues per teacher")
    kinds = [curvature_kind(row) for row in eig]
    n, k, semi = len(eig), sum(c in ("|z| < 1", "|z| > 1") for c in kinds), kinds.count("undecided")
    verdict = HOLDS if k == n else PARTLY if k else FAILS
    ratio = np.abs(eig).min(axis=1) / np.abs(eig).max(axis=1)
    numbers = (f"{n} teacher{'s' if n > 1 else ''}: M definite for {k}, semidefinite (a zero eigenvalue) for "
               f"{semi}, indefinite for {n - k - semi}; smallest |eigenvalue| / largest from {ratio.min():.2g} to "
               f"{ratio.max():.2g}")
    return Verdict(numbers, verdict)


def overlap_on_plateau(gap_on_plateau, gap_at_end) -> Verdict:
    """Chapter II.1: runs sit near the overlap set while on a plateau. Per run, the median of
    ``1 - |cos(J1, J2)|`` over its plateau times and its value at the end (at the teacher's distinct units),
    compared on a log scale by the margin rule: holds when the end is farther from overlap than the plateau,
    does not hold when it is nearer, else not resolved at this size."""
    on, end = np.asarray(gap_on_plateau, dtype=float), np.asarray(gap_at_end, dtype=float)
    if on.shape != end.shape or on.ndim != 1 or np.any(on <= 0) or np.any(end <= 0):
        raise ValueError("gap_on_plateau and gap_at_end must be positive, one per run, of equal length")
    farther = _larger(np.log10(end), np.log10(on))
    verdict = HOLDS if farther else FAILS if farther is False else UNRESOLVED
    numbers = (f"{len(on)} runs: median 1 - |cos(J1, J2)| on the plateau {np.median(on):.2g}, at the end "
               f"{np.median(end):.2g}")
    return Verdict(numbers, verdict)


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


def captured_by_definition(result) -> dict[str, bool | None]:
    """{definition: whether the plain runs' captured fraction exceeds zero by the margin rule (None: inside it)},
    per (radius, minimum stay) of a `toy.StayReader` result; the parts `line_captures` judges."""
    return {_definition(r, m): _larger(c.astype(float), np.zeros(len(c)))
            for (r, m), (c, _) in _captured_stays(result, "plain").items()}


def plain_vs_skip_by_definition(result) -> dict[str, bool | None]:
    """{definition: whether the plain runs' captured fraction exceeds the skip runs' by the margin rule (False: the
    reverse, None: inside it)}, per (radius, minimum stay); the parts `capture_plain_vs_skip` judges."""
    plain, skip = _captured_stays(result, "plain"), _captured_stays(result, "skip")
    return {_definition(*k): _larger(plain[k][0].astype(float), skip[k][0].astype(float)) for k in plain}


def line_captures(result) -> Verdict:
    """Capture by an attracting segment of the overlap line, from experiment `capture` (the plain student on a
    teacher whose curvature M is positive along the input its units read). A run is captured at (radius r,
    minimum stay s) when it stays within r of the line (Euclidean, in parameter space) for at least s without a
    break. Per definition, the
    captured fraction must exceed zero by the margin rule; holds when it does at every definition, partly holds
    when at some. The stays (median length, how many were still near the line when the integration stopped) and
    the drift along z during them are reported, not judged."""
    per = _captured_stays(result, "plain")
    verdict, said = _verdict(captured_by_definition(result))
    r_mid = result.radii[len(result.radii) // 2]
    c, st = per[(r_mid, result.min_stays[0])]
    table = "; ".join(f"{_definition(r, m)}: {c.mean():.1%}" for (r, m), (c, _) in per.items())
    eig = ", ".join(f"{e:+.2e}" for e in result.curvature)
    numbers = (f"{len(c)} plain starts, curvature M eigenvalues ({eig}): attracting {result.attracting}; "
               f"captured: {table}; at r = {r_mid:g}: {_stay_numbers(c, st, result.t_max)}; as claimed: {said}")
    return Verdict(numbers, verdict)


def capture_plain_vs_skip(result) -> Verdict:
    """Plain vs skip students from the same starts, from experiment `capture` (a teacher whose line attracts) or
    `plateaus` (our teacher, whose overlap line is a saddle everywhere): stays near the plain net's overlap line
    (for the skip student, where the line was). Per definition (radius r, minimum stay s), the plain runs'
    captured fraction must exceed the skip runs' by the margin rule: holds at every definition, partly holds at some, does not hold when none does and the
    skip runs are captured more somewhere, not resolved otherwise. Stays and drift along z are reported."""
    plain, skip = _captured_stays(result, "plain"), _captured_stays(result, "skip")
    verdict, said = _verdict(plain_vs_skip_by_definition(result))
    r_top, s_low = result.radii[-1], result.min_stays[0]
    c, st = plain[(r_top, s_low)]
    table = "; ".join(f"{_definition(r, m)}: {plain[(r, m)][0].mean():.1%} vs {skip[(r, m)][0].mean():.1%}"
                      for (r, m) in plain)
    numbers = (f"{len(c)} starts, captured plain vs skip: {table}; plain at r = {r_top:g}, stay ≥ {s_low:g}: "
               f"{_stay_numbers(c, st, result.t_max)}; as claimed: {said}")
    return Verdict(numbers, verdict)
