"""Part V checks: the book's own claims beyond the paper (experiments `llc_toy`, `llc_deep`, `rank_collapse`;
typed results of `experiments.part5`). These are not claims of Orhan & Pitkow: the ledger lists them as the
book's."""
from __future__ import annotations

import numpy as np

from .. import rivals as rv
from ..degeneracy import HEADLINE_TOL
from ..stats import correlation, estimate, mean_error, one_sample, welch
from .base import EQUAL, Verdict, check, judge
from .part3 import DELTA_ACC, negative_correlation, need, spread

#: the SGLD estimate may miss its finite-n target by this fraction: the stability rule's own bias is at most
#: κ / (4 - κ) = 2.6 % (`llc.STIFFNESS`), the rest is room for the chains' finite length
LLC_REL_TOL = 0.05
#: ... or by this much, whichever is larger: a fiftieth of one regular parameter's 1/2, for targets near zero
LLC_ABS_TOL = 0.01
#: the case the estimator claim is judged on, declared before the run: reduced-rank regression 2 x 2 x 2 at true
#: rank 0 (λ = 3/2, Aoyagi & Watanabe 2005), the largest singular model of the calibration, at the book's n; the
#: other measurable cases are secondary
LLC_PRIMARY = "RRR 2,2,2,0"
#: the smallest difference in λ̂ between architectures that matters: half a parameter's worth (1/2 is one
#: regular parameter's contribution)
DELTA_LLC = 0.5
#: the smallest difference in cosine similarity of input gradients that matters
DELTA_COSINE = 0.05
#: a distance from rank one below this is collapse to rounding error (float64)
COLLAPSED = 1e-10


def llc_tolerance(target: float, rel_tol: float = LLC_REL_TOL) -> float:
    """δ of the calibration: `rel_tol` of the target or `LLC_ABS_TOL`, whichever is larger."""
    return max(rel_tol * abs(target), LLC_ABS_TOL)


@check
def estimator_recovers(result, rel_tol: float = LLC_REL_TOL) -> Verdict:
    """The SGLD estimator calibrated on models with known λ (experiment `llc_toy`), a claim of agreement: mean λ̂
    over chains minus its exact finite-n target (closed form, quadrature, or MALA with its standard error as the
    measurement error), δ = `llc_tolerance`. Primary: `LLC_PRIMARY` at the book's n; every other case whose chains
    pass the stability and equilibration checks is a secondary comparison (Holm; *shown* or *reversed* there
    means that case is off its target); the cases that fail them are listed as not measurable here."""
    comps, rows, skipped = {}, [], []
    for case in result.models():
        diag = result.diagnostics(case)
        if not diag.measurable:
            skipped.append(f"{case} ({diag.why})")
            continue
        chains, target = result.chains(case), result.target(case)
        comps[case] = one_sample(chains, target, error=result.target_error(case), delta=llc_tolerance(target, rel_tol))
        rows.append(f"{case} {chains.mean():.3f} ± {chains.std(ddof=1) / np.sqrt(len(chains)):.3f} (target "
                    f"{target:.3f}, λ = {result.lam(case):g})")
    primary = f"{LLC_PRIMARY} @ n = {result.n:,}"
    if primary not in result.models():
        raise ValueError(f"result {result.name!r} has no case {primary!r}; it has {result.models()}")
    first = comps.pop(primary, None) or _untested(0)
    numbers = "λ̂ (mean ± SE over chains): " + "; ".join(rows)
    if skipped:
        numbers += "; not measurable here: " + "; ".join(skipped)
    return judge(f"λ̂ − target, {primary}", first, numbers, comps, expectation=EQUAL)


def _measured(result, step: int) -> tuple[dict, dict, str]:
    """λ̂ and its chain error of the nets whose chains passed the checks, by architecture, and a line saying
    how many did."""
    ok = result.measurable(step)
    lam = {g: v[ok[g]] for g, v in result.llc(step=step).items()}
    err = {g: v[ok[g]] for g, v in result.llc_error(step=step).items()}
    line = ", ".join(f"{g} {int(ok[g].sum())} of {len(ok[g])}" for g in ok)
    return lam, err, f"nets whose chains are stable and equilibrated: {line}"


def _untested(runs: int, min_runs: int = 2):
    """A comparison with too few measurable nets to judge (the verdict "not yet tested")."""
    return estimate(0.0, 0.0, np.inf, runs, min_runs=max(min_runs, runs + 1))


@check
def plain_llc_lower(result, step: int = -1) -> Verdict:
    """The threshold-free version of Part III's claim (experiment `llc_deep`): at checkpoint `step` plain nets
    have a lower local learning coefficient (are more degenerate). Only nets whose chains pass the stability and
    equilibration checks count (`llc.Diagnostics`); with fewer than two a side the claim is not yet tested.
    Primary comparison: λ̂, residual − plain (Welch, δ = `DELTA_LLC`), with each chain's own standard error
    averaged over nets (`stats.mean_error`) as the measurement error; secondary: hyper-residual − plain."""
    lam, err, line = _measured(result, step)
    need(lam, ["plain", "residual"], result)
    numbers = f"λ̂ at step {int(result.checkpoints[step])} (d/2 = {result.regular_value:g}); {line}"

    def above(g):
        if min(len(lam[g]), len(lam["plain"])) < 2:
            return _untested(min(len(lam[g]), len(lam["plain"])))
        e = {k: mean_error(err[k], np.zeros_like(err[k]))[0] for k in (g, "plain")}
        return welch(lam[g], lam["plain"], error_a=e[g], error_b=e["plain"], delta=DELTA_LLC)

    if all(len(v) for v in lam.values()):
        numbers += f": {spread(lam)}"
    return judge("λ̂, residual − plain", above("residual"), numbers,
                 {f"{g} − plain": above(g) for g in lam if g not in ("plain", "residual")})


@check
def llc_agrees_with_counts(llc_result, degeneracy_result, tol: float = HEADLINE_TOL, step: int = -1) -> Verdict:
    """Do the threshold-free and the eigenvalue-count measures agree net by net? Pearson r, over the nets whose
    chains pass the checks, between λ̂ (`llc_deep`) and the degenerate fraction at `tol` (`degeneracy`) at the
    same checkpoint of the same nets; agreement is a negative r (more near-zero eigenvalues, lower λ̂). Primary
    comparison: -atanh(r) against zero (Fisher's z, as `part3.degeneracy_accuracy`); fewer than four measurable
    nets: not yet tested."""
    if not np.array_equal(llc_result.labels(), degeneracy_result.labels()) or not np.array_equal(
            llc_result.labels("seed"), degeneracy_result.labels("seed")):
        raise ValueError("llc_result and degeneracy_result must hold the same nets in the same order")
    if int(llc_result.checkpoints[step]) != int(degeneracy_result.checkpoints[step]):
        raise ValueError(f"checkpoint {step} is step {int(llc_result.checkpoints[step])} in llc_result but "
                         f"{int(degeneracy_result.checkpoints[step])} in degeneracy_result")
    ok = np.concatenate(list(llc_result.measurable(step).values()))
    lam = np.concatenate(list(llc_result.llc(step=step).values()))[ok]
    deg = np.concatenate(list(degeneracy_result.degenerate(tol=tol, step=step).values()))[ok]
    if ok.sum() < 4:
        return judge("-atanh(r) over the measurable nets", _untested(int(ok.sum()), 4),
                     f"{int(ok.sum())} of {len(ok)} nets measurable at step {int(llc_result.checkpoints[step])}: "
                     "too few for a correlation")
    c = correlation(deg, lam)
    numbers = (f"r = {c['r']:+.2f} (n = {c['n']} measurable nets) between the degenerate fraction (tol {tol:g}) "
               f"and λ̂ at step {int(llc_result.checkpoints[step])}")
    return judge("-atanh(r) over the measurable nets", negative_correlation(deg, lam), numbers)


@check
def skips_prevent_collapse(result) -> Verdict:
    """Rank collapse (experiment `rank_collapse`). Primary comparison: log10 of the distance from rank one after
    the last layer, pre-LN stacks with skips − the same stacks without (Welch, δ = one decade). Secondary: the
    same for every other variant with skips against its twin without. Reported: whether every stack without
    skips ends collapsed to rounding error (below `COLLAPSED`)."""
    final = result.final()
    pairs = {v: v.replace(", skips", ", no skips") for v in final if "no skips" not in v}
    pairs = {v: w for v, w in pairs.items() if w in final}
    kept = [v for v in pairs if "pre-LN" in v]
    if not kept:
        raise ValueError(f"result {result.name!r} needs pre-LN stacks with and without skips; it has {list(final)}")

    def further(v):
        return welch(np.log10(np.maximum(final[v], 1e-300)), np.log10(np.maximum(final[pairs[v]], 1e-300)), delta=1.0)

    collapsed = all((final[w] < COLLAPSED).all() for w in pairs.values())
    numbers = (f"distance from rank one after {int(result.depths[-1])} layers: "
               + "; ".join(f"{v} {np.median(final[v]):.1e}" for v in final)
               + f" (medians over {len(next(iter(final.values())))} seeds); every stack without skips below "
               f"{COLLAPSED:g}: {'yes' if collapsed else 'no'}")
    return judge(f"log10 distance from rank one, {kept[0]} − without skips", further(kept[0]), numbers,
                 {f"{v} − without skips": further(v) for v in pairs if v != kept[0]})


#: a decay of the distance from rank one slower than this (decades per layer) is no decay: a hundred layers
#: would lose less than one decade
DELTA_DECAY = 0.01


def collapse_rates(result) -> dict[str, np.ndarray]:
    """{variant: one number per seed} the change of log10 res(X_l) per layer over the second half of the stack
    (negative: the tokens still approach rank one there)."""
    L = int(result.depths[-1])
    half = L // 2
    return {v: (np.log10(np.maximum(r[:, L], 1e-300)) - np.log10(np.maximum(r[:, half], 1e-300))) / (L - half)
            for v, r in result.residual().items()}


@check
def skips_alone_slow_collapse(result) -> Verdict:
    """Skips without normalization slow the collapse but do not stop it (experiment `rank_collapse`). Primary
    comparison: the decay of the attention-only stacks with skips and no layer norm, −(change of log10 res per
    layer over the second half of the stack), against zero (δ = `DELTA_DECAY`); secondary: the same with MLP
    blocks."""
    rates = collapse_rates(result)
    plain, mlp = result.variant(True, False, False), result.variant(True, True, False)
    numbers = "change of log10 distance from rank one per layer, second half: " + spread(
        {v: rates[v] for v in (plain, mlp) if v in rates})
    return judge(f"decay per layer, {plain}", one_sample(-rates[plain], delta=DELTA_DECAY), numbers,
                 {f"decay per layer, {mlp}": one_sample(-rates[mlp], delta=DELTA_DECAY)} if mlp in rates else {})


@check
def pre_ln_stops_collapse(result) -> Verdict:
    """Skips with pre-LN stop the collapse (experiment `rank_collapse`), a claim of agreement about today's
    transformer block: the change of log10 res per layer over the second half of the pre-LN stacks of attention
    and MLP blocks with skips is zero within δ = `DELTA_DECAY`; secondary: attention-only pre-LN stacks with
    skips (*reversed* there: they still decay)."""
    rates = collapse_rates(result)
    block, attention = result.variant(True, True, True), result.variant(True, False, True)
    numbers = "change of log10 distance from rank one per layer, second half: " + spread(
        {v: rates[v] for v in (block, attention) if v in rates})
    return judge(f"change per layer, {block}", one_sample(rates[block], delta=DELTA_DECAY), numbers,
                 {f"change per layer, {attention}": one_sample(rates[attention], delta=DELTA_DECAY)}
                 if attention in rates else {}, expectation=EQUAL)


@check
def shattering_grows_with_depth(result) -> Verdict:
    """Shattered gradients against depth at initialization (experiment `shattered_depth`): the similarity of the
    input gradients falls more from the shallowest to the deepest layer in plain nets than in residual nets.
    Primary comparison: that fall, plain − residual, at the larger input distance (Welch, δ = `DELTA_COSINE`);
    secondary: the same at the other distances. Reported with each mean curve's fits of the two published laws
    (`rivals.depth_law_fits`)."""
    far = max(result.distances)
    falls, fits = {}, []
    for distance in result.distances:
        sim = result.similarity(distance)
        need(sim, ["plain", "residual"], result)
        falls[distance] = {g: v[:, 0] - v[:, -1] for g, v in sim.items()}
        for g, v in sim.items():
            mean = v.mean(0)
            if (mean > 0).all():
                law = rv.depth_law_fits(result.depths, mean)
                best = min(law, key=lambda k: law[k]["rss"])
                fits.append(f"{g} at {distance:g}: {best} fits better (rate {law[best]['rate']:+.3g})")
    numbers = (f"fall of the similarity from depth {int(result.depths[0])} to {int(result.depths[-1])}: "
               + "; ".join(f"distance {d:g}: {spread(f)}" for d, f in falls.items()) + "; " + "; ".join(fits))

    def more(distance):
        f = falls[distance]
        return welch(f["plain"], f["residual"], delta=DELTA_COSINE)

    return judge(f"fall of the similarity, plain − residual, distance {far:g}", more(far), numbers,
                 {f"distance {d:g}": more(d) for d in result.distances if d != far})


@check
def gradients_less_shattered(result, stage: str = "trained") -> Verdict:
    """Shattered gradients (experiment `rivals`): at the last hidden layer, the input gradients of nearby inputs
    are more similar in residual nets than in plain nets. Primary comparison: cosine similarity, residual − plain
    (Welch, δ = `DELTA_COSINE`); secondary: hyper-residual − plain."""
    last = {g: v[:, -1] for g, v in result.similarity(stage).items()}
    need(last, ["plain", "residual"], result)
    numbers = (f"cosine similarity of input gradients {result.config.distance:g} apart, last layer, {stage}: "
               f"{spread(last)}")
    return judge("cosine similarity, residual − plain", welch(last["residual"], last["plain"], delta=DELTA_COSINE),
                 numbers, {f"{g} − plain": welch(last[g], last["plain"], delta=DELTA_COSINE)
                           for g in last if g not in ("plain", "residual")})


@check
def lesions_hurt_plain_more(result) -> Verdict:
    """Ensembles of shallow paths (experiment `rivals`): removing a single hidden layer from a trained net costs
    plain nets more training accuracy (mean over layers). Primary comparison: accuracy lost, plain − residual
    (Welch, δ = `DELTA_ACC`); secondary: plain − hyper-residual."""
    drop = result.lesion_drop()
    need(drop, ["plain", "residual"], result)
    numbers = f"accuracy lost by removing one layer (mean over layers): {spread(drop)}; intact accuracy {spread(result.intact())}"
    return judge("accuracy lost, plain − residual", welch(drop["plain"], drop["residual"], delta=DELTA_ACC), numbers,
                 {f"plain − {g}": welch(drop["plain"], drop[g], delta=DELTA_ACC)
                  for g in drop if g not in ("plain", "residual")})


#: a trained stack "reaches" the rank-one floor when its final loss is within this fraction of it
FLOOR_RTOL = 0.01


@check
def training_keeps_collapse(result) -> Verdict:
    """Brief training of pre-LN attention stacks (experiment `rank_collapse`) on a task that needs distinct
    tokens, where the rank-one floor is the best loss of outputs that are the same for every token of a sequence.
    Primary comparison: final training loss, stacks without skips − stacks with skips (Welch, δ = `FLOOR_RTOL` ×
    floor). Secondary: the stacks with skips below the floor; the stacks without skips no lower than the floor
    less `FLOOR_RTOL`."""
    final = {v: losses[:, -1] for v, losses in result.trained_loss().items()}
    floor = result.floor
    stuck = [v for v in final if "no skips" in v]
    learned = [v for v in final if "no skips" not in v]
    if not stuck or not learned:
        raise ValueError(f"result {result.name!r} needs trained stacks with and without skips; it has {list(final)}")
    s_, l_ = np.concatenate([final[v] for v in stuck]), np.concatenate([final[v] for v in learned])
    delta = FLOOR_RTOL * floor
    numbers = (f"final training loss after {int(result.train_steps[-1])} steps: {spread(final)}; rank-one floor "
               f"{floor:.3f}")
    return judge("final loss, without skips − with skips", welch(s_, l_, delta=delta), numbers,
                 {"with skips below the floor": one_sample(floor - l_, delta=delta),
                  "without skips at the floor or above": one_sample(s_ - floor * (1 - FLOOR_RTOL), delta=delta)})
