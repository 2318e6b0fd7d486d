"""Part III claims: deep plain nets train worse, are more degenerate, have more singular layers, and degeneracy
goes with accuracy (experiments `training`, `degeneracy`, `depth_sweep`; typed results of `experiments.deep`).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..degeneracy import HEADLINE_TOL, NEAR_ZERO
from ..report import glue, markdown_table, mean_spread
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


#: what each normalization compares |λ| with, for the table
SCALE_WORDS = {"max": "the net's own max|λ|", "mean": "the net's mean |λ|", "absolute": "1 (absolute)"}


def ordering_verdict(values: Mapping[str, np.ndarray], errors: Mapping[str, float] | None = None) -> tuple[str, str]:
    """Whether plain nets' values exceed every skip architecture's by the margin rule, with measurement errors:
    "holds" when all do, "partly holds" when some do, "does not hold at our settings" when none does and some
    skip architecture is larger by the same rule, and "not resolved at this size" when no difference clears its
    errors either way. Returns (verdict, a 'plain > g yes/no/reversed/unresolved' list)."""
    if "plain" not in values:
        raise ValueError(f"values must include the group 'plain'; got groups {list(values)}")
    errors = errors or {}
    said, wins, losses = [], [], []
    for g in values:
        if g == "plain":
            continue
        e_p, e_g = errors.get("plain", 0.0), errors.get(g, 0.0)
        win = exceeds(values["plain"], values[g], error_a=e_p, error_b=e_g)
        loss = exceeds(values[g], values["plain"], error_a=e_g, error_b=e_p)
        wins.append(bool(win))
        losses.append(bool(loss))
        said.append(f"plain > {g} " + ("yes" if win else "reversed" if loss else "unresolved"))
    verdict = HOLDS if all(wins) else PARTLY if any(wins) else FAILS if any(losses) else UNRESOLVED
    return verdict, ", ".join(said)


def near_zero_gap(result, normalization: str = "max", threshold: float | None = None, step: int = -1,
                  exclude_collapsed: bool = False) -> Verdict:
    """Plain nets have more near-zero Hessian eigenvalues (experiment `degeneracy`) under one normalization:
    |λ| <= threshold * (max|λ|, mean|λ| or 1), threshold `degeneracy.NEAR_ZERO[normalization]` unless given,
    at checkpoint `step`. The margin rule includes each group's SLQ error (probe spread and quadrature
    resolution, `DegeneracyResult.near_zero_error`), so a threshold SLQ cannot resolve gives "not resolved at
    this size". `exclude_collapsed` drops nets whose output no longer depends on the input."""
    threshold = NEAR_ZERO[normalization] if threshold is None else threshold
    values = result.near_zero(normalization, threshold, step)
    errors = result.near_zero_error(normalization, threshold, step)
    if exclude_collapsed:
        keep = result.collapsed(step)
        values = {g: v[~keep[g]] for g, v in values.items()}
    need(values, ["plain"], result)
    verdict, said = ordering_verdict(values, errors)
    numbers = (f"fraction with |λ| <= {threshold:g} × {SCALE_WORDS[normalization]} at step "
               f"{int(result.checkpoints[step])}: {spread(values)}; SLQ error of the means "
               + ", ".join(f"{g} {e:.3f}" for g, e in errors.items()) + f"; {said}")
    return Verdict(numbers, verdict)


def more_degenerate_max(result) -> Verdict:
    """`near_zero_gap` relative to each net's own max|λ| (the paper-style measure), at the last checkpoint."""
    return near_zero_gap(result, "max")


def more_degenerate_mean(result) -> Verdict:
    """`near_zero_gap` relative to each net's mean |λ| (trace-normalized), at the last checkpoint."""
    return near_zero_gap(result, "mean")


def more_degenerate_absolute(result) -> Verdict:
    """`near_zero_gap` with one absolute threshold for every net, at the last checkpoint."""
    return near_zero_gap(result, "absolute")


def exact_zero_gap(result, matrix: str = "hessian", exclude_collapsed: bool = False) -> Verdict:
    """Plain nets have more *exact* zero eigenvalues (experiment `exact_zeros`: dense spectra, zeros counted
    below the spectral gap) of the Hessian or the Gauss-Newton matrix; `exclude_collapsed` drops failed runs.
    Dense spectra have no measurement error: the margin rule is over seeds only."""
    values = result.measured(matrix)
    collapsed = result.collapsed()
    if exclude_collapsed:
        values = {g: v[~collapsed[g]] for g, v in values.items()}
    need(values, ["plain"], result)
    verdict, said = ordering_verdict(values)
    n_coll = {g: int(c.sum()) for g, c in collapsed.items()}
    numbers = (f"exact-zero fraction of the {'Hessian' if matrix == 'hessian' else 'Gauss-Newton matrix'}"
               f"{' (collapsed nets left out)' if exclude_collapsed else ''}: {spread(values)}; collapsed nets "
               + ", ".join(f"{g} {k}" for g, k in n_coll.items()) + f"; {said}")
    return Verdict(numbers, verdict)


def dense_near_zero_gap(result, normalization: str = "max", threshold: float | None = None,
                        matrix: str = "hessian", exclude_collapsed: bool = False) -> Verdict:
    """`near_zero_gap` on the dense spectra of experiment `exact_zeros` (no measurement error: the margin rule is
    over seeds only), at the end of training."""
    threshold = NEAR_ZERO[normalization] if threshold is None else threshold
    values = result.near_zero(normalization, threshold, matrix)
    if exclude_collapsed:
        keep = result.collapsed()
        values = {g: v[~keep[g]] for g, v in values.items()}
    need(values, ["plain"], result)
    verdict, said = ordering_verdict(values)
    numbers = (f"dense {'Hessian' if matrix == 'hessian' else 'Gauss-Newton'} spectra, fraction with |λ| <= "
               f"{threshold:g} × {SCALE_WORDS[normalization]}: {spread(values)}; {said}")
    return Verdict(numbers, verdict)


def exact_near_zero_max(result) -> Verdict:
    """`dense_near_zero_gap` of the Hessian relative to each net's own max|λ| (the ledger's row)."""
    return dense_near_zero_gap(result, "max")


def exact_near_zero_mean(result) -> Verdict:
    """`dense_near_zero_gap` of the Hessian relative to each net's mean |λ| (the ledger's row)."""
    return dense_near_zero_gap(result, "mean")


def exact_near_zero_absolute(result) -> Verdict:
    """`dense_near_zero_gap` of the Hessian with one absolute threshold (the ledger's row)."""
    return dense_near_zero_gap(result, "absolute")


def exact_zeros_ggn(result) -> Verdict:
    """`exact_zero_gap` of the Gauss-Newton matrix (= the Fisher for cross-entropy), every net counted."""
    return exact_zero_gap(result, "ggn")


def exact_zeros_hessian(result) -> Verdict:
    """`exact_zero_gap` of the Hessian with every net counted (the ledger's row)."""
    return exact_zero_gap(result, "hessian")


#: the per-layer measures the claim is judged on (chapter III.2) and what the claim calls them: dead branch
#: units (elimination of layer *outputs* is ~0 with skips by construction, so it is reported, not compared),
#: overlap of the outputs, and linear dependence among live outputs (not counting dead units twice)
LAYER_CLAIMS = {"branch_elimination": "elimination (dead units)", "overlap": "overlap",
                "live_rank_deficit": "linear dependence among live units"}


def layer_singularities(result) -> Verdict:
    """Singularities layer by layer (experiment `degeneracy`): per net, the mean over layers of the fraction of
    dead branch units, of overlapping output pairs and of the rank deficit among live outputs, at the last
    checkpoint; for each measure plain nets must exceed both skip architectures by the margin rule. Holds when
    all three do, partly when some do. Results stored before the live rank deficit existed are judged on the
    rank deficit of all outputs instead (said in the numbers). Reported too: eliminated layer outputs."""
    measures = dict(LAYER_CLAIMS)
    if "ckpt_live_rank_deficit" not in result.arrays:
        del measures["live_rank_deficit"]
        measures["rank_deficit"] = "linear dependence (all outputs; live-only not stored)"
    per = {k: result.layer(k) for k in (*measures, "elimination")}
    groups = list(per["elimination"])
    need(groups, ["plain"], result)
    parts = {}
    for key, name in measures.items():
        wins = [exceeds(per[key]["plain"], per[key][g]) for g in groups if g != "plain"]
        parts[name] = None if None in wins else all(wins)
    verdict, said = parts_verdict(parts)

    def row(key):
        return " vs ".join(f"{per[key][g].mean():.2f}" for g in groups)

    numbers = (f"mean fraction per layer at the end, {' vs '.join(groups)}: "
               + "; ".join(f"{name} {row(key)}" for key, name in measures.items())
               + f"; eliminated outputs {row('elimination')}; plain higher by > 2 SE: {said}")
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


def depth_near_zero_gap(result, normalization: str = "max") -> Verdict:
    """Plain nets have more near-zero Hessian eigenvalues at every depth of the sweep, under one normalization
    (`DepthSweepResult.near_zero`): at each depth `ordering_verdict` of plain against residual with each group's
    SLQ error of the mean (the nets' errors combined as independent). Holds when it holds at every depth, partly
    when at some; when no depth resolves the gap it is "not resolved at this size"; reversed everywhere it
    resolves: does not hold."""
    values, errors = result.near_zero(normalization), result.near_zero_error(normalization)
    per_depth, text = [], []
    for i, depth in enumerate(result.depths):
        v = {g: a[i] for g, a in values.items()}
        e = {g: float(np.sqrt(np.sum(a[i] ** 2)) / len(a[i])) for g, a in errors.items()}
        verdict, said = ordering_verdict(v, e)
        per_depth.append(verdict)
        text.append(f"{int(depth)}: {said} ({v['plain'].mean():.3f} vs "
                    + ", ".join(f"{v[g].mean():.3f} ± {e[g]:.3f}" for g in v if g != "plain") + ")")
    if all(p == HOLDS for p in per_depth):
        verdict = HOLDS
    elif any(p in (HOLDS, PARTLY) for p in per_depth):
        verdict = PARTLY
    else:
        verdict = FAILS if any(p == FAILS for p in per_depth) else UNRESOLVED
    return Verdict(f"near-zero fraction (|λ| <= {NEAR_ZERO[normalization]:g} × {SCALE_WORDS[normalization]}) by "
                   f"depth: " + "; ".join(text), verdict)


def verdict_table(verdicts, thresholds, prefix: str | None = None) -> str:
    """A markdown table of near-zero verdicts per normalization ({normalization: Verdict}), with each
    normalization's scale in words and its threshold ({normalization: threshold}): chapter III.2's tables. With
    `prefix`, each verdict word is also glued as `prefix_normalization` for the prose."""
    for n, v in verdicts.items():
        if prefix is not None:
            glue(f"{prefix}_{n}", v.verdict, display=False)
    rows = [{"normalization": SCALE_WORDS[n], "threshold": f"{thresholds[n]:g}", "measured": v.numbers,
             "verdict": v.verdict} for n, v in verdicts.items()]
    return markdown_table(rows, ["normalization", "threshold", "measured", "verdict"])
