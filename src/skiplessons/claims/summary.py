"""The book's bottom line, written from the ledger's verdicts so it cannot drift from them: for each part, what
holds, what does not, what remains open and why, and how big each effect is (the primary comparison's estimate
and 95 % interval)."""
from __future__ import annotations

import html
import re
from collections.abc import Sequence

from .base import FAILS, HOLDS, IMPRECISE, PARTLY, SMALL, UNTESTED, Claim, Verdict

#: the parts of the book, as the table of contents names them
PARTS = {"I": "singularities in one layer", "II": "learning dynamics near singularities", "III": "deep networks",
         "IV": "is it just initialization?", "V": "beyond the paper"}
#: how the bottom line groups the verdicts, in this order
GROUPS = ((HOLDS, "Holds"), (PARTLY, "Partly holds"), (FAILS, "Does not hold at our settings"),
          (SMALL, "Open, any effect small"), (IMPRECISE, "Open, too imprecise at this size"),
          (UNTESTED, "Not yet tested"))


def short(claim: Claim) -> str:
    """The claim in a few words: its text without parenthetical remarks, up to the first colon or semicolon."""
    text = re.sub(r"\s*\([^()]*\)", "", claim.claim)
    return re.split(r"\s*[:;]", text)[0].strip().rstrip(".")


def size(verdict: Verdict) -> str:
    """The primary comparison's estimate and 95 % interval, in the words of the check ("" when there is none)."""
    c = verdict.comparison
    if c is None:
        return ""
    lo, hi = c.interval()
    return f"{verdict.primary}: {c.estimate:+.3g} (95% interval {lo:+.3g} to {hi:+.3g})"


def bottom_line(part: str, claims: Sequence[Claim], verdicts: Sequence[Verdict | None], as_html: bool = False) -> str:
    """One paragraph on Part `part`: its claims grouped by verdict, each with the size of its primary comparison,
    the reason when it is open, and the shown secondary comparisons when it partly holds. Markdown, or HTML with
    `as_html` (what a page can paste from another page's glue: myst-nb pastes HTML across pages, not markdown)."""
    if part not in PARTS:
        raise ValueError(f"part={part!r} is not a part of the book; choose one of {', '.join(PARTS)}")
    if len(claims) != len(verdicts):
        raise ValueError(f"claims and verdicts must pair up, got {len(claims)} and {len(verdicts)}")
    strong, em = (("<strong>", "</strong>"), ("<em>", "</em>")) if as_html else (("**", "**"), ("*", "*"))
    text = html.escape if as_html else str
    mine = [(c, v) for c, v in zip(claims, verdicts) if c.part == part]
    head = f"{strong[0]}Part {part} ({text(PARTS[part])}).{strong[1]} "
    if not mine:
        return head + "No claim of this part is in the ledger yet."
    sentences = []
    for word, title in GROUPS:
        items = []
        for c, v in mine:
            if (v.verdict if v is not None else UNTESTED) != word:
                continue
            detail = [size(v)] if v is not None and size(v) else []
            if v is not None and v.why:
                detail.append(v.why)
            if word == PARTLY:
                detail.append("shown among the secondary comparisons: "
                              + ", ".join(s.name for s in v.secondary if s.outcome == "shown"))
            items.append(text(short(c) + (f" ({'; '.join(detail)})" if detail else "")))
        if items:
            sentences.append(f"{em[0]}{title}:{em[1]} " + "; ".join(items) + ".")
    paragraph = head + " ".join(sentences)
    return f"<p>{paragraph}</p>" if as_html else paragraph
