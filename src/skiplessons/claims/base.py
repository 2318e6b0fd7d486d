"""What a claim is, what a verdict is, and the rules that turn comparisons into verdicts.

A check is a function `(typed result) -> Verdict`; a chapter calls it and asserts its verdict with `expect`,
and the claims ledger tabulates the same function's verdict for the claims of the paper (`Claim`), so a page
and the ledger can never disagree. Differences are judged with the shared margin rule (`stats.exceeds`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from ..report import glue
from ..stats import exceeds

HOLDS, PARTLY, FAILS, UNTESTED = "holds", "partly holds", "does not hold at our settings", "not yet tested"
#: a comparison whose margin is inside its errors: neither shown nor refuted at this size
UNRESOLVED = "not resolved at this size"
VERDICTS = (HOLDS, PARTLY, FAILS, UNRESOLVED, UNTESTED)


@dataclass(frozen=True)
class Verdict:
    """What a check measured (`numbers`, formatted for a table cell) and what it concludes (`verdict`)."""

    numbers: str
    verdict: str

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict={self.verdict!r} is not valid; choose one of {', '.join(VERDICTS)}")

    @property
    def holds(self) -> bool:
        return self.verdict == HOLDS


def expect(verdict: Verdict, *allowed: str) -> Verdict:
    """Assert (in a chapter) that a check's verdict is one of `allowed` (default: "holds"); returns it."""
    allowed = allowed or (HOLDS,)
    bad = [a for a in allowed if a not in VERDICTS]
    if bad:
        raise ValueError(f"allowed={bad!r} are not verdicts; choose from {', '.join(VERDICTS)}")
    if verdict.verdict not in allowed:
        raise AssertionError(f"expected {' or '.join(allowed)}, measured '{verdict.verdict}': {verdict.numbers}")
    return verdict


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


COLUMNS = ("claim", "where tested", "measured", "scale", "verdict")


def ledger_row(claim: Claim, registry: Iterable[str], load: Callable[[str], object]) -> dict[str, str]:
    """One row of the ledger (keys `COLUMNS`), measured from `load(claim.experiment)` when it can be tested.

    A claim is "not yet tested" while its chapter is unwritten or its experiment is not in `registry`;
    then `load` is not called.
    """
    row = {"claim": claim.claim, "where tested": claim.where()}
    if claim.doc is None or claim.experiment is None or claim.experiment not in registry:
        return row | {"measured": "—", "scale": "—", "verdict": UNTESTED}
    result = load(claim.experiment)
    verdict = claim.assess(result)
    return row | {"measured": verdict.numbers, "scale": result.scale, "verdict": verdict.verdict}


def gap_verdict(better: Mapping[str, np.ndarray], worse: np.ndarray) -> str:
    """Whether every group in `better` beats `worse` by the margin rule (`stats.exceeds`): "holds" when all
    do, "partly holds" when some do, "does not hold at our settings" otherwise."""
    if not better:
        raise ValueError("better must name at least one group")
    wins = [exceeds(values, worse) for values in better.values()]
    if any(w is None for w in wins):
        return UNTESTED
    return HOLDS if all(wins) else PARTLY if any(wins) else FAILS


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
        return UNTESTED, text
    wins = [v is True for v in parts.values()]
    return (HOLDS if all(wins) else PARTLY if any(wins) else FAILS), text
