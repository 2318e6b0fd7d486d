"""What a claim is, what a verdict is, and the one rule that turns comparisons into verdicts.

A check is a function `(typed result) -> Verdict`; a chapter calls it and asserts its verdict with `expect`,
and the claims ledger tabulates the same function's verdict for the claims of the paper (`Claim`), so a page
and the ledger can never disagree.

The rule (`judge`, the only combiner) is written once, in `RULE`, which the ledger page shows.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from ..report import glue
from ..stats import REVERSED, SHOWN, Comparison, holm

#: the one rule that turns comparisons into verdicts, as the ledger page shows it (markdown)
RULE = """\
Every check names one *primary* comparison before it is run and may report *secondary* ones (other
normalizations, definitions, depths, architectures). A comparison is the difference of two means with its 95 %
interval: Welch's t with the Welch-Satterthwaite degrees of freedom, so the few seeds we have are paid for in a
wider interval (one-sided level 2.5 % in each direction). A measurement's own standard error (e.g. the spread
over SLQ probes) is added to the variance; a deterministic bound (e.g. SLQ's quadrature resolution) widens the
interval by its size. Exact computations (counts of zero eigenvalues, the sign of a curvature) are decided by
their value. Secondary comparisons are corrected for their number by Holm's step-down procedure.

- **holds**: the primary comparison is shown (its interval lies on the claimed side of zero);
- **does not hold at our settings**: the primary comparison is reversed (its interval lies on the other side),
  at the scale and settings of this build;
- **partly holds**: the primary comparison is inside its interval, and at least one secondary comparison is
  shown after the correction;
- **not resolved: no effect larger than δ**: the primary comparison is inside, and its 90 % interval lies
  inside ±δ, the smallest difference that matters for the claim (stated with each check): stop here;
- **not resolved: too imprecise at this size**: the primary comparison is inside and its interval is wider
  than ±δ; the ledger says how many runs a side would resolve a gap of the observed size (80 % power), or that
  no number of runs can because the measurement's own bound is as large as the gap: spend more compute, or
  measure better;
- **not yet tested**: fewer than two runs a side (some experiments at the `smoke` scale), or no chapter yet.

A claim of agreement ("the estimator recovers its target", "within 2x of") holds when the 90 % interval of
the difference lies inside ±δ, does not hold when the 95 % interval lies wholly beyond ±δ, and is too
imprecise otherwise.
"""

HOLDS, PARTLY, FAILS, UNTESTED = "holds", "partly holds", "does not hold at our settings", "not yet tested"
#: the two kinds of "not resolved": the difference is bounded below δ, or the measurement is too imprecise
SMALL = "not resolved: no effect larger than δ"
IMPRECISE = "not resolved: too imprecise at this size"
#: either kind of "not resolved" (for `expect`)
UNRESOLVED = "not resolved"
VERDICTS = (HOLDS, PARTLY, FAILS, SMALL, IMPRECISE, UNTESTED)
#: what a claim expects of its primary comparison: A larger than B, or A equal to B within δ
GREATER, EQUAL = "greater", "equal"


@dataclass(frozen=True)
class Secondary:
    """A secondary comparison of a verdict: its name, the comparison, and its outcome after Holm's correction."""

    name: str
    comparison: Comparison
    outcome: str


@dataclass(frozen=True)
class Verdict:
    """What a check measured (`numbers`, for a table cell) and what it concludes (`verdict`), with the primary
    comparison it was judged on (`primary` names it, `comparison` is it), the secondary comparisons and the
    expectation (`GREATER` or `EQUAL`). Checks build it with `judge`. `scale` is the scale of the runs it was
    judged on (set by the `check` decorator from the typed result, or passed to `judge`); None for a
    computation without runs."""

    numbers: str
    verdict: str
    primary: str = ""
    comparison: Comparison | None = None
    secondary: tuple[Secondary, ...] = ()
    expectation: str = GREATER
    scale: str | None = None

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict={self.verdict!r} is not valid; choose one of {', '.join(VERDICTS)}")
        if self.expectation not in (GREATER, EQUAL):
            raise ValueError(f"expectation={self.expectation!r} must be {GREATER!r} or {EQUAL!r}")

    @property
    def holds(self) -> bool:
        return self.verdict == HOLDS

    @property
    def why(self) -> str:
        """The reason behind a "not resolved" or "not yet tested" verdict in words ("" for the others)."""
        c = self.comparison
        if c is None or self.verdict not in (SMALL, IMPRECISE, UNTESTED):
            return ""
        if self.verdict == UNTESTED:
            return f"fewer than {c.min_runs} runs a side (n = {c.n[0]}, {c.n[1]})"
        lo, hi = c.interval(0.1)
        if self.verdict == SMALL:
            return f"the 90% interval of the difference, {lo:+.3g} to {hi:+.3g}, lies inside ±δ = ±{c.delta:.3g}"
        if c.bound >= abs(c.estimate):
            return ("more runs cannot resolve it: the measurement's own bound "
                    f"(±{c.bound:.3g}) is as large as the observed gap ({c.estimate:+.3g})")
        if c.se == 0:
            return "an exact computation that decides neither way (its value is zero)"
        if self.expectation == EQUAL:
            return (f"the 90% interval of the difference, {lo:+.3g} to {hi:+.3g}, reaches beyond ±δ = ±{c.delta:.3g}: "
                    "more runs would narrow it")
        if c.runs_needed is None:
            return f"the 95% interval, {lo:+.3g} to {hi:+.3g}, is too wide to tell (no run count for this measure)"
        return f"about {c.runs_needed} runs a side would resolve a gap of the observed size ({c.estimate:+.3g})"


def judge(primary: str, comparison: Comparison, numbers: str, secondary: Mapping[str, Comparison] | None = None,
          expectation: str = GREATER, scale: str | None = None) -> Verdict:
    """The one combination rule (module docstring): the verdict on a claim from its primary comparison, named
    `primary`, and its `secondary` comparisons (Holm-corrected); `numbers` describes the measurement. The
    outcomes are appended to `numbers`. `scale`: the scale of the runs the comparisons come from, for a check
    whose arguments are plain values (checks of typed results get it from the `check` decorator)."""
    secondary = dict(secondary or {})
    corrected = holm(secondary) if secondary else {}
    second = tuple(Secondary(k, c, corrected[k]) for k, c in secondary.items())
    c = comparison
    if not c.enough:
        verdict = UNTESTED
    elif expectation == EQUAL:
        lo, hi = c.interval()
        verdict = HOLDS if c.negligible else FAILS if (lo > c.delta or hi < -c.delta) else IMPRECISE
    else:
        verdict = {SHOWN: HOLDS, REVERSED: FAILS}.get(c.outcome)
        if verdict is None:
            verdict = PARTLY if SHOWN in corrected.values() else SMALL if c.negligible else IMPRECISE
    text = f"{numbers}; primary, {primary}: {c} → {c.outcome}"
    if second:
        text += "; secondary (Holm): " + ", ".join(f"{s.name} {s.comparison.estimate:+.3g} → {s.outcome}"
                                                   for s in second)
    return Verdict(text, verdict, primary, c, second, expectation, scale)


def _scale_of(args) -> str | None:
    """The scale of the first typed result among `args` (anything with a string attribute `scale`)."""
    return next((a.scale for a in args if isinstance(getattr(a, "scale", None), str)), None)


def check(fn: Callable) -> Callable:
    """Decorator of a check of typed results: the verdict it returns (or each verdict of the mapping it returns)
    records the scale of the result it was judged on, so that `expect` can tell a `smoke` run from a real one."""

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        out, scale = fn(*args, **kwargs), _scale_of((*args, *kwargs.values()))
        if scale is None:
            return out
        if isinstance(out, Verdict):
            return out if out.scale else replace(out, scale=scale)
        if isinstance(out, Mapping) and all(isinstance(v, Verdict) for v in out.values()):
            return {k: v if v.scale else replace(v, scale=scale) for k, v in out.items()}
        return out

    return checked


#: the scale whose runs only test the plumbing: too few and too short for any verdict to mean anything
PLUMBING = "smoke"


def expect(verdict: Verdict, *allowed: str) -> None:
    """Assert (in a chapter) that a check's verdict is one of `allowed` (default: "holds"; `UNRESOLVED` allows
    either kind of "not resolved"). A verdict judged on `smoke` runs passes unasserted: those runs test the
    plumbing, not the claim (so chapters need no scale guards). Returns nothing, so that a cell ending in it
    shows no repr."""
    allowed = allowed or (HOLDS,)
    bad = [a for a in allowed if a not in VERDICTS + (UNRESOLVED,)]
    if bad:
        raise ValueError(f"allowed={bad!r} are not verdicts; choose from {', '.join(VERDICTS + (UNRESOLVED,))}")
    if verdict.scale == PLUMBING:
        return
    ok = verdict.verdict in allowed or (UNRESOLVED in allowed and verdict.verdict in (SMALL, IMPRECISE))
    if not ok:
        raise AssertionError(f"expected {' or '.join(allowed)}, measured '{verdict.verdict}': {verdict.numbers}")


def announce(verdict: Verdict, name: str | None = None) -> Verdict:
    """Print a check's verdict and numbers, and glue the verdict word under `name` for the chapter's prose;
    returns the verdict (so that `expect(announce(check(result), "name"))` reads in one line)."""
    print(f"{verdict.verdict} | {verdict.numbers}")
    if name is not None:
        glue(name, verdict.verdict, display=False)
    return verdict


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and the check in this book that tests it.

    `part` names the part of the book ("I".."V"); `doc` is the chapter's file name in `book/` without suffix,
    `label` an optional MyST target of the section in that chapter; `experiment` names a registered
    experiment, and `assess` is the check that turns its typed result into a `Verdict` (the same function the
    chapter asserts).
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


COLUMNS = ("claim", "where tested", "verdict", "replicated", "paper size", "primary comparison", "why", "secondary",
           "scale", "measured")
#: what the replication column says for a claim not replicated by design, and for one whose replication has not run
NOT_REPLICATED_BY_DESIGN, NOT_RUN = "— (exact or one-seed experiment)", "not run yet (make replicate runs it)"
#: what the paper-size column says when no committed result has the registered paper config and today's code
NO_PAPER = "— (no current paper-size result)"


def ledger_row(claim: Claim, registry: Iterable[str], load: Callable[[str], object],
               load_replication: Callable[[str], object | None] | None = None,
               load_paper: Callable[[str], object | None] | None = None) -> dict[str, str]:
    """One row of the ledger (keys `COLUMNS`), measured from `load(claim.experiment)` when it can be tested, and
    judged again on `load_replication(claim.experiment)` (None: not run) when its experiment is replicated on
    fresh seeds (`load_replication` given: `experiments.replication.replication`, which returns None for an
    experiment it does not replicate by design), and on `load_paper(claim.experiment)`, the committed result of
    the registered paper config by today's code (None: there is none; `experiments.reproduce.current_papers`).

    A claim is "not yet tested" while its chapter is unwritten or its experiment is not in `registry`;
    then `load` is not called.
    """
    row = {"claim": claim.claim, "where tested": claim.where()}
    if claim.doc is None or claim.experiment is None or claim.experiment not in registry:
        return row | {k: "—" for k in COLUMNS[2:]} | {"verdict": UNTESTED}
    result = load(claim.experiment)
    verdict = claim.assess(result)
    paper = load_paper(claim.experiment) if load_paper is not None else None
    return row | verdict_cells(verdict) | {"scale": result.scale,
                                           "replicated": replicated(claim, verdict, load_replication),
                                           "paper size": NO_PAPER if paper is None else claim.assess(paper).verdict}


def replicated(claim: Claim, verdict: Verdict, load_replication: Callable[[str], object | None] | None) -> str:
    """The replication cell: "replicated" when the claim holds on the discovery seeds and again on fresh ones,
    "not replicated (…)" when it holds only on the first, otherwise the verdict on the fresh seeds."""
    if load_replication is None:
        return NOT_REPLICATED_BY_DESIGN
    again = load_replication(claim.experiment)
    if again is None:
        return NOT_RUN
    second = claim.assess(again).verdict
    if verdict.verdict == HOLDS:
        return "replicated" if second == HOLDS else f"not replicated ({second})"
    return f"{second} on fresh seeds"


def verdict_cells(verdict: Verdict) -> dict[str, str]:
    """The ledger's cells of one verdict: the verdict word, the primary comparison with its outcome and
    interval, the reason behind a "not resolved", the secondary comparisons after Holm, and the numbers."""
    c = verdict.comparison
    primary = "—" if c is None else f"{verdict.primary}: {c} → {c.outcome}"
    if c is not None and c.delta:
        primary += f" (δ = {c.delta:.3g})"
    second = "; ".join(f"{s.name}: {s.comparison.estimate:+.3g} → {s.outcome}" for s in verdict.secondary) or "—"
    return {"verdict": verdict.verdict, "primary comparison": primary, "why": verdict.why or "—",
            "secondary": second, "measured": verdict.numbers}
