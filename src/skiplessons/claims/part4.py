"""Part IV claims: is the benefit of skip connections just initialization? (experiments `malicious_wide`,
`init_controls`, `remedies`, `skip_strength`; typed results of `experiments.controls`).

Every comparison is the book's one rule (`claims.base.judge` on `stats.welch`); comparisons of degenerate
fractions add the SLQ standard error over probes (`ControlsResult.degenerate_error`) to the variance.
"""
from __future__ import annotations

import numpy as np

from ..degeneracy import HEADLINE_TOL
from ..report import mean_spread
from ..stats import SHOWN, Comparison, welch
from .base import EQUAL, Verdict, judge
from .part3 import DELTA_ACC, DELTA_FRACTION, need, spread

#: the condition labels of `experiments.controls` the checks compare
MALICIOUS, BLOWUP, IDENTITY = "residual, malicious", "residual, malicious (plain draw)", "plain, identity+noise"
BOTH_REMEDIES = "plain + BN + bias reg."
#: the conditions of `malicious_wide`, the main malicious comparison
WIDE = ("plain", MALICIOUS)


def direction(a, b, error_a: float = 0.0, error_b: float = 0.0, delta: float = DELTA_ACC) -> str:
    """The verdict word on "mean(a) > mean(b)" by the one rule (Welch; `error_*` standard errors of each side's
    mean from the measurement), for a number quoted in prose."""
    return judge("a − b", welch(a, b, error_a=error_a, error_b=error_b, delta=delta), "").verdict


def ratio(a, b, factor: float = 2.0) -> Comparison:
    """Two positive scales compared on the log scale: log(a) − log(b), one per run (Welch), δ = log(`factor`)."""
    if not factor > 1:
        raise ValueError(f"factor={factor!r} must be > 1")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if (a <= 0).any() or (b <= 0).any():
        raise ValueError("a and b must be positive scales, one per run")
    return welch(np.log(a), np.log(b), delta=float(np.log(factor)))


def within_factor(a, b, factor: float = 2.0) -> str:
    """The verdict word on "a is within `factor` of b", a claim of agreement (`judge` with `EQUAL`) on the log
    scales (`ratio`): holds when the 90% interval of log(a) − log(b) lies inside ±log(factor), does not hold
    when the 95% interval lies wholly beyond it, too imprecise otherwise."""
    return judge("log a − log b", ratio(a, b, factor), "", expectation=EQUAL).verdict


def _growth(result, names) -> str:
    growth = result.init_growth()
    return "; ".join(f"{g} {mean_spread(growth[g], 2)}" for g in names)


def malicious_wide_scale(result, factor: float = 2.0) -> Verdict:
    """The main malicious construction starts within `factor` of default plain nets' activation scale (experiment
    `malicious_wide`, nets wide enough that plain nets keep theirs): its activation growth at initialization,
    RMS(h_D) / RMS(h_1) on a fixed batch, against the plain nets' as a claim of agreement on the log scale
    (`ratio`, δ = log `factor`)."""
    growth = result.init_growth()
    need(growth, WIDE, result)
    numbers = f"activation growth over depth at init (width {result.config['width']}): {_growth(result, WIDE)}"
    return judge(f"log growth, malicious − plain (within {factor:g}x?)", ratio(growth[MALICIOUS], growth["plain"],
                                                                           factor), numbers, expectation=EQUAL)


def malicious_wide_init(result, step: int | None = None) -> Verdict:
    """Malicious initialization, the main comparison (experiment `malicious_wide`: depth-30 nets as wide and as
    long trained as Part III's `training` nets, where plain nets keep their activation scale at initialization).
    Primary comparison: training accuracy, malicious − plain (Welch, δ = `DELTA_ACC`), at recorded step `step`
    when given, else at the end; the verdict at the middle recorded step is reported beside it (the verdict per
    training length), and whether the malicious start is within 2x of the plain nets' activation scale
    (`malicious_wide_scale`), the condition for a fair control."""
    acc = result.final("acc") if step is None else result.at_step(step, "acc")
    need(acc, WIDE, result)
    when = "final training accuracy" if step is None else f"training accuracy at step {step:,}"
    scale = malicious_wide_scale(result)
    numbers = f"{when}: {spread(acc, WIDE)}; {scale.numbers} (within 2x: {scale.verdict})"
    if step is None and len(result.record_steps) > 2:    # the verdict per training length: also half-way
        half = result.middle_step
        numbers += f"; judged at step {half:,} instead: {malicious_wide_init(result, half).verdict}"
    return judge(f"{when}, malicious − plain", welch(acc[MALICIOUS], acc["plain"], delta=DELTA_ACC), numbers)


def malicious_init(result, tol: float = HEADLINE_TOL) -> Verdict:
    """Malicious initialization, second evidence (experiment `init_controls`: Part III's narrow width-8 nets,
    whose Hessian degeneracy is tracked). Primary comparison: final training accuracy, main malicious
    construction (the skip subtracted from the residual net's own small branch weights: no activation blow-up)
    − default plain nets (Welch, δ = `DELTA_ACC`). At this width plain nets' own activations vanish over depth at
    initialization, so the malicious start keeps the residual nets' scale, not the plain nets'. The activation
    growth at initialization is reported for both malicious constructions, so the row says which start it
    judges."""
    acc = result.final("acc")
    names = ["plain", "residual", MALICIOUS]
    need(acc, names + [BLOWUP], result)
    numbers = (f"final training accuracy: {spread(acc, names)} (plain-draw variant with the activation blow-up: "
               f"{mean_spread(acc[BLOWUP])}); activation growth over depth at init: "
               f"{_growth(result, ['plain', MALICIOUS, BLOWUP])}")
    return judge("final training accuracy, malicious − plain", welch(acc[MALICIOUS], acc["plain"], delta=DELTA_ACC),
                 numbers)


def _growth_cells(table: dict, width: int) -> str:
    g = table[width]
    return ", ".join(f"{c} {mean_spread(g[c], 2)}" for c in ("plain", "residual", MALICIOUS, BLOWUP))


def malicious_scale(table: dict, factor: float = 2.0) -> Verdict:
    """The main malicious construction starts without an activation blow-up (`controls.init_growth_by_width`:
    activation growth RMS(h_D) / RMS(h_1) at initialization, per width). Primary comparison, a claim of agreement:
    its growth within `factor` of the residual nets' it is built from, at the widest width (`ratio`). Secondary:
    the same at the other widths, and the plain-draw construction's growth above it at every width (log scale).
    The comparison with plain nets is reported per width (`malicious_vs_plain`), not judged here: narrow plain
    ReLU nets lose their own activation scale over depth at initialization, so "within 2x of the plain nets'"
    is informative only where they keep it."""
    for w, g in table.items():
        missing = [c for c in ("plain", "residual", MALICIOUS, BLOWUP) if c not in g]
        if missing:
            raise ValueError(f"the width-{w} activation table has no nets {missing}; its conditions are {list(g)}")
    widest = max(table)
    second = {f"within {factor:g}x of residual nets at width {w}": ratio(g[MALICIOUS], g["residual"], factor)
              for w, g in table.items() if w != widest}
    second |= {f"plain-draw above it at width {w}": ratio(g[BLOWUP], g[MALICIOUS], factor) for w, g in table.items()}
    versus = malicious_vs_plain(table, factor)
    numbers = ("activation growth over depth at init (mean ± sd over seeds): "
               + "; ".join(f"width {w}: {_growth_cells(table, w)}" for w in table)
               + f"; within {factor:g}x of plain nets: " + ", ".join(f"width {w} {v.verdict}" for w, v in versus.items()))
    return judge(f"log growth, malicious − residual at width {widest} (within {factor:g}x?)",
                 ratio(table[widest][MALICIOUS], table[widest]["residual"], factor), numbers, second,
                 expectation=EQUAL)


def malicious_vs_plain(table: dict, factor: float = 2.0) -> dict[int, Verdict]:
    """{width: the verdict on "the main malicious construction's activation growth at initialization is within
    `factor` of default plain nets'"} (a claim of agreement on the log scale, `ratio`)."""
    return {w: judge(f"log growth, malicious − plain at width {w} (within {factor:g}x?)",
                     ratio(g[MALICIOUS], g["plain"], factor),
                     f"width {w}, activation growth at init: malicious {mean_spread(g[MALICIOUS], 2)}, plain "
                     f"{mean_spread(g['plain'], 2)}", expectation=EQUAL)
            for w, g in table.items()}


def malicious_blowup(result) -> Verdict:
    """The second malicious construction (the plain net's draw minus the skip, with an activation blow-up at
    initialization). Primary comparison: final training accuracy, default plain − this construction (does it
    end *below* plain nets?), Welch, δ = `DELTA_ACC`."""
    acc = result.final("acc")
    need(acc, ["plain", BLOWUP], result)
    numbers = (f"final training accuracy: {spread(acc, ['plain', BLOWUP])}; activation growth at init: "
               f"{_growth(result, ['plain', BLOWUP])}")
    return judge("final training accuracy, plain − plain-draw malicious",
                 welch(acc["plain"], acc[BLOWUP], delta=DELTA_ACC), numbers)


def residual_like_init(result, tol: float = HEADLINE_TOL) -> Verdict:
    """Residual-like initialization (experiment `init_controls`): plain nets with the identity-plus-noise
    initialization against default plain nets. Primary comparison: they *lose their accuracy advantage* —
    final training accuracy, default plain − identity+noise (Welch, δ = `DELTA_ACC`). Secondary: they *lose
    their curvature advantage during training* — the per-net rise of the degenerate fraction from the first
    checkpoint to the last, identity+noise − default plain (SLQ standard errors of both checkpoints added)."""
    acc = result.final("acc")
    start, end = result.degenerate(tol=tol, step=0), result.degenerate(tol=tol)
    e0, e1 = result.degenerate_error(tol=tol, step=0), result.degenerate_error(tol=tol)
    need(acc, ["plain", "residual", IDENTITY], result)
    rise = welch(end[IDENTITY] - start[IDENTITY], end["plain"] - start["plain"],
                 error_a=(e0[IDENTITY] ** 2 + e1[IDENTITY] ** 2) ** 0.5,
                 error_b=(e0["plain"] ** 2 + e1["plain"] ** 2) ** 0.5, delta=DELTA_FRACTION)
    numbers = (f"degenerate fraction (tol {tol:g}), identity+noise vs default plain nets: "
               f"{mean_spread(start[IDENTITY])} vs {mean_spread(start['plain'])} at the start, "
               f"{mean_spread(end[IDENTITY])} vs {mean_spread(end['plain'])} at the end (residual nets "
               f"{mean_spread(end['residual'])}); final training accuracy: "
               f"{spread(acc, [IDENTITY, 'plain', 'residual'])}")
    return judge("final training accuracy, plain − identity+noise", welch(acc["plain"], acc[IDENTITY],
                                                                          delta=DELTA_ACC),
                 numbers, {"degeneracy gap to plain nets closes": rise})


def _remedy(acc, deg, err, c) -> dict[str, Comparison]:
    return {"accuracy": welch(acc[c], acc["plain"], delta=DELTA_ACC),
            "degeneracy": welch(deg["plain"], deg[c], error_a=err["plain"], error_b=err[c], delta=DELTA_FRACTION)}


def remedies_recover(result, tol: float = HEADLINE_TOL) -> Verdict:
    """Bias regularizer plus one batch-norm layer (experiment `remedies`): plain nets with both remedies against
    plain nets without. Primary comparison: final training accuracy, both remedies − plain (Welch, δ =
    `DELTA_ACC`); secondary: the final degenerate fraction, plain − both remedies (SLQ standard errors added).
    The experiment has no residual nets, so "much of the benefit" is judged as a clear gain, not as a share of
    what skip connections give (chapter IV.2 puts them side by side)."""
    acc, deg, err = result.final("acc"), result.degenerate(tol=tol), result.degenerate_error(tol=tol)
    need(acc, ["plain", BOTH_REMEDIES], result)
    both = _remedy(acc, deg, err, BOTH_REMEDIES)
    numbers = f"final training accuracy: {spread(acc)}; final degenerate fraction (tol {tol:g}): {spread(deg)}"
    return judge("final training accuracy, both remedies − plain", both["accuracy"], numbers,
                 {"less degenerate": both["degeneracy"]})


def remedy_gains(result, tol: float = HEADLINE_TOL) -> dict[str, dict[str, str]]:
    """For every remedy condition of `remedies`, the outcome of "higher accuracy than plain" and "less degenerate
    than plain" ({condition: {"accuracy": outcome, "degeneracy": outcome}}, `stats.Comparison.outcome`)."""
    acc, deg, err = result.final("acc"), result.degenerate(tol=tol), result.degenerate_error(tol=tol)
    need(acc, ["plain"], result)
    return {c: {k: v.outcome for k, v in _remedy(acc, deg, err, c).items()} for c in acc if c != "plain"}


def skip_strength_trend(result, tol: float = HEADLINE_TOL) -> Verdict:
    """The skip-strength dial (experiment `skip_strength`). Primary comparison: final training accuracy at
    alpha = 1 − at alpha = 0 (plain nets), Welch, δ = `DELTA_ACC`; secondary: the final degenerate fraction at
    alpha = 0 − at alpha = 1 (SLQ standard errors added). Reported too: the smallest alpha whose accuracy is
    shown above alpha = 0 (`first_gain`: where the benefit appears)."""
    acc, deg = result.sweep("acc"), result.sweep("degenerate", tol=tol)
    err = result.degenerate_error(tol=tol)
    lo, hi = min(acc), max(acc)
    name = {a: f"alpha={a:g}" for a in acc}
    first = first_gain(result)
    numbers = (f"final training accuracy by alpha: {'; '.join(f'{a:g} {mean_spread(v)}' for a, v in acc.items())}; "
               f"final degenerate fraction (tol {tol:g}): {'; '.join(f'{a:g} {v.mean():.3f}' for a, v in deg.items())}; "
               f"smallest alpha shown above plain accuracy: {'none' if first is None else f'{first:g}'}")
    return judge(f"final training accuracy, alpha = {hi:g} − alpha = {lo:g}",
                 welch(acc[hi], acc[lo], delta=DELTA_ACC), numbers,
                 {f"less degenerate at alpha = {hi:g}": welch(deg[lo], deg[hi], error_a=err[name[lo]],
                                                              error_b=err[name[hi]], delta=DELTA_FRACTION)})


def first_gain(result) -> float | None:
    """The smallest skip strength alpha > 0 of `skip_strength` whose final training accuracy is shown above
    alpha = 0 (`stats.welch`; None: none is)."""
    acc = result.sweep("acc")
    lo = min(acc)
    return next((a for a in acc if a > lo and welch(acc[a], acc[lo], delta=DELTA_ACC).outcome == SHOWN), None)
