"""Part III claims: deep plain nets train worse, are more degenerate, have more singular layers, and degeneracy
goes with accuracy (experiments `training`, `degeneracy`, `depth_sweep`; typed results of `experiments.deep`).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..degeneracy import HEADLINE_TOL
from ..report import mean_spread
from ..stats import correlation, exceeds, margin
from .base import FAILS, HOLDS, PARTLY, UNRESOLVED, UNTESTED, Verdict, gap_verdict, parts_verdict


def need(groups: Mapping, names, result) -> None:
    """Raise a ValueError unless every group in `names` is in `groups` (a result's groups)."""
    missing = [n for n in names if n not in groups]
    if missing:
        raise ValueError(f"result {result.name!r} has no nets {missing}; its groups are {list(groups)}")


def spread(groups: Mapping[str, np.ndarray], names=None) -> str:
    """'group mean ± std (n=…); …' for a table cell."""
    return "; ".join(f"{g} {mean_spread(groups[g])}" for g in (names or groups))


def training_gap(result) -> Verdict:
    """Plain nets train worse (experiment `training`, or any result with training curves by architecture):
    holds when residual and hyper-residual nets each beat plain nets' final training accuracy by the margin
    rule (`stats.exceeds`)."""
    acc = result.final("acc", by="arch")
    need(acc, ["plain"], result)
    better = {a: acc[a] for a in ("residual", "hyper") if a in acc}
    return Verdict("final training accuracy: " + spread(acc), gap_verdict(better, acc["plain"]))


def more_degenerate(result, tol: float = HEADLINE_TOL) -> Verdict:
    """Plain nets more degenerate (experiment `degeneracy`): at the last checkpoint the degenerate fraction
    (|λ| <= tol · max|λ|) of plain nets exceeds that of residual and of hyper-residual nets, each by the margin
    rule. Holds when both do, partly when one does."""
    final = result.degenerate(tol=tol)
    need(final, ["plain"], result)
    parts = {f"plain > {g}": exceeds(final["plain"], final[g]) for g in final if g != "plain"}
    verdict, said = parts_verdict(parts)
    numbers = (f"degenerate fraction (tol {tol:g}) at step {int(result.checkpoints[-1])}: {spread(final)}; "
               f"Gauss-Newton rank bound {result.rank_bound:.2f}; more degenerate by > 2 SE: {said}")
    return Verdict(numbers, verdict)


def clears_rank_bound(result, tol: float = HEADLINE_TOL, margin: float = 0.1) -> Verdict:
    """The measured fractions are not the rank trap: every architecture's mean final degenerate fraction lies
    more than `margin` above the Gauss-Newton rank bound (the zero fraction the data size alone forces)."""
    final = result.degenerate(tol=tol)
    low = {g: float(v.mean()) for g, v in final.items() if not v.mean() > result.rank_bound + margin}
    numbers = (f"mean final degenerate fraction {', '.join(f'{g} {v.mean():.3f}' for g, v in final.items())}; "
               f"rank bound {result.rank_bound:.3f}")
    return Verdict(numbers, HOLDS if not low else FAILS)


#: the per-layer measures of chapter III.2 (of the layer outputs h_l) and what the claim calls them
LAYER_CLAIMS = {"elimination": "elimination", "overlap": "overlap", "rank_deficit": "linear dependence"}


def layer_singularities(result) -> Verdict:
    """Singularities layer by layer (experiment `degeneracy`): per net, the mean over layers of the elimination,
    overlap and rank-deficit measures of the layer outputs at the last checkpoint; for each measure plain nets
    must exceed both skip architectures by the margin rule. Holds when all three do, partly when some do.
    Reported too: dead *branch* units, which the skips carry past."""
    per = {k: result.layer(k) for k in (*LAYER_CLAIMS, "branch_elimination")}
    groups = list(per["elimination"])
    need(groups, ["plain"], result)
    parts = {}
    for key, name in LAYER_CLAIMS.items():
        wins = [exceeds(per[key]["plain"], per[key][g]) for g in groups if g != "plain"]
        parts[name] = None if None in wins else all(wins)
    verdict, said = parts_verdict(parts)

    def row(key):
        return " vs ".join(f"{per[key][g].mean():.2f}" for g in groups)

    numbers = (f"mean fraction per layer at the end, {' vs '.join(groups)}: "
               + "; ".join(f"{name} {row(key)}" for key, name in LAYER_CLAIMS.items())
               + f"; dead branch units {row('branch_elimination')}; plain higher by > 2 SE: {said}")
    return Verdict(numbers, verdict)


def degeneracy_accuracy(result, tol: float = HEADLINE_TOL) -> Verdict:
    """Degeneracy against accuracy (experiment `degeneracy`): Pearson r between the final degenerate fraction and
    the final training accuracy over all nets, with its Fisher-z 95% interval (`stats.correlation`). Holds when
    the interval lies below zero, partly when r < 0 but the interval includes zero, does not hold when r >= 0."""
    acc, deg = result.final("acc"), result.degenerate(tol=tol)
    a, d = np.concatenate(list(acc.values())), np.concatenate(list(deg.values()))
    c = correlation(d, a)
    verdict = FAILS if c["r"] >= 0 else HOLDS if c["fisher_hi"] < 0 else PARTLY
    numbers = (f"r = {c['r']:+.2f} (95% interval {c['fisher_lo']:+.2f} to {c['fisher_hi']:+.2f}, n = {c['n']} nets "
               f"of {len(acc)} architectures) between the final degenerate fraction (tol {tol:g}) and the final "
               f"training accuracy")
    return Verdict(numbers, verdict)


def within_architecture_correlation(result, tol: float = HEADLINE_TOL) -> Verdict:
    """Whether degeneracy and accuracy correlate *within* each architecture (seed to seed): "holds" when every
    architecture's Fisher-z interval lies below zero, "partly holds" when some do, else not shown."""
    acc, deg = result.final("acc"), result.degenerate(tol=tol)
    cs = {g: correlation(deg[g], acc[g]) for g in acc}
    below = [c["fisher_hi"] < 0 for c in cs.values()]
    numbers = "; ".join(f"{g} r = {c['r']:+.2f} [{c['fisher_lo']:+.2f}, {c['fisher_hi']:+.2f}]" for g, c in cs.items())
    return Verdict(numbers, HOLDS if all(below) else PARTLY if any(below) else FAILS)


# ---- the depth sweep (experiment `depth_sweep`, chapter III.1) -----------------------------------------------

def _per_depth(values: dict, better: str, worse: str, depths) -> tuple[dict, str]:
    """Per depth, whether `better` exceeds `worse` by the margin rule, and a 'depth: margin' list."""
    wins, text = {}, []
    for i, depth in enumerate(depths):
        m = margin(values[better][i], values[worse][i])
        wins[int(depth)] = m.exceeds
        text.append(f"{int(depth)}: {m}")
    return wins, "; ".join(text)


def _depth_verdict(wins: dict) -> str:
    if any(w is None for w in wins.values()):
        return UNTESTED
    return HOLDS if all(wins.values()) else PARTLY if any(wins.values()) else UNRESOLVED


def depth_accuracy_gap(result) -> Verdict:
    """Residual nets train better at every depth of the sweep: final training accuracy, residual minus plain,
    by the margin rule at each depth. Holds at every depth, partly at some; at none it is not resolved."""
    wins, text = _per_depth(result.at_depths("acc"), "residual", "plain", result.depths)
    return Verdict(f"accuracy gap (residual − plain) by depth: {text}", _depth_verdict(wins))


def depth_degeneracy_gap(result, tol: float = HEADLINE_TOL) -> Verdict:
    """Plain nets are more degenerate at every depth of the sweep: final degenerate fraction, plain minus
    residual, by the margin rule at each depth (seeds only; SLQ's own error would widen it further)."""
    wins, text = _per_depth(result.degenerate(tol=tol), "plain", "residual", result.depths)
    return Verdict(f"degeneracy gap (plain − residual, tol {tol:g}) by depth: {text}", _depth_verdict(wins))


def gap_grows_with_depth(result) -> Verdict:
    """The accuracy gap (residual − plain) at the deepest depth exceeds the gap at the shallowest by the margin
    rule (per-seed gaps, seeds paired by index)."""
    acc = result.at_depths("acc")
    gaps = acc["residual"] - acc["plain"]                         # (depths, seeds)
    m = margin(gaps[-1], gaps[0])
    verdict = UNTESTED if m.exceeds is None else HOLDS if m.exceeds else UNRESOLVED
    return Verdict(f"gap at depth {int(result.depths[-1])} minus gap at depth {int(result.depths[0])}: {m}", verdict)
