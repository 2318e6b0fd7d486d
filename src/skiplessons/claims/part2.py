"""Part II claims: plateaus of the two-unit teacher-student model and the ghosts left with skips
(experiment `plateaus`, read through `experiments.part2.PlateauResult`), and the escape-time law of chapter II.1.

Plateau times are measured by the level-independent detector `dynamics.slow_time` (time with
|d log L/dt| < kappa before the student's own threshold) at every kappa of the sweep, and differences are
judged with the book's one comparison rule (`claims.base.judge`).
"""
from __future__ import annotations

import numpy as np

from ..dynamics import curvature_kind
from ..stats import SHOWN, Comparison, estimate, exact, one_sample, quartiles, welch
from .base import EQUAL, Verdict, check, judge

#: a plain run is on a plateau when its loss changes by less than kappa per unit time for at least this long
PLATEAU_MIN_TIME = 10.0
#: the smallest difference in time on a plateau that matters: half the shortest plateau we call one
DELTA_TIME = PLATEAU_MIN_TIME / 2
#: a closed-form expected loss off its Monte Carlo estimate by 2 % of the loss is a wrong formula (a missing term
#: of the Gaussian integrals moves it by tens of percent)
DELTA_CLOSED_FORM = 0.02
#: the smallest difference in a captured fraction that matters: one run in a hundred
DELTA_FRACTION = 0.01


def _time(x: float) -> str:
    return "∞" if np.isinf(x) else f"{x:.0f}"


def _iqr(values) -> str:
    q25, med, q75 = quartiles(values)
    return f"{_time(med)} (IQR {_time(q25)}–{_time(q75)})"


@check
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


@check
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


def closed_form_agrees(closed_form: float, monte_carlo: float, se: float, n_samples: int) -> Verdict:
    """Chapters II.1-II.2: the closed-form expected loss (`dynamics.expected_loss`) equals its Monte Carlo
    estimate from `n_samples` Gaussian inputs, of standard error `se` (`dynamics.monte_carlo_loss`): a test of
    the code. Primary comparison: (closed form − Monte Carlo) / closed form, with the estimate's relative
    standard error (`stats.estimate`), agreeing with zero within δ = `DELTA_CLOSED_FORM` (`EQUAL`)."""
    values = {"closed_form": closed_form, "monte_carlo": monte_carlo, "se": se}
    bad = {k: v for k, v in values.items() if not np.isfinite(v)}
    if bad or se < 0 or closed_form <= 0 or n_samples < 2:
        raise ValueError(f"closed_form must be a positive loss, monte_carlo finite, se >= 0 and n_samples >= 2; "
                         f"got {values | {'n_samples': n_samples}}")
    numbers = (f"closed form {closed_form:.5f}, Monte Carlo {monte_carlo:.5f} ± {se:.5f} ({n_samples:,} inputs): "
               f"{(closed_form - monte_carlo) / se:+.2f} standard errors")
    return judge("(closed form − Monte Carlo) / closed form",
                 estimate((closed_form - monte_carlo) / closed_form, se / closed_form, np.inf, n_samples,
                          delta=DELTA_CLOSED_FORM), numbers, expectation=EQUAL)


def escape_time_law(distance, plateau_time, resolution: float, scale: str | None = None) -> Verdict:
    """Chapter II.1: the time a start at distance `distance` from the symmetric set spends on the plateau grows
    like log(1/distance). Primary comparison: the slope b of time = a + b log(1/distance), fitted over three or
    more distances (`stats.estimate`, n - 2 df). The times are read off a trajectory recorded every `resolution`
    time units, so each is known to ±resolution/2 only: that bound on the slope,
    (resolution/2) Σ|x - x̄| / Σ(x - x̄)², widens its interval (a fit through quantized times can have no
    spread at all). Whether every step closer adds time is reported.
    `scale`: the scale of the runs the values come from (for `expect`)."""
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
                 estimate(slope, se, len(x) - 2, len(x), bound=bound, delta=DELTA_TIME), numbers, scale=scale)


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


def overlap_on_plateau(gap_on_plateau, gap_at_end, scale: str | None = None) -> Verdict:
    """Chapter II.1: runs sit near the overlap set while on a plateau. Per run, the median of
    ``1 - |cos(J1, J2)|`` over its plateau times and its value at the end (at the teacher's distinct units).
    Primary comparison: log10 of the end's minus the plateau's, paired by run (δ: a tenth of a decade).
    `scale`: the scale of the runs the values come from (for `expect`)."""
    on, end = np.asarray(gap_on_plateau, dtype=float), np.asarray(gap_at_end, dtype=float)
    if on.shape != end.shape or on.ndim != 1 or np.any(on <= 0) or np.any(end <= 0):
        raise ValueError("gap_on_plateau and gap_at_end must be positive, one per run, of equal length")
    numbers = (f"{len(on)} runs: median 1 - |cos(J1, J2)| on the plateau {np.median(on):.2g}, at the end "
               f"{np.median(end):.2g}")
    return judge("log10 distance from overlap, end − plateau (paired)",
                 one_sample(np.log10(end) - np.log10(on), delta=0.1), numbers, scale=scale)


def _captured_stays(result, arch: str):
    """(radius, min_stay) -> (captured booleans, stays) for student `arch` of an `experiments.part2.StayReader` result."""
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
    """The capture definition the plain-vs-skip comparison on our teacher (experiment `plateaus`) is judged on,
    declared before the run: the middle radius and the middle minimum stay of the result's grid; the other
    definitions are secondary comparisons. (Experiment `capture` uses one radius, `dynamics.capture_radius`.)"""
    return result.radii[len(result.radii) // 2], result.min_stays[len(result.min_stays) // 2]


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


#: the smallest difference in a distance to the elimination set that matters: the size of the starts (their
#: weights are drawn from N(0, 0.01^2)), below which two runs are as near elimination as where they began
DELTA_DISTANCE = 0.01
#: the students of experiment `capture` (`experiments.part2.CAPTURE_STUDENTS`) the checks compare
SAME_TARGET, READOUT = "skip, plain target", "plain + readout, skip target"


def _over_time(result, arch: str) -> str:
    """The captured fraction of student `arch` at a quarter, half and all of the run, and its limit bracket."""
    inside, t = result.inside(arch).mean(axis=1), result.t
    at = [len(t) // 4, len(t) // 2, len(t) - 1]
    lo, hi = result.limit(arch)
    return (", ".join(f"{inside[i]:.1%} at t = {t[i]:.0f}" for i in at)
            + f" (limit between {lo:.1%} and {hi:.1%})")


@check
def line_captures(result) -> Verdict:
    """Capture by an attracting segment of the overlap line, from experiment `capture` (the plain student on a
    teacher whose curvature M is positive along the input its units read). A run is captured when it is within
    the capture radius (`dynamics.capture_radius`: half the distance from the line to the teacher, so nearer the
    line than the solution) at the end of the integration. Primary comparison: the plain runs' captured fraction
    against zero (`stats.one_sample` on the 0/1 captures, δ = `DELTA_FRACTION`). Reported: the fraction over time
    and its limit (`experiments.part2.CaptureResult.limit`), and the captured runs' final loss against the plateau value and
    the initial loss."""
    captured = result.captured("plain")
    loss = result.final_loss("plain")
    eig = ", ".join(f"{e:+.2e}" for e in result.curvature)
    caught = (f"captured runs' final loss median {np.median(loss[captured]):.2e}" if captured.any()
              else "none captured")
    numbers = (f"{len(captured)} plain starts, curvature M eigenvalues ({eig}): attracting {result.attracting}; "
               f"within r = {result.radius:.3g} of the line: {_over_time(result, 'plain')}; {caught} (plateau "
               f"{result.plateau:.2e}, {result.plateau / np.median(result.initial_loss('plain')):.2%} of the initial "
               f"loss)")
    return judge(f"captured fraction of plain runs at t = {result.t_max:g}, r = {result.radius:.3g}",
                 one_sample(captured.astype(float), delta=DELTA_FRACTION), numbers)


def _paired(result, a: str, b: str) -> Comparison:
    """Captured fraction at the end, student a − student b, paired by start (the same starts)."""
    return one_sample(result.captured(a).astype(float) - result.captured(b).astype(float), delta=DELTA_FRACTION)


@check
def capture_comparisons(result) -> Verdict:
    """Which singularity the skip escapes, from experiment `capture` (students of `experiments.part2.CAPTURE_STUDENTS`, the same
    starts). Primary comparison: (a) on the same target, the plain teacher, the captured fraction at the end,
    plain − skip, paired by start (`line_captures`' radius). Secondary (Holm): (b) each student on the teacher of
    its own architecture, plain − skip; (c) plain − plain units with a free linear readout on the skip target
    (the skip target's linear part learned without a skip); the skip student on its own target ends farther from
    the elimination set (min over units of min(|J_i|, |w_i|)) than the readout student, paired (δ =
    `DELTA_DISTANCE`). Reported per student: the captured fraction over time with its limit, the final loss
    relative to the initial loss, and the distance to elimination at the end."""
    students = result.students()
    missing = [s for s in ("plain", "skip", SAME_TARGET, READOUT) if s not in students]
    if missing:
        raise ValueError(f"result {result.name!r} has no students {missing}; its students are {students}")
    second = {"(b) own teachers, plain − skip": _paired(result, "plain", "skip"),
              "(c) plain − readout on the skip target": _paired(result, "plain", READOUT),
              "skip farther from elimination than readout": one_sample(
                  result.elimination("skip") - result.elimination(READOUT), delta=DELTA_DISTANCE)}
    per = "; ".join(f"{s}: {_over_time(result, s)}, final loss median {np.median(result.final_loss(s)):.3g} "
                    f"({np.median(result.final_loss(s) / result.initial_loss(s)):.2%} of its initial loss), "
                    f"distance to elimination median {np.median(result.elimination(s)):.3g}" for s in students)
    numbers = f"{len(result.captured('plain'))} starts, r = {result.radius:.3g}: {per}"
    return judge(f"(a) same target: captured fraction at t = {result.t_max:g}, plain − skip (paired)",
                 _paired(result, "plain", SAME_TARGET), numbers, second)


def escapes(verdict: Verdict) -> str:
    """Which singularity the skip escapes, in words, from a `capture_comparisons` verdict: the overlap attractor
    when capture differs on the same target (the primary comparison shown), elimination when the skip student ends
    farther from it than plain units given the skip target's linear part (that secondary shown)."""
    found = []
    if verdict.comparison is not None and verdict.comparison.outcome == SHOWN:
        found.append("the overlap attractor (on the same target)")
    if any(s.name.startswith("skip farther from elimination") and s.outcome == SHOWN for s in verdict.secondary):
        found.append("elimination (against plain units with the skip target's linear part learned)")
    return " and ".join(found) if found else "neither, by these comparisons"


@check
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
