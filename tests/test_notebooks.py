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


# ---------------------------------------------------------------------------------------------------------------
# Cell conventions (CONTRIBUTING.md, "Cell conventions"; issue 27): what the reader sees of a page.

#: tags that take a cell's code off the page (the cell still runs)
HIDDEN_TAGS = {"remove-input", "remove-cell", "hide-input", "hide-cell"}


def _hide_checks():
    """`scripts/hide_checks.py`, the tool that moves checks off the page; its `is_check` is the rule here."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("hide_checks", ROOT / "scripts" / "hide_checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_is_check = _hide_checks().is_check


def _code_cells(nb) -> list[tuple[int, nbformat.NotebookNode, list[ast.stmt]]]:
    """(index, cell, statements) of every code cell that parses as Python (the setup cell has a magic)."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            try:
                found.append((i, cell, ast.parse(cell.source).body))
            except SyntaxError:
                continue
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_checks_are_hidden(path):
    """Glue, `claims.expect` and `assert` statements run in cells whose code is off the page; no code cell a
    reader sees has one at its top level."""
    bad = [f"cell {i}: {ast.get_source_segment(cell.source, s).splitlines()[0]}"
           for i, cell, body in _code_cells(_load(path)) if not HIDDEN_TAGS & set(cell.metadata.get("tags", []))
           for s in body if _is_check(s)]
    assert not bad, (f"{path.name}: checks on the page (`python scripts/hide_checks.py {path.relative_to(ROOT)}` "
                     f"moves them to a cell tagged remove-input or remove-cell): {bad}")


def test_is_check_tells_checks_from_teaching():
    """The classifier behind `test_checks_are_hidden`, on statements whose kind is known."""
    kinds = {"assert x > 0": True, "glue('a', 1, display=False)": True, "claims.expect(v)": True,
             "if env.scale != 'smoke':\n    claims.expect(v)\n    assert ok": True,
             "for k, v in d.items():\n    glue(k, v)": True, "print(x)": False, "x = glue": False,
             "if ok:\n    claims.expect(v)\n    print(v.numbers)": True,
             "if paper is not None:\n    plt.show()\n    glue('a', 1)": False, "plt.show()": False}
    assert {src: _is_check(ast.parse(src).body[0]) for src in kinds} == kinds


SOLUTION_END = re.compile(r"^`{3,}\{solution-end\}\s*\n`{3,}[ \t]*$", re.M)
#: what may follow a solution: a heading, the next exercise or solution, or the end of the page
AFTER_SOLUTION = re.compile(r"\s*(?:$|#|`{3,}\{(?:exercise|solution)-start\})")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_solutions_wholly_in_their_dropdowns(path):
    """No part of an answer follows its dropdown: after a `solution-end` comes a heading, the next exercise or
    solution, or the end of the page (issue 27: answers showed before the question was tried)."""
    cells = _load(path).cells
    bad = []
    for i, cell in enumerate(cells):
        if cell.cell_type != "markdown":
            continue
        for end in SOLUTION_END.finditer(cell.source):
            rest = cell.source[end.end():]
            if not rest.strip() and i + 1 < len(cells):
                rest = cells[i + 1].source if cells[i + 1].cell_type == "markdown" else "code cell"
            if not AFTER_SOLUTION.match(rest):
                bad.append(f"cell {i}: {rest.strip().splitlines()[0][:70]!r}")
    assert not bad, f"{path.name}: text after a solution's dropdown (move it inside): {bad}"


HELP = re.compile(r"help\(([\w.]+)\)")
DOTTED = re.compile(r"(?<!})`([A-Za-z_]\w*(?:\.\w+)+)`")  # not a role's target ({glue:text}`a.b`)


def _imported_names(nb) -> dict[str, str]:
    """{name bound by an import in the notebook's code: the module or object it stands for}."""
    names = {}
    for _, _, body in _code_cells(nb):
        for node in (n for s in body for n in ast.walk(s)):
            if isinstance(node, ast.Import):
                names.update({a.asname or a.name.split(".")[0]: a.name if a.asname else a.name.split(".")[0]
                              for a in node.names})
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
    return names


def _resolves(dotted: str) -> bool:
    """Whether `package.module.attr...` names something: the longest importable prefix, then attributes."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_names_in_the_prose_resolve(path):
    """Every `help(...)` the prose tells the reader to type names something the notebook imported, and every
    `module.name` it quotes from the library exists (issue 27: `help(sg.…)` with no `sg` imported)."""
    nb = _load(path)
    imported = _imported_names(nb)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    bad = []
    for name in HELP.findall(prose):
        root, _, rest = name.partition(".")
        if root not in imported:
            bad.append(f"help({name}): {root} is not imported in the notebook")
        elif not _resolves(".".join(filter(None, (imported[root], rest)))):
            bad.append(f"help({name}): no such name")
    bound = {n.id for _, _, body in _code_cells(nb) for s in body for n in ast.walk(s)
             if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    for name in DOTTED.findall(prose):
        root, _, rest = name.partition(".")
        if root in bound and root not in imported:
            continue  # an attribute of a variable of the page
        full = f"{imported[root]}.{rest}" if root in imported else name if root == "skiplessons" else f"skiplessons.{name}"
        if not _resolves(full):
            bad.append(f"`{name}`: names nothing the notebook imported or the library has")
    assert not bad, f"{path.name}: {bad}"


PART = re.compile(r"Part ([IVX]+):")
CHAPTER_REF = re.compile(r"\b[Cc]hapters? ((?:0|[IVX]+\.\d+)(?:(?:,| and| or| to|–|-) ?(?:0|[IVX]+\.\d+))*)")


def chapter_numbers(toc) -> dict[str, str]:
    """{page: its number}: "0" for the part before Part I (the claim), "III.2" for Part III's second chapter;
    the back matter has none."""
    numbers, seen_part = {}, False
    for part in toc["parts"]:
        numeral = PART.match(part.get("caption", ""))
        seen_part = seen_part or bool(numeral)
        for k, entry in enumerate(part["chapters"], 1):
            if numeral:
                numbers[entry["file"]] = f"{numeral.group(1)}.{k}"
            elif not seen_part:
                numbers[entry["file"]] = "0"
    return numbers


def _page_title(entry: str) -> str:
    """A page's own title: a notebook's title cell, or a markdown page's first line."""
    path = ROOT / entry
    source = _load(path.with_suffix(".ipynb")).cells[1].source if path.with_suffix(".ipynb").exists() else (
        path.with_suffix(".md").read_text().splitlines()[0])
    return source.strip().removeprefix("# ")


def test_toc_numbers_chapters():
    """The sidebar shows each chapter's number before its title, as the prose cites it ("chapter III.2")."""
    numbers = chapter_numbers(TOC)
    assert numbers["book/08_degeneracy"] == "III.2" and numbers["book/00_headline"] == "0"
    titles = {e["file"]: e.get("title") for part in TOC["parts"] for e in part["chapters"]}
    bad = [(f, titles[f], f"{n} {_page_title(f)}") for f, n in numbers.items() if titles[f] != f"{n} {_page_title(f)}"]
    assert not bad, f"_toc.yml titles (page, found, expected): {bad}"


def test_chapters_cited_exist():
    """Every "chapter X.Y" the pages cite is a chapter of the table of contents."""
    numbers = set(chapter_numbers(TOC).values())
    pages = [(p.name, "\n".join(c.source for c in _load(p).cells if c.cell_type == "markdown")) for p in NOTEBOOKS]
    pages += [(p.name, p.read_text()) for p in BOOK.glob("*.md")]
    bad = [(name, ref) for name, text in pages for refs in CHAPTER_REF.findall(text)
           for ref in re.findall(r"0|[IVX]+\.\d+", refs) if ref not in numbers]
    assert not bad, f"chapters cited that the table of contents does not have: {bad}"


def chapter_labels() -> dict[str, str]:
    """{notebook stem: its label in the navigation ("III.2")}, from the titles in `_toc.yml`: the prefix of every
    glue key the chapter sets (`III.2.width_verdict`, the scheme part.chapter.name)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    titles = {c["file"].removeprefix("book/"): c.get("title", "") for p in toc["parts"] for c in p["chapters"]}
    return {doc: m.group(1) for doc, t in titles.items() if (m := re.match(r"([0IVX]+(?:\.\d+)?) ", t))}


#: a glue key written in a chapter's code: glue("key"...), glue(f"key..."), announce(..., "key"),
#: glue_means(..., "key"), prefix="key"
GLUE_KEY = re.compile(r'\bglue\(f?"([^"]*)"|announce\([^\n]*,\s*"([^"]+)"\)|glue_means\([^\n]*,\s*"([^"]+)"|prefix="([^"]+)"')


@pytest.mark.parametrize("doc,label", sorted(chapter_labels().items()))
def test_glue_keys_follow_the_scheme(doc, label):
    """Every glue key a chapter sets starts with its label (`III.2.`), and every key its prose reads is either one
    of them or another page's (`claims.ipynb::verdict.x`)."""
    path = BOOK / f"{doc}.ipynb"
    if not path.exists():
        pytest.skip(f"{doc} is a markdown page")
    nb = nbformat.read(path, as_version=4)
    keys = [next(g for g in m.groups() if g is not None) for c in nb.cells if c.cell_type == "code"
            for m in GLUE_KEY.finditer(c.source)]
    bad = [k for k in keys if not k.startswith(f"{label}.")]
    assert not bad, f"{doc}: glue keys without the prefix {label}.: {bad}"
    refs = [k for c in nb.cells if c.cell_type == "markdown"
            for k in re.findall(r"\{glue(?::\w*)?\}`([^`]+)`", c.source) if "::" not in k]
    assert all(k.startswith(f"{label}.") for k in refs), [k for k in refs if not k.startswith(f"{label}.")]
