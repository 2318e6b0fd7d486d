"""Part IV claims: is the benefit of skip connections just initialization? (experiments `malicious_wide`,
`init_controls`, `remedies`, `skip_strength`; typed results of `experiments.controls`).

Every comparison is the shared margin rule (`stats.exceeds`); comparisons of degenerate fractions add the SLQ
error over probes (`ControlsResult.degenerate_error`) in quadrature. A comparison that goes neither way by the
margin is "not resolved at this size", never "does not hold".
"""
from __future__ import annotations

import numpy as np

from ..degeneracy import HEADLINE_TOL
from ..report import mean_spread
from ..stats import exceeds
from .base import FAILS, HOLDS, PARTLY, UNRESOLVED, UNTESTED, Verdict
from .part3 import need, spread

#: the condition labels of `experiments.controls` the checks compare
MALICIOUS, BLOWUP, IDENTITY = "residual, malicious", "residual, malicious (plain draw)", "plain, identity+noise"
BOTH_REMEDIES = "plain + BN + bias reg."
#: the conditions of `malicious_wide`, the main malicious comparison
WIDE = ("plain", MALICIOUS)


def direction(a, b, error_a: float = 0.0, error_b: float = 0.0) -> str:
    """The verdict on "mean(a) > mean(b)": holds when it does by the margin rule, does not hold when the
    opposite does, not resolved at this size when neither does, not yet tested with fewer than 2 runs a side."""
    up = exceeds(a, b, error_a=error_a, error_b=error_b)
    if up is None:
        return UNTESTED
    if up:
        return HOLDS
    return FAILS if exceeds(b, a, error_a=error_b, error_b=error_a) else UNRESOLVED


def combine(verdicts: dict[str, str]) -> tuple[str, str]:
    """The verdict on a claim of several `direction` parts, and a 'name: verdict' list for the table: holds when
    every part holds, does not hold when every part fails, not resolved when no part holds and some part is
    unresolved (or untested), partly holds otherwise."""
    if not verdicts:
        raise ValueError("verdicts must name at least one comparison")
    said = "; ".join(f"{name}: {v}" for name, v in verdicts.items())
    values = set(verdicts.values())
    if values == {HOLDS}:
        return HOLDS, said
    if values == {UNTESTED}:
        return UNTESTED, said
    if values == {FAILS}:
        return FAILS, said
    return (PARTLY if HOLDS in values else UNRESOLVED), said


def _growth(result, names) -> str:
    growth = result.init_growth()
    return "; ".join(f"{g} {mean_spread(growth[g], 2)}" for g in names)


def malicious_wide_scale(result, factor: float = 2.0) -> Verdict:
    """The main malicious construction starts within `factor` of default plain nets' activation scale (experiment
    `malicious_wide`, nets wide enough that plain nets keep theirs): its activation growth at initialization,
    RMS(h_D) / RMS(h_1) on a fixed batch, within `factor` of the plain nets' by the margin rule on both bounds
    (`within_factor`)."""
    growth = result.init_growth()
    need(growth, WIDE, result)
    verdict = within_factor(growth[MALICIOUS], growth["plain"], factor)
    numbers = (f"activation growth over depth at init (width {result.config['width']}): {_growth(result, WIDE)}; "
               f"malicious within {factor:g}x of plain: {verdict}")
    return Verdict(numbers, verdict)


def malicious_wide_init(result, step: int | None = None) -> Verdict:
    """Malicious initialization, the main comparison (experiment `malicious_wide`: depth-30 nets as wide and as
    long trained as Part III's `training` nets, where plain nets keep their activation scale at initialization):
    residual nets started with the main construction (the skip subtracted from their own small branch weights)
    must end with a higher training accuracy than default plain nets, by the margin rule; at recorded step `step`
    when given, else at the end, with the verdict at the middle recorded step reported beside it (the verdict per
    training length). The row also reports whether the malicious start is within 2x of the plain nets' activation
    scale (`malicious_wide_scale`), the condition for a fair control."""
    acc = result.final("acc") if step is None else result.at_step(step, "acc")
    need(acc, WIDE, result)
    verdict = direction(acc[MALICIOUS], acc["plain"])
    when = "final training accuracy" if step is None else f"training accuracy at step {step:,}"
    numbers = (f"{when}: {spread(acc, WIDE)}; {malicious_wide_scale(result).numbers}; "
               f"malicious above plain by > 2 SE: {verdict}")
    if step is None and len(result.record_steps) > 2:    # the verdict per training length: also half-way
        half = result.middle_step
        numbers += f" (judged at step {half:,} instead: {malicious_wide_init(result, half).verdict})"
    return Verdict(numbers, verdict)


def malicious_init(result, tol: float = HEADLINE_TOL) -> Verdict:
    """Malicious initialization, second evidence (experiment `init_controls`: Part III's narrow width-8 nets,
    whose Hessian degeneracy is tracked), judged on the main construction (the skip subtracted from the residual
    net's own small branch weights: no activation blow-up): these residual nets must end with a higher training
    accuracy than default plain nets, by the margin rule. At this width plain nets' own activations vanish over
    depth at initialization, so the malicious start keeps the residual nets' scale, not the plain nets'. The
    activation growth at initialization is reported for both malicious constructions, so the row says which
    start it judges."""
    acc = result.final("acc")
    names = ["plain", "residual", MALICIOUS]
    need(acc, names + [BLOWUP], result)
    verdict = direction(acc[MALICIOUS], acc["plain"])
    numbers = (f"final training accuracy: {spread(acc, names)} (plain-draw variant with the activation blow-up: "
               f"{mean_spread(acc[BLOWUP])}); activation growth over depth at init: "
               f"{_growth(result, ['plain', MALICIOUS, BLOWUP])}; malicious above plain by > 2 SE: {verdict}")
    return Verdict(numbers, verdict)


def within_factor(a, b, factor: float = 2.0) -> str:
    """The verdict on "mean(a) is within `factor` of mean(b)", by the margin rule on both bounds: holds when
    mean(a) is above mean(b) / factor and below factor * mean(b), each by the margin (`stats.exceeds`); does not
    hold when it is beyond either bound by the margin; not resolved otherwise (not yet tested with fewer than 2
    runs a side)."""
    if factor <= 1:
        raise ValueError(f"factor={factor!r} must be > 1")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    inside = [exceeds(a, b / factor), exceeds(factor * b, a)]
    if None in inside:
        return UNTESTED
    if all(inside):
        return HOLDS
    return FAILS if exceeds(b / factor, a) or exceeds(a, factor * b) else UNRESOLVED


def _growth_cells(table: dict, width: int) -> str:
    g = table[width]
    return ", ".join(f"{c} {mean_spread(g[c], 2)}" for c in ("plain", "residual", MALICIOUS, BLOWUP))


def malicious_scale(table: dict, factor: float = 2.0) -> Verdict:
    """The main malicious construction starts without an activation blow-up (`controls.init_growth_by_width`:
    activation growth RMS(h_D) / RMS(h_1) at initialization, per width), two parts, each required at every width:
    its growth is within `factor` of the residual nets' it is built from (`within_factor`), and the plain-draw
    construction's growth is above it by the margin rule. The comparison with plain nets is a third number per
    width (`malicious_vs_plain`), reported, not required: narrow plain ReLU nets lose their own activation
    scale over depth at initialization, so "within 2x of the plain nets'" is informative only where they keep it."""
    for w, g in table.items():
        missing = [c for c in ("plain", "residual", MALICIOUS, BLOWUP) if c not in g]
        if missing:
            raise ValueError(f"the width-{w} activation table has no nets {missing}; its conditions are {list(g)}")
    kept = {w: within_factor(g[MALICIOUS], g["residual"], factor) for w, g in table.items()}
    below = {w: direction(g[BLOWUP], g[MALICIOUS]) for w, g in table.items()}
    verdict, said = combine({f"within {factor:g}x of residual nets at width {w}": v for w, v in kept.items()} |
                            {f"below the plain-draw construction at width {w}": v for w, v in below.items()})
    versus = malicious_vs_plain(table, factor)
    numbers = ("activation growth over depth at init (mean ± sd over seeds): "
               + "; ".join(f"width {w}: {_growth_cells(table, w)}" for w in table)
               + f"; {said}; within {factor:g}x of plain nets: "
               + ", ".join(f"width {w} {v.verdict}" for w, v in versus.items()))
    return Verdict(numbers, verdict)


def malicious_vs_plain(table: dict, factor: float = 2.0) -> dict[int, Verdict]:
    """{width: the verdict on "the main malicious construction's activation growth at initialization is within
    `factor` of default plain nets'"} (`within_factor`, on `controls.init_growth_by_width`'s table)."""
    return {w: Verdict(f"width {w}, activation growth at init: malicious {mean_spread(g[MALICIOUS], 2)}, plain "
                       f"{mean_spread(g['plain'], 2)}", within_factor(g[MALICIOUS], g["plain"], factor))
            for w, g in table.items()}


def malicious_blowup(result) -> Verdict:
    """The second malicious construction (the plain net's draw minus the skip, with an activation blow-up at
    initialization): does it end *below* default plain nets' training accuracy, by the margin rule?"""
    acc = result.final("acc")
    need(acc, ["plain", BLOWUP], result)
    verdict = direction(acc["plain"], acc[BLOWUP])
    numbers = (f"final training accuracy: {spread(acc, ['plain', BLOWUP])}; activation growth at init: "
               f"{_growth(result, ['plain', BLOWUP])}; below plain by > 2 SE: {verdict}")
    return Verdict(numbers, verdict)


def residual_like_init(result, tol: float = HEADLINE_TOL) -> Verdict:
    """Residual-like initialization (experiment `init_controls`): plain nets with the identity-plus-noise
    initialization against default plain nets, two parts, each a `direction`. They *lose their curvature
    advantage during training* when their degenerate fraction rises from the first checkpoint to the last by more
    than the default plain nets' does (per-net rises compared, SLQ errors of both checkpoints added). They *lose
    their accuracy advantage* when default plain nets end above them (holds), not when they end above default
    plain nets (does not hold); neither, by the margin, is not resolved."""
    acc = result.final("acc")
    start, end = result.degenerate(tol=tol, step=0), result.degenerate(tol=tol)
    e0, e1 = result.degenerate_error(tol=tol, step=0), result.degenerate_error(tol=tol)
    need(acc, ["plain", "residual", IDENTITY], result)
    rise = direction(end[IDENTITY] - start[IDENTITY], end["plain"] - start["plain"],
                     error_a=(e0[IDENTITY] ** 2 + e1[IDENTITY] ** 2) ** 0.5,
                     error_b=(e0["plain"] ** 2 + e1["plain"] ** 2) ** 0.5)
    above = direction(acc[IDENTITY], acc["plain"])
    gone = {HOLDS: FAILS, FAILS: HOLDS}.get(above, above)
    verdict, said = combine({"degeneracy gap to plain nets closes": rise, "accuracy advantage gone": gone})
    numbers = (f"degenerate fraction (tol {tol:g}), identity+noise vs default plain nets: "
               f"{mean_spread(start[IDENTITY])} vs {mean_spread(start['plain'])} at the start, "
               f"{mean_spread(end[IDENTITY])} vs {mean_spread(end['plain'])} at the end (residual nets "
               f"{mean_spread(end['residual'])}); final training accuracy: "
               f"{spread(acc, [IDENTITY, 'plain', 'residual'])}; {said}")
    return Verdict(numbers, verdict)


def remedies_recover(result, tol: float = HEADLINE_TOL) -> Verdict:
    """Bias regularizer plus one batch-norm layer (experiment `remedies`): plain nets with both remedies against
    plain nets without, two parts: a lower final degenerate fraction (SLQ errors added) and a higher final
    training accuracy, each by the margin rule. The experiment has no residual nets, so "much of the benefit" is
    judged as a clear gain on each measure, not as a share of what skip connections give (chapter IV.2 puts them
    side by side)."""
    acc, deg, err = result.final("acc"), result.degenerate(tol=tol), result.degenerate_error(tol=tol)
    need(acc, ["plain", BOTH_REMEDIES], result)
    verdict, said = combine({
        "less degenerate": direction(deg["plain"], deg[BOTH_REMEDIES], err["plain"], err[BOTH_REMEDIES]),
        "higher accuracy": direction(acc[BOTH_REMEDIES], acc["plain"])})
    numbers = (f"final training accuracy: {spread(acc)}; final degenerate fraction (tol {tol:g}): {spread(deg)}; "
               f"both remedies vs plain: {said}")
    return Verdict(numbers, verdict)


def remedy_gains(result, tol: float = HEADLINE_TOL) -> dict[str, dict[str, str]]:
    """For every remedy condition of `remedies`, the `direction` verdicts of "higher accuracy than plain" and
    "less degenerate than plain" ({condition: {"accuracy": verdict, "degeneracy": verdict}})."""
    acc, deg, err = result.final("acc"), result.degenerate(tol=tol), result.degenerate_error(tol=tol)
    need(acc, ["plain"], result)
    return {c: {"accuracy": direction(acc[c], acc["plain"]),
                "degeneracy": direction(deg["plain"], deg[c], err["plain"], err[c])} for c in acc if c != "plain"}


def skip_strength_trend(result, tol: float = HEADLINE_TOL) -> Verdict:
    """The skip-strength dial (experiment `skip_strength`), two parts: residual nets at alpha = 1 end with a higher
    training accuracy and a lower degenerate fraction (SLQ errors added) than at alpha = 0 (plain nets), each by
    the margin rule. Reported too: the smallest alpha whose accuracy is above alpha = 0 by the margin (where the
    benefit appears)."""
    acc, deg = result.sweep("acc"), result.sweep("degenerate", tol=tol)
    err = result.degenerate_error(tol=tol)
    lo, hi = min(acc), max(acc)
    name = {a: f"alpha={a:g}" for a in acc}
    verdict, said = combine({
        "higher accuracy at alpha=1": direction(acc[hi], acc[lo]),
        "less degenerate at alpha=1": direction(deg[lo], deg[hi], err[name[lo]], err[name[hi]])})
    first = first_gain(result)
    numbers = (f"final training accuracy by alpha: {'; '.join(f'{a:g} {mean_spread(v)}' for a, v in acc.items())}; "
               f"final degenerate fraction (tol {tol:g}): {'; '.join(f'{a:g} {v.mean():.3f}' for a, v in deg.items())}; "
               f"smallest alpha above plain accuracy by > 2 SE: {'none' if first is None else f'{first:g}'}; {said}")
    return Verdict(numbers, verdict)


def first_gain(result) -> float | None:
    """The smallest skip strength alpha > 0 of `skip_strength` whose final training accuracy is above alpha = 0
    by the margin rule (None: none is)."""
    acc = result.sweep("acc")
    lo = min(acc)
    return next((a for a in acc if a > lo and exceeds(acc[a], acc[lo])), None)
