"""Part V checks: the book's own claims beyond the paper (experiments `llc_toy`, `llc_deep`, `rank_collapse`;
typed results of `experiments.beyond`). These are not claims of Orhan & Pitkow: the ledger lists them as the
book's."""
from __future__ import annotations

import numpy as np

from ..degeneracy import HEADLINE_TOL
from ..stats import correlation, exceeds, margin
from .base import FAILS, HOLDS, PARTLY, UNRESOLVED, UNTESTED, Verdict
from .part3 import need, spread

#: the SGLD estimate may miss its exact target by this fraction (the step size's bias, chapter V.1) ...
LLC_REL_TOL = 0.05
#: ... or by this many of its standard errors over chains, whichever is larger
LLC_Z = 3.0
#: a distance from rank one below this is collapse to rounding error (float64)
COLLAPSED = 1e-10


def estimator_recovers(result, rel_tol: float = LLC_REL_TOL, z: float = LLC_Z) -> Verdict:
    """The SGLD estimator on the models with known λ (experiment `llc_toy`): for each model the mean λ̂ over
    chains lies within max(z SE, rel_tol · target) of its exact target at this n (closed form or quadrature).
    Holds when every model passes, partly when some do."""
    rows, passed = [], []
    for model in result.models():
        chains = result.chains(model)
        mean, se = float(chains.mean()), float(chains.std(ddof=1) / np.sqrt(len(chains)))
        target = result.target(model)
        passed.append(abs(mean - target) <= max(z * se, rel_tol * abs(target)))
        rows.append(f"{model} {mean:.3f} ± {se:.3f} (exact {target:.3f}, λ = {result.lam(model):g})")
    verdict = HOLDS if all(passed) else PARTLY if any(passed) else FAILS
    return Verdict(f"λ̂ at n = {result.n} (mean ± SE over chains): " + "; ".join(rows), verdict)


def _compare(low: np.ndarray, high: np.ndarray, error_low: float = 0.0, error_high: float = 0.0) -> str:
    """'shown' when high exceeds low by the margin rule, 'reversed' when low exceeds high, else 'unresolved'
    ('too few' with fewer than two runs a side); `error_*` are measurement errors of each side's mean."""
    shown = exceeds(high, low, error_a=error_high, error_b=error_low)
    if shown is None:
        return "too few"
    reversed_ = exceeds(low, high, error_a=error_low, error_b=error_high)
    return "shown" if shown else "reversed" if reversed_ else "unresolved"


def mean_error(errors: np.ndarray) -> float:
    """The measurement error of a mean over nets from each net's own standard error: sqrt(Σ e²) / n."""
    errors = np.asarray(errors, dtype=float)
    return float(np.sqrt((errors**2).sum()) / len(errors))


def states_verdict(states) -> str:
    """The verdict on comparisons judged by `_compare`: holds when all are shown, partly when some are; does not
    hold when one is reversed and none shown; not resolved at this size when all are inside their errors."""
    states = set(states)
    if states == {"too few"}:
        return UNTESTED
    if states == {"shown"}:
        return HOLDS
    if "shown" in states:
        return PARTLY
    return FAILS if "reversed" in states else UNRESOLVED


def plain_llc_lower(result, step: int = -1) -> Verdict:
    """The threshold-free version of Part III's claim (experiment `llc_deep`): at checkpoint `step` plain nets
    have a lower local learning coefficient (are more degenerate) than residual and than hyper-residual nets, each by
    the margin rule, with each chain's own standard error (`mean_error`) as the measurement error. Holds when both
    are shown, partly when one is; does not hold when a gap is reversed and none is shown; not resolved at this size
    when every gap is inside its errors."""
    lam, err = result.llc(step=step), result.llc_error(step=step)
    need(lam, ["plain"], result)
    e = {g: mean_error(err[g]) for g in lam}
    parts = {g: _compare(lam["plain"], lam[g], e["plain"], e[g]) for g in lam if g != "plain"}
    verdict = states_verdict(parts.values())
    gaps = "; ".join(f"{g} - plain {margin(lam[g], lam['plain'], error_a=e[g], error_b=e['plain'])}: {s}"
                     for g, s in parts.items())
    numbers = (f"λ̂ at step {int(result.checkpoints[step])} (d/2 = {result.regular_value:g}): {spread(lam)}; {gaps}")
    return Verdict(numbers, verdict)


def llc_agrees_with_counts(llc_result, degeneracy_result, tol: float = HEADLINE_TOL, step: int = -1) -> Verdict:
    """Do the threshold-free and the eigenvalue-count measures agree net by net? Pearson r over all nets between
    λ̂ (`llc_deep`) and the degenerate fraction at `tol` (`degeneracy`) at the same checkpoint of the same nets;
    agreement is a negative r (more near-zero eigenvalues, lower λ̂). Holds when the Fisher-z 95% interval lies
    below zero, partly when r < 0 but the interval includes zero, does not hold when r >= 0."""
    if not np.array_equal(llc_result.labels(), degeneracy_result.labels()) or not np.array_equal(
            llc_result.labels("seed"), degeneracy_result.labels("seed")):
        raise ValueError("llc_result and degeneracy_result must hold the same nets in the same order")
    if int(llc_result.checkpoints[step]) != int(degeneracy_result.checkpoints[step]):
        raise ValueError(f"checkpoint {step} is step {int(llc_result.checkpoints[step])} in llc_result but "
                         f"{int(degeneracy_result.checkpoints[step])} in degeneracy_result")
    lam = np.concatenate(list(llc_result.llc(step=step).values()))
    deg = np.concatenate(list(degeneracy_result.degenerate(tol=tol, step=step).values()))
    c = correlation(deg, lam)
    verdict = FAILS if c["r"] >= 0 else HOLDS if c["fisher_hi"] < 0 else PARTLY
    numbers = (f"r = {c['r']:+.2f} (95% interval {c['fisher_lo']:+.2f} to {c['fisher_hi']:+.2f}, n = {c['n']} nets) "
               f"between the degenerate fraction (tol {tol:g}) and λ̂ at step {int(llc_result.checkpoints[step])}")
    return Verdict(numbers, verdict)


def skips_prevent_collapse(result) -> Verdict:
    """Rank collapse (experiment `rank_collapse`): every stack without skips ends collapsed to rank one (res below
    `COLLAPSED`, rounding error), and the pre-LN stacks with skips end further from rank one than the same stacks
    without skips, by the margin rule. Holds when both parts do, partly when one does."""
    final = result.final()
    no_skips = [v for v in final if "no skips" in v]
    kept = [v for v in final if "pre-LN" in v and "no skips" not in v]
    if not no_skips or not kept:
        raise ValueError(f"result {result.name!r} needs stacks without skips and pre-LN stacks with skips; "
                         f"it has {list(final)}")
    collapsed = all((final[v] < COLLAPSED).all() for v in no_skips)
    wins = [exceeds(final[v], final[v.replace(", skips", ", no skips")]) for v in kept]
    shown = None if None in wins else all(wins)
    parts = [collapsed, shown]
    verdict = UNTESTED if shown is None else HOLDS if all(parts) else PARTLY if any(parts) else FAILS
    numbers = (f"distance from rank one after {int(result.depths[-1])} layers: "
               + "; ".join(f"{v} {np.median(final[v]):.1e}" for v in final)
               + f" (medians over {len(next(iter(final.values())))} seeds)")
    return Verdict(numbers, verdict)


def gradients_less_shattered(result, stage: str = "trained") -> Verdict:
    """Shattered gradients (experiment `rivals`): at the last hidden layer, the input gradients of nearby inputs
    are more similar in residual and in hyper-residual nets than in plain nets, each by the margin rule
    (verdict as in `states_verdict`)."""
    last = {g: v[:, -1] for g, v in result.similarity(stage).items()}
    need(last, ["plain"], result)
    parts = {g: _compare(last["plain"], last[g]) for g in last if g != "plain"}
    numbers = (f"cosine similarity of input gradients {result.config['distance']:g} apart, last layer, {stage}: "
               f"{spread(last)}; " + "; ".join(f"{g} - plain {margin(last[g], last['plain'])}: {s}"
                                               for g, s in parts.items()))
    return Verdict(numbers, states_verdict(parts.values()))


def lesions_hurt_plain_more(result) -> Verdict:
    """Ensembles of shallow paths (experiment `rivals`): removing a single hidden layer from a trained net costs
    plain nets more training accuracy (mean over layers) than residual and than hyper-residual nets, each by the
    margin rule (verdict as in `states_verdict`)."""
    drop = result.lesion_drop()
    need(drop, ["plain"], result)
    parts = {g: _compare(drop[g], drop["plain"]) for g in drop if g != "plain"}
    numbers = (f"accuracy lost by removing one layer (mean over layers): {spread(drop)}; intact accuracy "
               f"{spread(result.intact())}; " + "; ".join(f"plain - {g} {margin(drop['plain'], drop[g])}: {s}"
                                                          for g, s in parts.items()))
    return Verdict(numbers, states_verdict(parts.values()))


#: a trained stack "reaches" the rank-one floor when its final loss is within this fraction of it
FLOOR_RTOL = 0.01


def training_keeps_collapse(result) -> Verdict:
    """Brief training of pre-LN attention stacks (experiment `rank_collapse`) on a task that needs distinct
    tokens: every stack without skips ends with a loss no lower than the rank-one floor (the best loss of outputs
    that are the same for every token of a sequence, less `FLOOR_RTOL`), and every stack with skips ends below
    it. Holds when both parts do, partly when one does."""
    final = {v: losses[:, -1] for v, losses in result.trained_loss().items()}
    floor = result.floor
    stuck = [v for v in final if "no skips" in v]
    learned = [v for v in final if "no skips" not in v]
    if not stuck or not learned:
        raise ValueError(f"result {result.name!r} needs trained stacks with and without skips; it has {list(final)}")
    parts = [all((final[v] >= floor * (1 - FLOOR_RTOL)).all() for v in stuck),
             all((final[v] < floor).all() for v in learned)]
    verdict = HOLDS if all(parts) else PARTLY if any(parts) else FAILS
    numbers = (f"final training loss after {int(result.train_steps[-1])} steps: {spread(final)}; rank-one floor "
               f"{floor:.3f}")
    return Verdict(numbers, verdict)
