"""Part V checks: the book's own claims beyond the paper (experiments `llc_toy`, `llc_deep`, `rank_collapse`;
typed results of `experiments.beyond`). These are not claims of Orhan & Pitkow: the ledger lists them as the
book's."""
from __future__ import annotations

import numpy as np

from ..degeneracy import HEADLINE_TOL
from ..stats import correlation, mean_error, one_sample, welch
from .base import EQUAL, Verdict, judge
from .part3 import DELTA_ACC, negative_correlation, need, spread

#: the SGLD estimate may miss its exact target by this fraction (the step size's bias, chapter V.1)
LLC_REL_TOL = 0.05
#: the model the estimator claim is judged on, declared before the run: the elimination singularity of
#: y = abx, the kind of point the book measures deep nets near; the other known models are secondary
LLC_PRIMARY = "product, origin"
#: the smallest difference in λ̂ between architectures that matters: half a parameter's worth (1/2 is one
#: regular parameter's contribution)
DELTA_LLC = 0.5
#: the smallest difference in cosine similarity of input gradients that matters
DELTA_COSINE = 0.05
#: a distance from rank one below this is collapse to rounding error (float64)
COLLAPSED = 1e-10


def estimator_recovers(result, rel_tol: float = LLC_REL_TOL) -> Verdict:
    """The SGLD estimator on the models with known λ (experiment `llc_toy`), a claim of agreement: mean λ̂ over
    chains minus its exact target at this n (closed form or quadrature), δ = `rel_tol` × target. Primary: model
    `LLC_PRIMARY`; the other models are secondary comparisons (Holm; *shown* or *reversed* there means that
    model's estimate is off its target)."""
    comps, rows = {}, []
    for model in result.models():
        chains, target = result.chains(model), result.target(model)
        comps[model] = one_sample(chains, target, delta=rel_tol * abs(target))
        rows.append(f"{model} {chains.mean():.3f} ± {chains.std(ddof=1) / np.sqrt(len(chains)):.3f} "
                    f"(exact {target:.3f}, λ = {result.lam(model):g})")
    if LLC_PRIMARY not in comps:
        raise ValueError(f"result {result.name!r} has no model {LLC_PRIMARY!r}; it has {list(comps)}")
    primary = comps.pop(LLC_PRIMARY)
    return judge(f"λ̂ − target, {LLC_PRIMARY}", primary,
                 f"λ̂ at n = {result.n} (mean ± SE over chains): " + "; ".join(rows), comps, expectation=EQUAL)


def plain_llc_lower(result, step: int = -1) -> Verdict:
    """The threshold-free version of Part III's claim (experiment `llc_deep`): at checkpoint `step` plain nets
    have a lower local learning coefficient (are more degenerate). Primary comparison: λ̂, residual − plain
    (Welch, δ = `DELTA_LLC`), with each chain's own standard error averaged over nets (`stats.mean_error`) as the
    measurement error; secondary: hyper-residual − plain."""
    lam, err = result.llc(step=step), result.llc_error(step=step)
    need(lam, ["plain", "residual"], result)
    e = {g: mean_error(err[g], np.zeros_like(err[g]))[0] for g in lam}

    def above(g):
        return welch(lam[g], lam["plain"], error_a=e[g], error_b=e["plain"], delta=DELTA_LLC)

    numbers = f"λ̂ at step {int(result.checkpoints[step])} (d/2 = {result.regular_value:g}): {spread(lam)}"
    return judge("λ̂, residual − plain", above("residual"), numbers,
                 {f"{g} − plain": above(g) for g in lam if g not in ("plain", "residual")})


def llc_agrees_with_counts(llc_result, degeneracy_result, tol: float = HEADLINE_TOL, step: int = -1) -> Verdict:
    """Do the threshold-free and the eigenvalue-count measures agree net by net? Pearson r over all nets between
    λ̂ (`llc_deep`) and the degenerate fraction at `tol` (`degeneracy`) at the same checkpoint of the same nets;
    agreement is a negative r (more near-zero eigenvalues, lower λ̂). Primary comparison: -atanh(r) against zero
    (Fisher's z, as `part3.degeneracy_accuracy`)."""
    if not np.array_equal(llc_result.labels(), degeneracy_result.labels()) or not np.array_equal(
            llc_result.labels("seed"), degeneracy_result.labels("seed")):
        raise ValueError("llc_result and degeneracy_result must hold the same nets in the same order")
    if int(llc_result.checkpoints[step]) != int(degeneracy_result.checkpoints[step]):
        raise ValueError(f"checkpoint {step} is step {int(llc_result.checkpoints[step])} in llc_result but "
                         f"{int(degeneracy_result.checkpoints[step])} in degeneracy_result")
    lam = np.concatenate(list(llc_result.llc(step=step).values()))
    deg = np.concatenate(list(degeneracy_result.degenerate(tol=tol, step=step).values()))
    c = correlation(deg, lam)
    numbers = (f"r = {c['r']:+.2f} (n = {c['n']} nets) between the degenerate fraction (tol {tol:g}) and λ̂ at step "
               f"{int(llc_result.checkpoints[step])}")
    return judge("-atanh(r) over all nets", negative_correlation(deg, lam), numbers)


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


def gradients_less_shattered(result, stage: str = "trained") -> Verdict:
    """Shattered gradients (experiment `rivals`): at the last hidden layer, the input gradients of nearby inputs
    are more similar in residual nets than in plain nets. Primary comparison: cosine similarity, residual − plain
    (Welch, δ = `DELTA_COSINE`); secondary: hyper-residual − plain."""
    last = {g: v[:, -1] for g, v in result.similarity(stage).items()}
    need(last, ["plain", "residual"], result)
    numbers = (f"cosine similarity of input gradients {result.config['distance']:g} apart, last layer, {stage}: "
               f"{spread(last)}")
    return judge("cosine similarity, residual − plain", welch(last["residual"], last["plain"], delta=DELTA_COSINE),
                 numbers, {f"{g} − plain": welch(last[g], last["plain"], delta=DELTA_COSINE)
                           for g in last if g not in ("plain", "residual")})


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
