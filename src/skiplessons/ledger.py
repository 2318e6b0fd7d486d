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
    difference of means is Welch's, sqrt(s1²/n1 + s2²/n2).
    """
    if not better:
        raise ValueError("better must name at least one group")
    worse = _runs(worse, "worse")
    wins = []
    for name, values in better.items():
        values = _runs(values, f"better[{name!r}]")
        se = np.sqrt(values.var(ddof=1) / len(values) + worse.var(ddof=1) / len(worse))
        wins.append(values.mean() - worse.mean() > z * se)
    return VERDICTS[0] if all(wins) else VERDICTS[1] if any(wins) else VERDICTS[2]


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


#: The paper's claims (see ../shared/PAPER.md), in the order of the book. Add `doc`, `label`, `experiment`
#: and `assess` to a claim when the chapter that tests it lands.
CLAIMS = (
    Claim("Elimination singularities (a unit's incoming or outgoing weights zero) make the Fisher information "
          "and the Hessian degenerate; skip connections remove these zero eigenvalues.", "I", doc="02_elimination"),
    Claim("Overlap singularities (two units with identical incoming weights) make the Fisher information "
          "degenerate; skip connections remove the degeneracy.", "I", doc="03_overlap"),
    Claim("Linear-dependence singularities (a unit's activity a linear combination of others') make the model "
          "non-identifiable; skip connections add linearly independent inputs that remove them.", "I",
          doc="04_linear_dependence"),
    Claim("In the two-hidden-unit teacher–student model, gradient descent slows down near the overlap and "
          "elimination sets: plateaus, with the overlap line a Milnor-like attractor.", "II", doc="05_plateaus"),
    Claim("With skip connections only the ghosts of the singular sets remain: typical initializations start "
          "away from them and plateaus are shorter.", "II", doc="06_ghosts"),
    Claim("Deep plain networks reach a lower training accuracy than residual and hyper-residual networks.",
          "III", doc="00_headline", experiment="training", assess=training_gap),
    Claim("Deep plain networks are more degenerate: more Hessian eigenvalues near zero during training.", "III"),
    Claim("Elimination, overlap and linear dependence are more frequent in the layers of plain networks.", "III"),
    Claim("Degeneracy and accuracy are related across networks: the more degenerate, the lower the accuracy.",
          "III"),
    Claim("Residual networks initialized to start like plain networks (malicious initialization) still "
          "benefit from their skip connections.", "IV"),
    Claim("Plain networks given a residual-like initialization lose the advantage during training.", "IV"),
    Claim("A bias regularizer plus a single batch-norm layer recovers much of the benefit of skip connections "
          "in plain networks.", "IV"),
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
