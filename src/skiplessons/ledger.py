"""The claims ledger: each claim of the paper, where the book tests it, what this build measured, a verdict.

Introduced in the back-matter page "Claims ledger". A claim is data (`Claim`); its verdict comes from the
stored result of a named experiment (read through `load_or_run`) by the claim's `assess` function. A claim
whose chapter, experiment or assessment does not exist yet is reported as "not yet tested", never guessed.
Also the tables of the back-matter pages "Reproducing at paper scale" and "Build status": the command for each
experiment and the provenance of every stored result, generated from the files.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

VERDICTS = ("holds", "partly holds", "does not hold at our settings", "not yet tested")


@dataclass(frozen=True)
class Verdict:
    """What a check measured (`numbers`, formatted for a table cell) and what it concludes (`verdict`)."""

    numbers: str
    verdict: str

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict={self.verdict!r} is not valid; choose one of {', '.join(VERDICTS)}")


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and the check in this book that tests it.

    `part` names the part of the book ("I".."IV"); `doc` is the chapter's file name in `book/` without
    suffix (None until the chapter exists), `label` an optional MyST target of the section in that chapter;
    `experiment` names an entry of `skiplessons.experiments.REGISTRY`, and `assess` turns its result into a
    `Verdict`.
    """

    claim: str
    part: str
    doc: str | None = None
    label: str | None = None
    experiment: str | None = None
    assess: Callable[[object], Verdict] | None = None

    def __post_init__(self):
        if self.label is not None and self.doc is None:
            raise ValueError(f"label={self.label!r} needs doc: the chapter file the label is in")
        if (self.experiment is None) != (self.assess is None):
            raise ValueError("experiment and assess go together: give both or neither")

    def where(self) -> str:
        """Where the book tests the claim, as MyST markdown (a cross-reference once the chapter exists)."""
        if self.label:
            return f"{{ref}}`{self.label}`"
        if self.doc:
            return f"{{doc}}`{self.doc}`"
        return f"Part {self.part} (chapter not yet written)"


COLUMNS = ("claim", "where tested", "measured", "scale", "verdict")


def ledger_row(claim: Claim, registry: Iterable[str], load: Callable[[str], object]) -> dict[str, str]:
    """One row of the ledger (keys `COLUMNS`), measured from `load(claim.experiment)` when it can be tested.

    A claim is "not yet tested" while its chapter is unwritten or its experiment is not in `registry`;
    then `load` is not called.
    """
    row = {"claim": claim.claim, "where tested": claim.where()}
    if claim.doc is None or claim.experiment is None or claim.experiment not in registry:
        return row | {"measured": "—", "scale": "—", "verdict": VERDICTS[-1]}
    result = load(claim.experiment)
    verdict = claim.assess(result)
    return row | {"measured": verdict.numbers, "scale": result.scale, "verdict": verdict.verdict}


def gap_verdict(better: Mapping[str, np.ndarray], worse: np.ndarray, z: float = 2.0) -> str:
    """Whether every group in `better` beats `worse` by more than `z` standard errors of the difference.

    "holds" when all groups do, "partly holds" when some do, "does not hold at our settings" otherwise.
    Each array holds one number per run (e.g. final training accuracy per seed); the standard error of the
    difference of means is Welch's, sqrt(s1²/n1 + s2²/n2) (see `exceeds`).
    """
    if not better:
        raise ValueError("better must name at least one group")
    worse = _runs(worse, "worse")
    wins = [exceeds(_runs(values, f"better[{name!r}]"), worse, z) for name, values in better.items()]
    return VERDICTS[0] if all(wins) else VERDICTS[1] if any(wins) else VERDICTS[2]


def exceeds(a, b, z: float = 2.0) -> bool | None:
    """Whether mean(a) - mean(b) > `z` Welch standard errors, sqrt(s_a²/n_a + s_b²/n_b); one number per run.

    None when either side has fewer than 2 runs: without a spread there is nothing to compare the gap with,
    and the assessments count that as "not shown".
    """
    a, b = (np.asarray(v, dtype=float).ravel() for v in (a, b))
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError(f"exceeds needs finite values, got {a.tolist()} and {b.tolist()}")
    if len(a) < 2 or len(b) < 2:
        return None
    se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return bool(a.mean() - b.mean() > z * se)


def parts_verdict(parts: Mapping[str, bool | None]) -> tuple[str, str]:
    """The verdict on a claim made of several comparisons, and a 'name yes/no' list of them for the table.

    "holds" when every part came out as claimed, "partly holds" when some did, "does not hold at our
    settings" when none did; a part that could not be tested (None: too few runs) counts as not shown, and when
    no part could be tested the claim is "not yet tested" at this scale (e.g. one seed at `smoke`).
    """
    if not parts:
        raise ValueError("parts must name at least one comparison")
    said = {True: "yes", False: "no", None: "too few runs to tell"}
    text = ", ".join(f"{name} {said[v]}" for name, v in parts.items())
    if all(v is None for v in parts.values()):
        return VERDICTS[3], text
    wins = [v is True for v in parts.values()]
    return (VERDICTS[0] if all(wins) else VERDICTS[1] if any(wins) else VERDICTS[2]), text


def _runs(values, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=float).ravel()
    if len(values) < 2 or not np.isfinite(values).all():
        raise ValueError(f"{name} needs at least 2 finite values (one per run), got {values.tolist()}")
    return values


def mean_spread(values) -> str:
    """'mean ± std (n=…)' of one number per run, for a table cell."""
    values = np.asarray(values, dtype=float).ravel()
    return f"{values.mean():.3f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.3f} (n={len(values)})"


def markdown_table(rows: list[Mapping[str, object]], columns: list[str]) -> str:
    """A GitHub/MyST pipe table of `rows` (dicts) in the order of `columns`; `|` in cells is escaped."""
    if not columns:
        raise ValueError("columns must name at least one column")

    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def training_gap(result) -> Verdict:
    """Plain nets train worse: final training accuracy per arch over seeds, from experiment `training`.

    Holds when residual and hyper-residual nets each beat plain nets by more than two standard errors.
    """
    acc = np.asarray(result.arrays["acc"], dtype=float)[:, -1]
    arch = np.asarray(result.arrays["arch"]).astype(str)
    groups = {a: acc[arch == a] for a in dict.fromkeys(arch)}
    if "plain" not in groups:
        raise ValueError(f"result {result.name!r} has no plain nets; its archs are {sorted(groups)}")
    better = {a: groups[a] for a in ("residual", "hyper") if a in groups}
    numbers = "final training accuracy: " + "; ".join(f"{a} {mean_spread(v)}" for a, v in groups.items())
    return Verdict(numbers, gap_verdict(better, groups["plain"]))


def quartiles(values) -> tuple[float, float, float]:
    """25th, 50th and 75th percentiles (linear interpolation, numpy's default) of one number per run.

    A run that never got somewhere counts as `inf` (e.g. the time to a loss threshold); a quartile that
    interpolates towards an `inf` is `inf`. Used for the Part II rows (and stored by experiment `plateaus`).
    """
    v = np.sort(np.asarray(values, dtype=float).ravel())
    if not len(v) or np.isnan(v).any() or (v < 0).any():
        raise ValueError(f"values must be non-negative numbers or inf, one per run, got {v.tolist()}")
    out = []
    for q in (0.25, 0.5, 0.75):
        pos = q * (len(v) - 1)
        lo = int(np.floor(pos))
        frac, hi = pos - lo, min(lo + 1, len(v) - 1)
        if frac == 0 or np.isinf(v[hi]):
            out.append(float(v[lo]) if frac == 0 else np.inf)
        else:
            out.append(float(v[lo] + frac * (v[hi] - v[lo])))
    return tuple(out)


# ---- Part I: zero Fisher eigenvalues at the singular points (experiment `singular_counts`) --------------------

def _point(result, kind: str) -> dict[str, dict[tuple[int, int], dict[str, int]]]:
    """Per arch ("plain", "residual"), per (n, seed): the counts of singular point `kind` in `result`."""
    a = result.arrays
    kinds = np.asarray(a["kind"]).astype(str)
    if kind not in kinds:
        raise ValueError(f"result {result.name!r} has no singular point {kind!r}; its points are "
                         f"{', '.join(dict.fromkeys(kinds))}")
    out = {"plain": {}, "residual": {}}
    for i in np.flatnonzero(kinds == kind):
        arch = str(a["arch"][i])
        if arch in out:
            out[arch][int(a["n"][i]), int(a["seed"][i])] = {k: int(a[k][i]) for k in
                                                           ("zeros", "generic_zeros", "predicted")}
    if not out["plain"] or out["plain"].keys() != out["residual"].keys():
        raise ValueError(f"result {result.name!r}: singular point {kind!r} needs plain and residual nets of the "
                         f"same widths and seeds, got {sorted(out['plain'])} and {sorted(out['residual'])}")
    return out


def skip_removes(plain, residual) -> str:
    """Verdict on "skip connections remove the zero eigenvalues", from paired counts (one per net).

    "holds" when every plain net has zero eigenvalues and no residual net has any; "partly holds" when the
    residual net has fewer than its plain twin for at least one pair; "does not hold at our settings" otherwise.
    """
    plain, residual = np.asarray(plain), np.asarray(residual)
    if plain.shape != residual.shape or not plain.size:
        raise ValueError(f"plain and residual need one count per net pair, got shapes {plain.shape} and "
                         f"{residual.shape}")
    if (plain > 0).all() and (residual == 0).all():
        return VERDICTS[0]
    return VERDICTS[1] if (residual < plain).any() else VERDICTS[2]


def _arrow(counts: dict, key: str = "zeros", sign: str = "") -> str:
    """'3 → 0 (n=3), 5 → 0 (n=5)': plain → residual per width, a range where the seeds disagree."""
    def cell(arch, n):
        vals = sorted({c[key] for (m, _), c in counts[arch].items() if m == n})
        return f"{sign}{vals[0]}" if len(vals) == 1 else f"{sign}{vals[0]}–{sign}{vals[-1]}"

    widths = sorted({n for n, _ in counts["plain"]})
    return ", ".join(f"{cell('plain', n)} → {cell('residual', n)} (n={n})" for n in widths)


def _agreement(points: list[dict]) -> str:
    pairs = [c for p in points for arch in p.values() for c in arch.values()]
    return f"counted = derived in {sum(c['zeros'] == c['predicted'] for c in pairs)} of {len(pairs)} nets"


def _paired(points: list[dict], key: str = "zeros", minus: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    def values(arch):
        return np.array([c[key] - (c[minus] if minus else 0) for p in points for _, c in sorted(p[arch].items())])

    return values("plain"), values("residual")


def elimination_zeros(result) -> Verdict:
    """Elimination singularities, from experiment `singular_counts` (tanh nets without biases).

    Holds when, at J_a = 0 and at K[:, a] = 0, every plain net has zero Fisher eigenvalues and no residual net
    has any (rule `skip_removes` on all widths and seeds). The dead ReLU is reported but not judged: its
    incoming weights and bias stay flat with skips too (chapter I.2). Its derived counts assume every other ReLU
    is active on part of the inputs; a seed with a unit dead or always on by chance has more zeros, which shows
    as a range and in the agreement count.
    """
    incoming, outgoing, dead = (_point(result, k) for k in ("incoming", "outgoing", "dead"))
    numbers = (f"zero Fisher eigenvalues, plain → residual: J_a = 0: {_arrow(incoming)}; "
               f"K[:, a] = 0: {_arrow(outgoing)}. Left with skips: a dead ReLU (ReLU then tanh, biases) "
               f"{_arrow(dead)}, its incoming weights and bias (generic point {_arrow(dead, 'generic_zeros')}); "
               f"{_agreement([incoming, outgoing, dead])}")
    return Verdict(numbers, skip_removes(*_paired([incoming, outgoing])))


def overlap_zeros(result) -> Verdict:
    """Overlap singularities, from experiment `singular_counts` (tanh nets without biases, J_a = J_b).

    Holds when every plain net has zero Fisher eigenvalues there and no residual net has any (`skip_removes`).
    """
    overlap = _point(result, "overlap")
    numbers = f"zero Fisher eigenvalues, plain → residual: J_a = J_b: {_arrow(overlap)}; {_agreement([overlap])}"
    return Verdict(numbers, skip_removes(*_paired([overlap])))


def dependence_zeros(result) -> Verdict:
    """Linear-dependence singularities, from experiment `singular_counts` (linear nets without biases).

    A linear net is flat along its 2n² generic symmetries everywhere, skips or not, so the count is relative to
    the generic point of the same net: holds when every plain net gains zero eigenvalues at J_c = αJ_a + βJ_b
    and no residual net does (`skip_removes` on the gains).
    """
    dep = _point(result, "dependence")
    gains = {arch: {key: {"gain": c["zeros"] - c["generic_zeros"]} for key, c in nets.items()}
             for arch, nets in dep.items()}
    numbers = (f"zero Fisher eigenvalues gained at J_c = αJ_a + βJ_b ({result.config['linear_outputs']} outputs), "
               f"plain → residual: {_arrow(gains, 'gain', '+')}; left with skips: the generic point's "
               f"{_arrow(dep, 'generic_zeros')} (2n², the symmetries of any linear net); {_agreement([dep])}")
    return Verdict(numbers, skip_removes(*_paired([dep], minus="generic_zeros")))


# ---- Part II: plateaus of the two-unit teacher-student model (experiment `plateaus`) -------------------------

#: a plain run is on a plateau when it spends at least this long near the plateau value (the bar of chapter II.1)
PLATEAU_MIN_TIME = 10.0


def _flows(result) -> dict[str, dict[str, np.ndarray]]:
    a = result.arrays
    archs = list(np.asarray(a["arch"]).astype(str))
    if {"plain", "skip"} - set(archs):
        raise ValueError(f"result {result.name!r} needs plain and skip runs; its archs are {archs}")
    return {arch: {k: np.asarray(a[k], dtype=float)[archs.index(arch)] for k in ("band", "hit", "start_len")}
            for arch in ("plain", "skip")}


def _time(x: float) -> str:
    return "∞" if np.isinf(x) else f"{x:.0f}"


def _iqr(values) -> str:
    q25, med, q75 = quartiles(values)
    return f"{_time(med)} (IQR {_time(q25)}–{_time(q75)})"


def plateau_length(result) -> Verdict:
    """Plateaus in the plain two-unit model, from experiment `plateaus`: the time each plain run's loss spends
    within `band_rtol` (10%) of the plateau value, over the initializations.

    Holds when the median is at least `PLATEAU_MIN_TIME` (10 time units, chapter II.1's bar), partly holds when
    it is positive but shorter, does not hold when it is zero. The Milnor-like attractor on the overlap line is
    shown in chapter II.1, not judged here.
    """
    band = _flows(result)["plain"]["band"]
    median = quartiles(band)[1]
    numbers = (f"plain net, {len(band)} starts: time within {result.config['band_rtol']:.0%} of the plateau value "
               f"{result.summary['plateau']:.4f}: median {_iqr(band)}; {np.mean(band >= PLATEAU_MIN_TIME):.0%} of "
               f"runs spend ≥ {PLATEAU_MIN_TIME:.0f} there")
    verdict = VERDICTS[0] if median >= PLATEAU_MIN_TIME else VERDICTS[1] if median > 0 else VERDICTS[2]
    return Verdict(numbers, verdict)


def ghost_plateaus(result) -> Verdict:
    """Ghosts, from experiment `plateaus` (plain and skip students from the same starts), three comparisons:
    the skip runs *start away* from the singular sets (median shorter effective row |a_i| longer than the plain
    runs'), their *plateau is shorter* (median time near the plain plateau value under half the plain median,
    chapter II.2's bar), and they *reach the loss threshold no later* (median time finite and at most the
    plain median).

    Holds when all three do, partly holds when one or two do, does not hold when none does.
    """
    f = _flows(result)
    med = {arch: {k: quartiles(v)[1] for k, v in d.items()} for arch, d in f.items()}
    parts = {"start away": bool(med["skip"]["start_len"] > med["plain"]["start_len"]),
             "shorter plateau": bool(med["skip"]["band"] < 0.5 * med["plain"]["band"]),
             "no slower to threshold": bool(np.isfinite(med["skip"]["hit"])
                                            and med["skip"]["hit"] <= med["plain"]["hit"])}
    reached = {arch: np.mean(np.isfinite(d["hit"])) for arch, d in f.items()}
    verdict, said = parts_verdict(parts)
    numbers = (f"{len(f['plain']['band'])} starts, plain vs skip: shorter effective row at the start "
               f"{med['plain']['start_len']:.3f} vs {med['skip']['start_len']:.3f}; time near the plateau value: "
               f"{_iqr(f['plain']['band'])} vs {_iqr(f['skip']['band'])}; time to loss "
               f"{result.summary['threshold']:.1e}: {_iqr(f['plain']['hit'])} vs {_iqr(f['skip']['hit'])} "
               f"(reached by {reached['plain']:.0%} vs {reached['skip']:.0%}); as claimed: {said}")
    return Verdict(numbers, verdict)


# ---- Parts III and IV: deep nets (experiments `degeneracy`, `init_controls`, `remedies`) ---------------------

#: the tolerance of the degenerate fraction the ledger reads (|λ| <= tol * max|λ|), the one chapters III.2-IV.2
#: discuss
DEGENERACY_TOL = 1e-3


def _final(result, group_key: str) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """The nets' group labels (`group_key`: "arch" or "condition"), and by group their final training accuracy
    (runs,) and their degenerate fraction at tol `DEGENERACY_TOL` at every checkpoint (checkpoints, runs)."""
    a = result.arrays
    tols = list(result.summary["tols"])
    if DEGENERACY_TOL not in tols:
        raise ValueError(f"result {result.name!r} reports degenerate fractions at tols {tols}, not at "
                         f"DEGENERACY_TOL={DEGENERACY_TOL:g}")
    labels = np.asarray(a[group_key]).astype(str)
    groups = list(dict.fromkeys(labels))
    acc = np.asarray(a["acc"], dtype=float)[:, -1]
    deg = np.asarray(a["ckpt_degenerate"], dtype=float)[:, :, tols.index(DEGENERACY_TOL)]
    return labels, {g: acc[labels == g] for g in groups}, {g: deg[:, labels == g] for g in groups}


def _need(groups: Mapping, names, result) -> None:
    missing = [n for n in names if n not in groups]
    if missing:
        raise ValueError(f"result {result.name!r} has no nets {missing}; its groups are {list(groups)}")


def _spread(groups: Mapping[str, np.ndarray], names=None) -> str:
    return "; ".join(f"{g} {mean_spread(groups[g])}" for g in (names or groups))


def more_degenerate(result) -> Verdict:
    """Plain nets more degenerate, from experiment `degeneracy`: at the last checkpoint, the degenerate fraction
    (|λ| <= `DEGENERACY_TOL` max|λ|) of the plain nets exceeds that of the residual and of the hyper-residual
    nets, each by more than two Welch standard errors (`exceeds`). Holds when both do, partly when one does.
    """
    _, _, deg = _final(result, "arch")
    _need(deg, ["plain"], result)
    final = {g: d[-1] for g, d in deg.items()}
    parts = {f"plain > {g}": exceeds(final["plain"], final[g]) for g in final if g != "plain"}
    verdict, said = parts_verdict(parts)
    step = int(np.asarray(result.arrays["ckpt_step"])[-1])
    numbers = (f"degenerate fraction (tol {DEGENERACY_TOL:g}) at step {step}: {_spread(final)}; Gauss-Newton rank "
               f"bound {result.summary['rank_bound']:.2f}; more degenerate by > 2 SE: {said}")
    return Verdict(numbers, verdict)


#: the per-layer measures of chapter III.2 (of the layer outputs h_l) and what the claim calls them
LAYER_CLAIMS = {"elimination": "elimination", "overlap": "overlap", "rank_deficit": "linear dependence"}


def layer_singularities(result) -> Verdict:
    """Singularities layer by layer, from experiment `degeneracy`: per net, the mean over layers of the
    elimination, overlap and rank-deficit (linear dependence) measures of the layer outputs at the last
    checkpoint. For each measure, plain nets must exceed both skip architectures by more than two Welch
    standard errors; holds when all three measures do, partly when some do. Reported too: dead *branch* units,
    which the skip connections carry past (so they eliminate nothing).
    """
    labels, _, _ = _final(result, "arch")
    groups = list(dict.fromkeys(labels))
    _need(groups, ["plain"], result)
    per_net = {k: np.asarray(result.arrays[f"ckpt_{k}"], dtype=float)[-1].mean(axis=1)
               for k in (*LAYER_CLAIMS, "branch_elimination")}
    parts = {}
    for key, name in LAYER_CLAIMS.items():
        wins = [exceeds(per_net[key][labels == "plain"], per_net[key][labels == g]) for g in groups if g != "plain"]
        parts[name] = None if None in wins else all(wins)
    verdict, said = parts_verdict(parts)

    def row(key):
        return " vs ".join(f"{per_net[key][labels == g].mean():.2f}" for g in groups)

    numbers = (f"mean fraction per layer at the end, {' vs '.join(groups)}: "
               + "; ".join(f"{name} {row(key)}" for key, name in LAYER_CLAIMS.items())
               + f"; dead branch units {row('branch_elimination')}; plain higher by > 2 SE: {said}")
    return Verdict(numbers, verdict)


def degeneracy_accuracy(result) -> Verdict:
    """Degeneracy against accuracy, from experiment `degeneracy`: Pearson r between the final degenerate fraction
    (tol `DEGENERACY_TOL`) and the final training accuracy over all nets, with its Fisher-z 95% interval
    (`degeneracy.correlation`). Holds when r < 0 and the interval excludes zero, partly holds when r < 0 but the
    interval includes zero, does not hold when r >= 0.
    """
    from .degeneracy import correlation

    _, acc, deg = _final(result, "arch")
    a = np.concatenate([acc[g] for g in acc])
    d = np.concatenate([deg[g][-1] for g in deg])
    c = correlation(d, a)
    verdict = VERDICTS[2] if c["r"] >= 0 else VERDICTS[0] if c["fisher_hi"] < 0 else VERDICTS[1]
    numbers = (f"r = {c['r']:+.2f} (95% interval {c['fisher_lo']:+.2f} to {c['fisher_hi']:+.2f}, n = {c['n']} nets "
               f"of {len(acc)} architectures) between the final degenerate fraction (tol {DEGENERACY_TOL:g}) "
               f"and the final training accuracy")
    return Verdict(numbers, verdict)


def malicious_init(result) -> Verdict:
    """Malicious initialization, from experiment `init_controls`: residual nets initialized to start like plain
    nets must still end with a higher training accuracy than plain nets with the default initialization, by
    more than two Welch standard errors. Holds or does not hold (fewer than 2 runs: not yet tested).
    """
    _, acc, deg = _final(result, "condition")
    _need(acc, ["plain", "residual", "residual, malicious"], result)
    verdict, said = parts_verdict({"malicious above plain": exceeds(acc["residual, malicious"], acc["plain"])})
    names = ["plain", "residual", "residual, malicious"]
    numbers = (f"final training accuracy: {_spread(acc, names)}; final degenerate fraction (tol "
               f"{DEGENERACY_TOL:g}): {_spread({g: deg[g][-1] for g in names})}; by > 2 SE: {said}")
    return Verdict(numbers, verdict)


def residual_like_init(result) -> Verdict:
    """Residual-like initialization, from experiment `init_controls`: plain nets with the identity-plus-noise
    initialization against plain nets with the default one, two parts. They *lose their curvature advantage
    during training* when their degenerate fraction (tol `DEGENERACY_TOL`) rises from the first checkpoint to
    the last by more than the default plain nets' does (per-net rises compared), closing the gap; they *end
    without an accuracy advantage* when their final training accuracy is not above the default plain nets'.
    Each comparison by two Welch standard errors; holds when both parts do, partly when one does.
    """
    _, acc, deg = _final(result, "condition")
    ident = "plain, identity+noise"
    _need(acc, ["plain", "residual", ident], result)
    above = exceeds(acc[ident], acc["plain"])
    parts = {"degeneracy gap to plain nets closes": exceeds(deg[ident][-1] - deg[ident][0],
                                                            deg["plain"][-1] - deg["plain"][0]),
             "accuracy advantage gone": None if above is None else not above}
    verdict, said = parts_verdict(parts)
    numbers = (f"degenerate fraction (tol {DEGENERACY_TOL:g}), identity+noise vs default plain nets: "
               f"{mean_spread(deg[ident][0])} vs {mean_spread(deg['plain'][0])} at the start, "
               f"{mean_spread(deg[ident][-1])} vs {mean_spread(deg['plain'][-1])} at the end (residual nets "
               f"{mean_spread(deg['residual'][-1])}); final training accuracy: "
               f"{_spread(acc, [ident, 'plain', 'residual'])}; as claimed: {said}")
    return Verdict(numbers, verdict)


def remedies_recover(result) -> Verdict:
    """Bias regularizer plus one batch-norm layer, from experiment `remedies`: plain nets with both remedies
    against plain nets without, two parts: a lower final degenerate fraction (tol `DEGENERACY_TOL`) and a higher
    final training accuracy, each by more than two Welch standard errors. Holds when both do, partly when one
    does. The experiment has no residual nets, so "much of the benefit" is judged as a clear gain on each
    measure, not as a share of what skip connections give (chapter IV.2 puts them side by side).
    """
    _, acc, deg = _final(result, "condition")
    both = "plain + BN + bias reg."
    _need(acc, ["plain", both], result)
    final = {g: d[-1] for g, d in deg.items()}
    parts = {"less degenerate": exceeds(final["plain"], final[both]),
             "higher accuracy": exceeds(acc[both], acc["plain"])}
    verdict, said = parts_verdict(parts)
    numbers = (f"final training accuracy: {_spread(acc)}; final degenerate fraction (tol {DEGENERACY_TOL:g}): "
               f"{_spread(final)}; both remedies vs plain, by > 2 SE: {said}")
    return Verdict(numbers, verdict)


#: The paper's claims (see ../shared/PAPER.md), in the order of the book. Add `doc`, `label`, `experiment`
#: and `assess` to a claim when the chapter that tests it lands.
CLAIMS = (
    Claim("Elimination singularities (a unit's incoming or outgoing weights zero) make the Fisher information "
          "and the Hessian degenerate; skip connections remove these zero eigenvalues.", "I", doc="02_elimination",
          experiment="singular_counts", assess=elimination_zeros),
    Claim("Overlap singularities (two units with identical incoming weights) make the Fisher information "
          "degenerate; skip connections remove the degeneracy.", "I", doc="03_overlap",
          experiment="singular_counts", assess=overlap_zeros),
    Claim("Linear-dependence singularities (a unit's activity a linear combination of others') make the model "
          "non-identifiable; skip connections add linearly independent inputs that remove them.", "I",
          doc="04_linear_dependence", experiment="singular_counts", assess=dependence_zeros),
    Claim("In the two-hidden-unit teacher–student model, gradient descent slows down near the overlap and "
          "elimination sets: plateaus, with the overlap line a Milnor-like attractor.", "II", doc="05_plateaus",
          experiment="plateaus", assess=plateau_length),
    Claim("With skip connections only the ghosts of the singular sets remain: typical initializations start "
          "away from them and plateaus are shorter.", "II", doc="06_ghosts",
          experiment="plateaus", assess=ghost_plateaus),
    Claim("Deep plain networks reach a lower training accuracy than residual and hyper-residual networks.",
          "III", doc="00_headline", experiment="training", assess=training_gap),
    Claim("Deep plain networks are more degenerate: more Hessian eigenvalues near zero during training.", "III",
          doc="08_degeneracy", experiment="degeneracy", assess=more_degenerate),
    Claim("Elimination, overlap and linear dependence are more frequent in the layers of plain networks.", "III",
          doc="08_degeneracy", experiment="degeneracy", assess=layer_singularities),
    Claim("Degeneracy and accuracy are related across networks: the more degenerate, the lower the accuracy.",
          "III", doc="08_degeneracy", experiment="degeneracy", assess=degeneracy_accuracy),
    Claim("Residual networks initialized to start like plain networks (malicious initialization) still "
          "benefit from their skip connections.", "IV", doc="09_initialization", experiment="init_controls",
          assess=malicious_init),
    Claim("Plain networks given a residual-like initialization lose the advantage during training.", "IV",
          doc="09_initialization", experiment="init_controls", assess=residual_like_init),
    Claim("A bias regularizer plus a single batch-norm layer recovers much of the benefit of skip connections "
          "in plain networks.", "IV", doc="10_remedies", experiment="remedies", assess=remedies_recover),
)


def provenance_rows(stored: Iterable) -> list[dict[str, str]]:
    """One row per stored result (`skiplessons.results.stored()`): its file and its provenance.

    Introduced in the back-matter page "Reproducing at paper scale".
    """
    rows = []
    for r in stored:
        prov = r.provenance
        rows.append({
            "file": f"{r.name}-{r.scale}.json",
            "experiment": r.name,
            "scale": r.scale,
            "data": str(r.summary.get("data", r.config.get("data", "—"))),
            "device": prov["device"],
            "wall time": duration(prov["wall_time_s"]),
            "peak memory": (f"{prov['peak_memory_bytes'] / 2**30:.1f} GiB" if "peak_memory_bytes" in prov
                            else "not recorded"),
            "date": _dt.datetime.fromisoformat(prov["date"]).strftime("%Y-%m-%d %H:%M %Z").strip(),
            "commit": prov["commit"][:12],
            "skiplessons": prov["skiplessons"],
            "torch": prov["torch"],
            "seeds": ", ".join(map(str, prov["seeds"])) or "—",
        })
    return rows


def duration(seconds: float) -> str:
    """A wall time for humans: '42.0 s', '3.5 min' or '1.25 h'."""
    if not np.isfinite(seconds) or seconds < 0:
        raise ValueError(f"seconds={seconds!r} must be a finite non-negative number")
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def reproduce_rows(registry: Mapping[str, object], paper_result: Callable[[str], object],
                   pages: Iterable[str]) -> list[dict[str, str]]:
    """Per registered experiment: the command that runs it at `paper` scale and what the stored run took.

    `paper_result(name)` returns the stored paper-scale result or None; an experiment's chapter becomes a
    link when it is one of `pages` (the book's page names). Introduced in "Reproducing at paper scale".
    """
    pages = set(pages)
    rows = []
    for name, exp in sorted(registry.items()):
        found = paper_result(name)
        rows.append({
            "experiment": name,
            "chapter": f"{{doc}}`{exp.chapter}`" if exp.chapter in pages else (exp.chapter or "—"),
            "command": f"`python -m skiplessons run {name} --scale paper`",
            "ran on": found.provenance["device"] if found else "not yet run at paper scale",
            "took": duration(found.provenance["wall_time_s"]) if found else "—",
        })
    return rows
