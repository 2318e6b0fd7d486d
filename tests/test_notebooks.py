"""Hygiene of the book's sources (issue 8, item 4; issue 2, item 8).

Every page is in the table of contents and every entry exists; chapter notebooks are committed
without outputs, run on the `python3` kernel, start with the one setup cell that Colab needs (its
install URL and release tag come from `_config.yml`, the only place the repository is named, through
scripts/stamp_version.py) and then call
`setup(...)`. No notebook ever installs torch: Colab ships it.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from scripts import stamp_version

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))
PAGE_SUFFIXES = (".ipynb", ".md")


def toc_entries(node) -> list[str]:
    """Every `root` and `file` value of `_toc.yml`, in order (paths relative to the repo, no suffix)."""
    if isinstance(node, dict):
        found = [node[key] for key in ("root", "file") if key in node]
        return found + [entry for value in node.values() for entry in toc_entries(value)]
    if isinstance(node, list):
        return [entry for item in node for entry in toc_entries(item)]
    return []


def canonical_setup_cell(config: dict) -> str:
    """The first cell of every notebook, with the install URL and ref taken from `config['repository']`."""
    repo = config["repository"]
    return stamp_version.setup_cell(repo["url"], repo["branch"])


def _no_suffix(path: Path) -> str:
    return path.relative_to(ROOT).with_suffix("").as_posix()


def _load(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _ids(paths):
    return [p.name for p in paths]


def test_book_has_notebooks():
    assert NOTEBOOKS, f"no notebooks found in {BOOK}"


def test_toc_entries_exist_and_are_unique():
    entries = toc_entries(TOC)
    assert entries, "_toc.yml lists no pages"
    duplicates = sorted({e for e in entries if entries.count(e) > 1})
    assert not duplicates, f"pages listed twice in _toc.yml: {duplicates}"
    missing = [e for e in entries if not any((ROOT / f"{Path(e).with_suffix('')}{s}").exists() for s in PAGE_SUFFIXES)]
    assert not missing, f"_toc.yml lists pages that do not exist: {missing}"


def test_every_page_is_in_toc():
    """`only_build_toc_files: true` silently drops pages that are missing from the toc."""
    listed = {Path(e).with_suffix("").as_posix() for e in toc_entries(TOC)}
    pages = sorted(p for s in PAGE_SUFFIXES for p in BOOK.glob(f"*{s}"))
    orphans = [p.relative_to(ROOT).as_posix() for p in pages if _no_suffix(p) not in listed]
    assert not orphans, f"pages missing from _toc.yml: {orphans}"


def test_canonical_cell_follows_config():
    """The expected cell really is derived from `_config.yml` (guards the helper above)."""
    cell = canonical_setup_cell({"repository": {"url": "https://github.com/a/b/", "branch": "dev"}})
    assert cell.endswith('%pip install -q "skiplessons @ git+https://github.com/a/b@dev"')


def test_colab_launch_settings():
    """The launch button needs a Colab URL and a GitHub repository and branch to point at."""
    assert CONFIG["launch_buttons"]["colab_url"].startswith("https://colab.research.google.com")
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+/?", CONFIG["repository"]["url"])
    assert CONFIG["repository"]["branch"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_outputs_and_kernel(path):
    nb = _load(path)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{path.name}: kernelspec name must be python3"
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have stored outputs or execution counts"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_setup_cell(path):
    first = _load(path).cells[0]
    assert first.cell_type == "code", f"{path.name}: the first cell must be the setup code cell"
    assert first.source == canonical_setup_cell(CONFIG), f"{path.name}: the first cell differs from the setup cell"
    assert "remove-cell" in first.metadata.get("tags", []), f"{path.name}: the setup cell must be tagged remove-cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_never_installs_torch(path):
    installs = [
        line
        for cell in _load(path).cells
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if re.search(r"\bpip\b.*\binstall\b", line) and re.search(r"\btorch", line)
    ]
    assert not installs, f"{path.name} installs torch: {installs}"


SETUP_CALL = re.compile(r"from skiplessons import setup\nenv = setup\((seed=\d+)?\)")
#: chapters (not back-matter pages) open with learning objectives and close with a summary
CHAPTERS = [p for p in NOTEBOOKS if re.match(r"\d\d_", p.name)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_every_notebook_opens_the_same_way(path):
    """Setup cell, title, one `setup(...)` cell, then the imports: the same four cells in every notebook."""
    cells = _load(path).cells
    assert len(cells) > 4, f"{path.name} is too short to be a page"
    title, call, imports = cells[1], cells[2], cells[3]
    assert title.cell_type == "markdown" and re.fullmatch(r"# [^\n]+", title.source.strip()), (
        f"{path.name}: cell 1 must be the title alone ('# ...')")
    assert call.cell_type == "code" and SETUP_CALL.fullmatch(call.source.strip()), (
        f"{path.name}: cell 2 must be exactly 'from skiplessons import setup\\nenv = setup(seed=...)'")
    assert imports.cell_type == "code", f"{path.name}: cell 3 must hold the imports"
    first = ast.parse(imports.source).body[0]
    assert isinstance(first, (ast.Import, ast.ImportFrom)), f"{path.name}: cell 3 must start with the imports"


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapters_state_objectives_and_summary(path):
    cells = [c for c in _load(path).cells if c.cell_type == "markdown"]
    assert "Learning objectives" in cells[1].source, f"{path.name}: the first text after the opening must be the learning objectives"
    assert any(re.search(r"^## Summary", c.source, re.M) for c in cells), f"{path.name}: no '## Summary' section"


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapters_read_results_through_typed_accessors(path):
    """No chapter indexes a stored result's raw arrays or hard-codes a class count or a tolerance index."""
    code = "\n".join(c.source for c in _load(path).cells if c.cell_type == "code")
    for pattern, what in ((r"\.arrays\[", "a raw result array (use the typed accessors)"),
                          (r"\bn_cls\s*=\s*\d", "a hard-coded class count (use result.n_classes)"),
                          (r"\[\s*:\s*,\s*[\w\s]*,\s*2\s*\]", "a tolerance index (use degenerate(tol=...))"),
                          (r"\.index\(1e-3\)", "a tolerance index (use degenerate(tol=...))")):
        assert not re.search(pattern, code), f"{path.name} reads {what}: {re.search(pattern, code).group(0)!r}"


def test_nothing_refers_outside_the_repository():
    """Maintainer notes live in CONTRIBUTING.md: nothing points to design notes outside the repository."""
    files = [p for p in ROOT.rglob("*") if p.is_file() and p.suffix in {".py", ".md", ".yml", ".ipynb", ".toml", ".sh"}
             and not any(part.startswith(".") or part in {"_build", "node_modules"} for part in p.relative_to(ROOT).parts)]
    outside = "../" + "shared"                      # spelled in two parts so that this file does not match itself
    offenders = [p.relative_to(ROOT).as_posix() for p in files if outside in p.read_text(errors="ignore")]
    assert not offenders, f"files refer to {outside}, which is not in the repository: {offenders}"
