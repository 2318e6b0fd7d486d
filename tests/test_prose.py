"""One verdict, every page (issue 23): prose never states a verdict by hand. A verdict reaches a page only
through glue, from the same check the ledger runs, so a page cannot say more (or less) than the ledger; and in
a built site each chapter's glued verdict of a ledger claim equals the ledger's.

Hand-written verdicts are the verdict phrases of `claims.VERDICTS` (and "not resolved" in any form) and an
emphasized or quoted "holds"; "holds" in its ordinary sense ("the identity holds at every point") is prose.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from skiplessons.claims import CLAIMS, VERDICTS
from test_notebooks import chapter_labels

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
PAGES = sorted(BOOK.glob("*.ipynb")) + sorted(BOOK.glob("*.md"))
GLUE = re.compile(r"\{glue(?::\w+)?\}`[^`]*`")
PHRASES = re.compile("|".join(re.escape(v) for v in VERDICTS if v != "holds")
                     + r"|not resolved|\*\*holds\*\*|(?<!\*)\*holds\*(?!\*)|[\"“']holds[\"”']", re.IGNORECASE)


def hand_written_verdicts(text: str) -> list[str]:
    """The verdict phrases in `text` outside glue roles."""
    return [m.group(0) for m in PHRASES.finditer(GLUE.sub("", text))]


@pytest.mark.parametrize("text, found", [
    ("the claim {glue:text}`v` here", []), ("the claim **holds** here", ["**holds**"]),
    ('it is "not resolved at this size"', ["not resolved"]), ("this partly holds", ["partly holds"]),
    ("the identity holds at every point", []), ("the symmetry *holds* at every point", ["*holds*"]),
    ("{glue:text}`claims.ipynb::verdict.training_gap` and does not hold at our settings",
     ["does not hold at our settings"])])
def test_detector(text, found):
    assert hand_written_verdicts(text) == found


def _prose(path: Path) -> list[tuple[str, str]]:
    if path.suffix == ".md":
        return [(path.name, path.read_text())]
    nb = nbformat.read(path, as_version=4)
    return [(f"{path.name} cell {i}", c.source) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_prose_states_no_verdict_by_hand(path):
    bad = [f"{where}: {phrase!r}" for where, text in _prose(path) for phrase in hand_written_verdicts(text)]
    assert not bad, "verdicts written by hand (glue them from the check instead):\n  " + "\n  ".join(bad)


def _glued(doc: Path) -> dict[str, str]:
    """{key: text} of every glued string of an executed page (myst-nb keeps them in `<page>.glue.json`)."""
    found = json.loads(doc.with_suffix(".glue.json").read_text())
    return {k: v["data"]["text/plain"].strip("'\"") for k, v in found.items() if "text/plain" in v.get("data", {})}


def test_built_chapters_glue_the_ledgers_verdicts():
    """In a built site, each chapter's `<label>.verdict.<check>` glue equals the ledger's `verdict.<check>`."""
    executed = ROOT / "_build" / "jupyter_execute" / "book"
    if not (executed / "claims.glue.json").exists():
        pytest.skip("no built site (run `make book` first)")
    ledger = _glued(executed / "claims.ipynb")
    labels = chapter_labels()
    checked = 0
    for claim in CLAIMS:
        key = f"verdict.{claim.assess.__name__}" if claim.assess else None
        page = executed / f"{claim.doc}.ipynb"
        if key is not None and claim.doc in labels:
            key, ledger_key = f"{labels[claim.doc]}.{key}", key
        else:
            ledger_key = key
        if key is None or not page.with_suffix(".glue.json").exists() or key not in (chapter := _glued(page)):
            continue
        assert chapter[key] == ledger[ledger_key], (claim.doc, key, chapter[key], ledger[ledger_key])
        checked += 1
    assert checked, "no chapter glues a ledger claim's verdict under <label>.verdict.<check>"
