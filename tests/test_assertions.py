"""Every assertion of a difference in a chapter is as strict as the sentence it backs (issue 15).

An `assert` in a chapter's code whose test orders two numbers (<, <=, >, >=) claims a difference. It must either
go through the book's one comparison rule -- call `welch`, `one_sample` (`skiplessons.stats`), or a claims check
(`claims.expect(...)`, `claims.partN.check(...)`) -- or say that it is a fact by construction with a comment
`# fact: <why>` on the assert's first line or the line just above it (e.g. round-off of an exact identity).
Equalities (`==`, `allclose`) are not differences and are left alone.

The detector is tested on small sources first, so the chapter test can fail.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
#: calls that apply the book's one comparison rule
RULE_CALLS = {"welch", "one_sample", "expect", "judge"}
ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
FACT = re.compile(r"#\s*fact:\s*\S")


def python_source(cell_source: str) -> str:
    """A code cell as plain Python: IPython magics and shell lines become `pass` (same line numbers)."""
    lines = []
    for line in cell_source.splitlines():
        stripped = line.lstrip()
        lines.append(line[:len(line) - len(stripped)] + "pass" if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines)


def _call_names(node: ast.AST) -> set[str]:
    """Every name a call in `node` goes through: `f(...)` gives f, `a.b.c(...)` gives a, b and c."""
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            func = sub.func
            while isinstance(func, ast.Attribute):
                names.add(func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                names.add(func.id)
    return names


def orders_numbers(test: ast.AST) -> bool:
    """Whether an assert's test contains an ordering comparison (a claimed difference)."""
    return any(isinstance(sub, ast.Compare) and any(isinstance(op, ORDERING) for op in sub.ops)
               for sub in ast.walk(test))


def uses_comparison_rule(test: ast.AST) -> bool:
    """Whether an assert's test calls the comparison rule or a claims check."""
    names = _call_names(test)
    return bool(names & RULE_CALLS) or "claims" in names or any(
        isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == "claims"
        for sub in ast.walk(test))


def unmarked_differences(source: str) -> list[tuple[int, str]]:
    """(line, text) of every assert in `source` that orders numbers without the comparison rule or a `# fact:`."""
    lines = source.splitlines()
    bad = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Assert) or not orders_numbers(node.test) or uses_comparison_rule(node.test):
            continue
        here = lines[node.lineno - 1]
        above = lines[node.lineno - 2] if node.lineno > 1 else ""
        if FACT.search(here) or (above.lstrip().startswith("#") and FACT.search(above)):
            continue
        bad.append((node.lineno, here.strip()))
    return bad


# ------------------------------------------------------------------------------------ the detector

@pytest.mark.parametrize("source", [
    "assert a.mean() > b.mean()",
    "assert abs(x - y) < 0.03, 'close'",
    "assert all(v < 1 for v in values)",
    "if scale != 'smoke':\n    assert gap > 0.0",
    "# a comment that is no fact marker\nassert a > b",
    "assert a > b  # fact:",
])
def test_detector_flags_unmarked_differences(source):
    assert unmarked_differences(source), source


@pytest.mark.parametrize("source", [
    "assert welch(a, b).outcome == 'shown'",
    "assert stats.welch(a, b).estimate > 0 and a.mean() > 0",
    "assert claims.part4.malicious_init(r).verdict == HOLDS",
    "claims.expect(claims.part4.malicious_init(r))",
    "assert err < 1e-10  # fact: the two nets are one function, so only round-off differs",
    "# fact: relu(z - h) + h >= h for h >= 0\nassert (h1 >= h0).all()",
    "assert torch.allclose(a, b)",
    "assert verdict == 'holds'",
    "%pip install -q x\nassert welch(a, b).estimate > 0",
])
def test_detector_passes_the_rule_facts_and_equalities(source):
    assert not unmarked_differences(python_source(source)), source


# ------------------------------------------------------------------------------------ the chapters

@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_differences_use_the_comparison_rule(path):
    """Every assert on a difference in the chapter calls `welch`/`one_sample`/a claims check, or is marked
    `# fact:` (a fact by construction)."""
    nb = nbformat.read(path, as_version=4)
    failures = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for line, text in unmarked_differences(python_source(cell.source)):
            failures.append(f"{path.name} cell {i} line {line}: {text}")
    if failures:
        pytest.fail("asserts on a difference without the comparison rule (stats.welch / one_sample, or a claims check) "
                    "and without a '# fact:' marker:\n  " + "\n  ".join(failures), pytrace=False)
