"""Part III claims: deep plain nets train worse, are more degenerate, have more singular layers, and degeneracy
goes with accuracy, and the excess of exact zeros shrinks with width (experiments `training`, `degeneracy`,
`depth_sweep`, `exact_zeros`, `width_sweep`; typed results of `experiments.part3`).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..curvature import NORMALIZATIONS
from ..degeneracy import HEADLINE_TOL, NEAR_ZERO
from ..report import glue, markdown_table, mean_spread
from ..stats import Comparison, correlation, estimate, negative_r, one_sample, welch
from .base import EQUAL, Verdict, check, judge

#: the smallest difference in final training accuracy that matters: one percentage point (the paper's gaps are
#: tens of points; below one point no reader would choose an architecture by it)
DELTA_ACC = 0.01
#: the smallest difference in a fraction of eigenvalues (or of units, pairs, rank) that matters: one in a hundred
DELTA_FRACTION = 0.01
#: the smallest correlation that matters (|r| below 0.1 explains under 1 % of the variance)
DELTA_R = 0.1


def need(groups: Mapping, names, result) -> None:
    """Raise a ValueError unless every group in `names` is in `groups` (a result's groups)."""
    missing = [n for n in names if n not in groups]
    if missing:
        raise ValueError(f"result {result.name!r} has no nets {missing}; its groups are {list(groups)}")


def spread(groups: Mapping[str, np.ndarray], names=None) -> str:
    """'group mean ± std (n=…); …' for a table cell."""
    return "; ".join(f"{g} {mean_spread(groups[g])}" for g in (names or groups))


@check
def training_gap(result) -> Verdict:
    """Plain nets train worse (experiment `training`, or any result with training curves by architecture).
    Primary comparison: final training accuracy, residual minus plain (Welch, δ = `DELTA_ACC`); secondary:
    hyper-residual minus plain."""
    acc = result.final("acc", by="arch")
    need(acc, ["plain", "residual"], result)
    second = {f"{a} − plain": welch(acc[a], acc["plain"], delta=DELTA_ACC) for a in ("hyper",) if a in acc}
    return judge("final training accuracy, residual − plain", welch(acc["residual"], acc["plain"], delta=DELTA_ACC),
                 "final training accuracy: " + spread(acc), second)


#: what each normalization compares |λ| with, for the table
SCALE_WORDS = {"max": "the net's own max|λ|", "mean": "the net's mean |λ|", "absolute": "1 (absolute)"}


def plain_above(values: Mapping[str, np.ndarray], errors: Mapping[str, tuple[float, float]] | None = None,
                delta: float = DELTA_FRACTION) -> tuple[str, Comparison, dict[str, Comparison]]:
    """Plain nets' values against every skip architecture's (Welch, with each group's measurement error as
    (standard error, bound) of its mean): the primary comparison plain − residual and the secondary ones
    (plain − every other group). Returns (primary's name, primary, secondaries)."""
    if "plain" not in values or "residual" not in values:
        raise ValueError(f"values must include the groups 'plain' and 'residual'; got groups {list(values)}")
    errors = errors or {}

    def versus(g):
        (se_p, b_p), (se_g, b_g) = errors.get("plain", (0.0, 0.0)), errors.get(g, (0.0, 0.0))
        return welch(values["plain"], values[g], error_a=se_p, error_b=se_g, bound_a=b_p, bound_b=b_g, delta=delta)

    return ("plain − residual", versus("residual"),
            {f"plain − {g}": versus(g) for g in values if g not in ("plain", "residual")})


@check
def near_zero_gap(result, normalization: str = "max", threshold: float | None = None, step: int = -1,
                  exclude_collapsed: bool = False) -> Verdict:
    """Plain nets have more near-zero Hessian eigenvalues (experiment `degeneracy`) under one normalization:
    |λ| <= threshold * (max|λ|, mean|λ| or 1), threshold `degeneracy.NEAR_ZERO[normalization]` unless given,
    at checkpoint `step`. Primary comparison: plain − residual (`plain_above`, δ = `DELTA_FRACTION`), with each
    group's SLQ error (`DegeneracyResult.near_zero_error`: the probes' standard error, the quadrature's
    resolution as a bound); a threshold SLQ cannot resolve leaves it "too imprecise", with "more runs cannot
    resolve it" when the bound alone covers the gap. `exclude_collapsed` drops nets whose output no longer
    depends on the input."""
    threshold = NEAR_ZERO[normalization] if threshold is None else threshold
    values = result.near_zero(normalization, threshold, step)
    errors = result.near_zero_error(normalization, threshold, step)
    if exclude_collapsed:
        keep = result.collapsed(step)
        values = {g: v[~keep[g]] for g, v in values.items()}
    need(values, ["plain"], result)
    name, primary, second = plain_above(values, errors)
    numbers = (f"fraction with |λ| <= {threshold:g} × {SCALE_WORDS[normalization]} at step "
               f"{int(result.checkpoints[step])}: {spread(values)}; SLQ error of the means (SE, bound) "
               + ", ".join(f"{g} {e[0]:.3f}, {e[1]:.3f}" for g, e in errors.items()))
    return judge(f"near-zero fraction, {name}", primary, numbers, second)


@check
def more_degenerate_max(result) -> Verdict:
    """`near_zero_gap` relative to each net's own max|λ| (the paper-style measure), at the last checkpoint."""
    return near_zero_gap(result, "max")


@check
def more_degenerate_mean(result) -> Verdict:
    """`near_zero_gap` relative to each net's mean |λ| (trace-normalized), at the last checkpoint."""
    return near_zero_gap(result, "mean")


@check
def more_degenerate_absolute(result) -> Verdict:
    """`near_zero_gap` with one absolute threshold for every net, at the last checkpoint."""
    return near_zero_gap(result, "absolute")


@check
def exact_zero_gap(result, matrix: str = "hessian", exclude_collapsed: bool = False, at: str = "end") -> Verdict:
    """Plain nets have more *exact* zero eigenvalues (experiment `exact_zeros`: dense spectra, zeros counted
    below the spectral gap) of the Hessian or the Gauss-Newton matrix, at the end of training (or `at="init"`);
    `exclude_collapsed` drops failed runs. Primary comparison: plain − residual (`plain_above`); dense spectra
    have no measurement error."""
    values = result.measured(matrix, at=at)
    collapsed = result.collapsed(at=at)
    if exclude_collapsed:
        values = {g: v[~collapsed[g]] for g, v in values.items()}
    need(values, ["plain"], result)
    name, primary, second = plain_above(values)
    n_coll = {g: int(c.sum()) for g, c in collapsed.items()}
    numbers = (f"exact-zero fraction of the {'Hessian' if matrix == 'hessian' else 'Gauss-Newton matrix'}"
               f"{' at initialization' if at == 'init' else ''}{' (collapsed nets left out)' if exclude_collapsed else ''}: {spread(values)}; collapsed nets "
               + ", ".join(f"{g} {k}" for g, k in n_coll.items()))
    return judge(f"exact-zero fraction, {name}", primary, numbers, second)


@check
def dense_near_zero_gap(result, normalization: str = "max", threshold: float | None = None,
                        matrix: str = "hessian", exclude_collapsed: bool = False, at: str = "end") -> Verdict:
    """`near_zero_gap` on the dense spectra of experiment `exact_zeros` (no measurement error), at the end of
    training (or `at="init"`). Primary comparison: plain − residual (`plain_above`)."""
    threshold = NEAR_ZERO[normalization] if threshold is None else threshold
    values = result.near_zero(normalization, threshold, matrix, at=at)
    if exclude_collapsed:
        keep = result.collapsed(at=at)
        values = {g: v[~keep[g]] for g, v in values.items()}
    need(values, ["plain"], result)
    name, primary, second = plain_above(values)
    numbers = (f"dense {'Hessian' if matrix == 'hessian' else 'Gauss-Newton'} spectra"
               f"{' at initialization' if at == 'init' else ''}, fraction with |λ| <= "
               f"{threshold:g} × {SCALE_WORDS[normalization]}: {spread(values)}")
    return judge(f"near-zero fraction, {name}", primary, numbers, second)


@check
def exact_near_zero_max(result) -> Verdict:
    """`dense_near_zero_gap` of the Hessian relative to each net's own max|λ| (the ledger's row)."""
    return dense_near_zero_gap(result, "max")


@check
def exact_near_zero_mean(result) -> Verdict:
    """`dense_near_zero_gap` of the Hessian relative to each net's mean |λ| (the ledger's row)."""
    return dense_near_zero_gap(result, "mean")


@check
def exact_near_zero_absolute(result) -> Verdict:
    """`dense_near_zero_gap` of the Hessian with one absolute threshold (the ledger's row)."""
    return dense_near_zero_gap(result, "absolute")


@check
def exact_zeros_ggn(result) -> Verdict:
    """`exact_zero_gap` of the Gauss-Newton matrix (= the Fisher for cross-entropy), every net counted."""
    return exact_zero_gap(result, "ggn")


@check
def exact_zeros_hessian(result) -> Verdict:
    """`exact_zero_gap` of the Hessian with every net counted (the ledger's row)."""
    return exact_zero_gap(result, "hessian")


#: how close SLQ's near-zero fraction must come to the exact one for an SLQ verdict to be kept: the claims' own
#: δ for a fraction (an error below it cannot turn a difference that matters into one that does not)
DELTA_SLQ = DELTA_FRACTION


@check
def slq_recovers(result, normalization: str = "max", size: tuple | None = None, at: str = "end") -> Verdict:
    """SLQ recovers the exact near-zero Hessian fraction (experiment `exact_zeros`) under one normalization at
    SLQ size `size` = (probes, Lanczos steps), default the `degeneracy` experiment's. Primary comparison: the
    mean over nets of |SLQ − exact| against zero, expectation EQUAL with δ = `DELTA_SLQ`: it holds when the 90 %
    interval lies inside ±δ, and only then is an SLQ verdict at that size kept."""
    size = tuple(result.slq_sizes[0] if size is None else size)
    e = result.slq_error(normalization, at=at, size=size)
    numbers = (f"|SLQ − exact| of the fraction with |λ| <= {NEAR_ZERO[normalization]:g} × "
               f"{SCALE_WORDS[normalization]} at {size[0]} probes × {size[1]} steps: median "
               f"{np.median(e['error']):.3f}, max {e['error'].max():.3f} over {len(e['error'])} nets; SLQ's own "
               f"SE / bound, median {np.median(e['se']):.3f} / {np.median(e['bound']):.3f}")
    return judge("mean |SLQ − exact|", one_sample(e["error"], delta=DELTA_SLQ), numbers, expectation=EQUAL)


#: the per-layer measures the claim is judged on (chapter III.2) and what the claim calls them: dead branch
#: units (elimination of layer *outputs* is ~0 with skips by construction, so it is reported, not compared),
#: overlap of the outputs, and linear dependence among live outputs (not counting dead units twice)
LAYER_CLAIMS = {"branch_elimination": "elimination (dead units)", "overlap": "overlap",
                "live_rank_deficit": "linear dependence among live units"}


@check
def layer_singularities(result) -> Verdict:
    """Singularities layer by layer (experiment `degeneracy`): per net, the mean over layers of the fraction of
    dead branch units, of overlapping output pairs and of the rank deficit among live outputs, at the last
    checkpoint. Primary comparison: dead branch units (elimination, the singularity a skip removes by keeping
    every unit's input non-zero), plain − residual; secondary: every other measure and architecture. Results
    stored before the live rank deficit existed are judged on the rank deficit of all outputs instead (said in
    the numbers). Reported too: eliminated layer outputs."""
    measures = dict(LAYER_CLAIMS)
    if "ckpt_live_rank_deficit" not in result.arrays:
        del measures["live_rank_deficit"]
        measures["rank_deficit"] = "linear dependence (all outputs; live-only not stored)"
    per = {k: result.layer(k) for k in (*measures, "elimination")}
    groups = list(per["elimination"])
    need(groups, ["plain", "residual"], result)
    first = next(iter(measures))
    comparisons = {f"{name}, plain − {g}": welch(per[key]["plain"], per[key][g], delta=DELTA_FRACTION)
                   for key, name in measures.items() for g in groups if g != "plain"}
    primary = f"{measures[first]}, plain − residual"

    def row(key):
        return " vs ".join(f"{per[key][g].mean():.2f}" for g in groups)

    numbers = (f"mean fraction per layer at the end, {' vs '.join(groups)}: "
               + "; ".join(f"{name} {row(key)}" for key, name in measures.items())
               + f"; eliminated outputs {row('elimination')}")
    return judge(primary, comparisons.pop(primary), numbers, comparisons)


@check
def layer_measure_gap(result, key: str) -> Verdict:
    """Plain nets have more of one per-layer measure `key` (`degeneracy.LAYER_KEYS`; experiment `degeneracy`):
    per net, its mean over layers at the last checkpoint. Primary comparison: plain − residual (`plain_above`,
    δ = `DELTA_FRACTION`); secondary: plain − every other architecture."""
    values = result.layer(key)
    name, primary, second = plain_above(values)
    return judge(f"{key.replace('_', ' ')}, {name}", primary,
                 f"mean {key.replace('_', ' ')} per layer at the end: {spread(values)}", second)


def negative_correlation(a, b, n_min: int = 4) -> Comparison | None:
    """-atanh(r) between `a` and `b` against zero (a negative correlation shown when positive), Fisher's
    standard error 1/sqrt(n - 3); None with fewer than `n_min` pairs."""
    if len(a) < n_min:
        return None
    c = correlation(a, b)
    return negative_r(c["r"], c["n"], delta_r=DELTA_R, min_runs=n_min)


@check
def degeneracy_accuracy(result, tol: float = HEADLINE_TOL) -> Verdict:
    """Degeneracy against accuracy (experiment `degeneracy`): Pearson r between the final degenerate fraction and
    the final training accuracy over all nets (`stats.correlation`). Primary comparison: -atanh(r) against zero
    (Fisher's z, standard error 1/sqrt(n - 3), δ = atanh(`DELTA_R`)): a negative correlation is shown when its
    95% interval lies below zero. Secondary: the same within each architecture (n >= 4 nets), which separates a
    relation across nets from one between architectures."""
    acc, deg = result.final("acc"), result.degenerate(tol=tol)
    a, d = np.concatenate(list(acc.values())), np.concatenate(list(deg.values()))
    c = correlation(d, a)
    second = {f"within {g}": z for g in acc if (z := negative_correlation(deg[g], acc[g])) is not None}
    within = "; ".join(f"{g} r = {correlation(deg[g], acc[g])['r']:+.2f}" for g in acc if len(acc[g]) >= 4)
    numbers = (f"r = {c['r']:+.2f} (n = {c['n']} nets of {len(acc)} architectures) between the final degenerate "
               f"fraction (tol {tol:g}) and the final training accuracy" + (f"; within: {within}" if within else ""))
    return judge("-atanh(r) over all nets", negative_correlation(d, a) or estimate(0.0, 0.0, np.inf, len(a), min_runs=4),
                 numbers, second)


def pooled_within_r(values: Mapping[str, np.ndarray], acc: Mapping[str, np.ndarray]) -> tuple[float, int]:
    """Pearson r over all nets after subtracting each architecture's mean from both measures (the correlation
    *within* architectures, pooled), and its effective sample size n - (groups - 1)."""
    a = np.concatenate([values[g] - values[g].mean() for g in values])
    b = np.concatenate([acc[g] - acc[g].mean() for g in values])
    if a.std() == 0 or b.std() == 0:
        return 0.0, len(a) - (len(values) - 1)
    return float(np.corrcoef(a, b)[0, 1]), len(a) - (len(values) - 1)


@check
def degeneracy_accuracy_within(result, tol: float = HEADLINE_TOL) -> Verdict:
    """Degeneracy against accuracy *within* architectures (experiment `degeneracy`): the pooled within-architecture
    Pearson r between the final degenerate fraction and the final training accuracy (`pooled_within_r`), apart
    from the difference between architectures that `degeneracy_accuracy`'s r over all nets mixes in. Primary
    comparison: -atanh(r) against zero (Fisher's z, standard error 1/sqrt(n_eff - 3), δ = atanh(`DELTA_R`))."""
    acc, deg = result.final("acc"), result.degenerate(tol=tol)
    r, n = pooled_within_r(deg, acc)
    comparison = negative_r(r, n, delta_r=DELTA_R)
    numbers = (f"pooled within-architecture r = {r:+.2f} (n = {sum(len(v) for v in acc.values())} nets, "
               f"{len(acc)} architectures' means removed) between the final degenerate fraction (tol {tol:g}) "
               f"and the final training accuracy")
    return judge("-atanh(r) within architectures", comparison, numbers)


@check
def exact_zeros_accuracy(result, matrix: str = "hessian") -> Verdict:
    """Exact degeneracy against accuracy (experiment `exact_zeros`): the pooled within-architecture Pearson r
    between the final exact-zero fraction of `matrix` and the final training accuracy (`pooled_within_r`).
    Primary comparison: -atanh(r) against zero (Fisher's z, δ = atanh(`DELTA_R`)); secondary: the same within each
    architecture. The r over all nets, which mixes in the difference between architectures, and the
    architectures' means are reported beside it, not judged: three means are too few for a correlation."""
    acc, zeros = result.final("acc"), result.measured(matrix)
    r, n = pooled_within_r(zeros, acc)
    everything = correlation(np.concatenate(list(zeros.values())), np.concatenate(list(acc.values())))
    second = {f"within {g}": z for g in acc if (z := negative_correlation(zeros[g], acc[g])) is not None}
    numbers = (f"pooled within-architecture r = {r:+.2f} (n = {sum(len(v) for v in acc.values())} nets) between the "
               f"final exact-zero fraction of the {'Hessian' if matrix == 'hessian' else 'Gauss-Newton matrix'} and "
               f"the final training accuracy; per architecture "
               + ", ".join(f"{g} r = {correlation(zeros[g], acc[g])['r']:+.2f}" for g in acc)
               + f"; over all nets (between and within mixed) r = {everything['r']:+.2f}; means "
               + ", ".join(f"{g} {zeros[g].mean():.3f} zeros, accuracy {acc[g].mean():.3f}" for g in acc))
    return judge("-atanh(r) within architectures", negative_r(r, n, delta_r=DELTA_R), numbers, second)


# ---- the depth sweep (experiment `depth_sweep`, chapter III.1) -----------------------------------------------

def _by_depth(values: dict, better: str, worse: str, depths, delta: float, errors: dict | None = None):
    """{depth: Comparison of better − worse at that depth} (Welch, with (se, bound) arrays per depth)."""
    out = {}
    for i, depth in enumerate(depths):
        kw = {}
        if errors is not None:
            kw = dict(error_a=float(errors[better][0][i]), error_b=float(errors[worse][0][i]),
                      bound_a=float(errors[better][1][i]), bound_b=float(errors[worse][1][i]))
        out[int(depth)] = welch(values[better][i], values[worse][i], delta=delta, **kw)
    return out


def _deepest(per: dict, what: str, numbers: str) -> Verdict:
    """Judge a per-depth table on its deepest depth (primary, declared: the claims are about deep nets), the
    other depths secondary."""
    deepest = max(per)
    table = "; ".join(f"{d}: {c.estimate:+.3f}" for d, c in per.items())
    return judge(f"{what} at depth {deepest}", per.pop(deepest), f"{numbers} by depth: {table}",
                 {f"depth {d}": c for d, c in per.items()})


@check
def depth_accuracy_gap(result) -> Verdict:
    """Residual nets train better in the depth sweep: final training accuracy, residual − plain (Welch, δ =
    `DELTA_ACC`); primary at the deepest depth, the others secondary."""
    per = _by_depth(result.at_depths("acc"), "residual", "plain", result.depths, DELTA_ACC)
    return _deepest(per, "accuracy, residual − plain", "accuracy gap (residual − plain)")


@check
def depth_degeneracy_gap(result, tol: float = HEADLINE_TOL) -> Verdict:
    """Plain nets are more degenerate in the depth sweep: final degenerate fraction, plain − residual (seeds
    only; SLQ's own error is in `depth_near_zero_gap`); primary at the deepest depth, the others secondary."""
    per = _by_depth(result.degenerate(tol=tol), "plain", "residual", result.depths, DELTA_FRACTION)
    return _deepest(per, "degenerate fraction, plain − residual", f"degeneracy gap (plain − residual, tol {tol:g})")


@check
def gap_grows_with_depth(result) -> Verdict:
    """The accuracy gap (residual − plain, per seed, seeds paired by index) at the deepest depth minus the gap at
    the shallowest (Welch, δ = `DELTA_ACC`)."""
    acc = result.at_depths("acc")
    gaps = acc["residual"] - acc["plain"]                         # (depths, seeds)
    d0, d1 = int(result.depths[0]), int(result.depths[-1])
    return judge(f"accuracy gap at depth {d1} − gap at depth {d0}", welch(gaps[-1], gaps[0], delta=DELTA_ACC),
                 f"mean gap (residual − plain) {gaps[0].mean():+.3f} at depth {d0}, {gaps[-1].mean():+.3f} at {d1}")


@check
def depth_near_zero_gap(result, normalization: str = "max") -> Verdict:
    """Plain nets have more near-zero Hessian eigenvalues in the depth sweep, under one normalization
    (`DepthSweepResult.near_zero`), plain − residual with each group's SLQ error (standard error and bound of its
    mean, `stats.mean_error`); primary at the deepest depth, the others secondary."""
    per = _by_depth(result.near_zero(normalization), "plain", "residual", result.depths, DELTA_FRACTION,
                    result.near_zero_error(normalization))
    return _deepest(per, "near-zero fraction, plain − residual",
                    f"near-zero fraction (|λ| <= {NEAR_ZERO[normalization]:g} × {SCALE_WORDS[normalization]}), "
                    "plain − residual")


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


def attribution_table(result, matrix: str, at: str = "end") -> tuple[str, dict[str, float]]:
    """Chapter III.2's attribution of the exact zeros of `matrix` ("hessian" or "ggn") of an `exact_zeros`
    result at stage `at`: a markdown table of the mean count per named cause and architecture, the widest
    spectral gap, the unexplained share of the measured count and, for the Gauss-Newton matrix, the batch
    functional dimension; and {architecture: unexplained share}."""
    att, measured = result.attribution(matrix, at=at), result.measured(matrix, at=at)
    gaps = result.gap_decades(matrix, at=at)
    rows, share = [], {}
    for g in result.groups():
        zeros = measured[g] * result.n_params
        share[g] = float(att[g]["unexplained"].sum() / max(zeros.sum(), 1))
        row = {"architecture": g, "exact zeros": mean_spread(zeros, 0), "gap (decades)": f"{np.nanmin(gaps[g]):.1f}"}
        row.update({c: f"{att[g][c].mean():.0f}" for c in att[g]})
        row["unexplained share"] = f"{share[g]:.1%}"
        if matrix == "ggn":
            row["functional dimension"] = mean_spread(result.functional_dimension(at=at)[g], 0)
        rows.append(row)
    return markdown_table(rows, list(rows[0])), share


def slq_table(result, at: str = "end") -> tuple[str, dict[tuple[str, tuple], bool]]:
    """Chapter III.2's SLQ-against-exact table of an `exact_zeros` result: per normalization and SLQ size,
    |SLQ − exact| of the near-zero fraction (`slq_recovers`) beside the exact plain − residual gap an SLQ verdict
    would read; and {(normalization, size): whether SLQ recovers the exact fraction there (its verdicts kept)}."""
    rows, usable = [], {}
    for n in NORMALIZATIONS:
        dense = result.near_zero(n, at=at)
        gap = dense["plain"].mean() - dense["residual"].mean()
        for size in result.slq_sizes:
            e = result.slq_error(n, at=at, size=size)
            v = slq_recovers(result, n, size, at)
            usable[(n, size)] = v.holds
            rows.append({"normalization": SCALE_WORDS[n], "probes × steps": f"{size[0]} × {size[1]}",
                         "|SLQ − exact|, median (max)": f"{np.median(e['error']):.3f} ({e['error'].max():.3f})",
                         "stated SE / bound, median": f"{np.median(e['se']):.3f} / {np.median(e['bound']):.3f}",
                         "exact gap": f"{gap:+.3f}", "SLQ within δ (verdict kept)": v.verdict})
    return markdown_table(rows, list(rows[0])), usable


# ---- the width sweep (experiment `width_sweep`, chapter III.2) -----------------------------------------------

@check
def width_gap_shrinks(result) -> Verdict:
    """Plain nets' excess of exact Gauss-Newton zeros (a fraction of P) shrinks as the nets widen: a ReLU
    rescaling adds one flat direction per hidden unit of a plain net, depth x width out of P ~ depth x width^2,
    so its share falls like 1/width. Primary comparison: the gap plain − residual (per seed, paired by index) at
    the narrowest width minus the gap at the widest (Welch, δ = `DELTA_FRACTION`); secondary: plain − residual
    at each width."""
    zeros, widths = result.at_widths("zeros"), result.widths
    need(zeros, ["plain", "residual"], result)
    gaps = zeros["plain"] - zeros["residual"]                     # (widths, seeds)
    w0, w1 = int(widths[0]), int(widths[-1])
    per = _by_depth(zeros, "plain", "residual", widths, DELTA_FRACTION)
    table = "; ".join(f"{w}: {c.estimate:+.3f}" for w, c in per.items())
    return judge(f"gap at width {w0} − gap at width {w1}", welch(gaps[0], gaps[-1], delta=DELTA_FRACTION),
                 f"exact Gauss-Newton zero fraction, plain − residual, by width: {table}",
                 {f"plain − residual at width {w}": c for w, c in per.items()})
