"""Move the verification and glue statements of notebook code cells into hidden cells (CONTRIBUTING.md, "Cell
conventions"; `tests/test_notebooks.py::test_checks_are_hidden` uses `is_check` from here).

`python scripts/hide_checks.py book/*.ipynb` rewrites the notebooks in place (run it again after a merge: it
changes nothing that already follows the conventions). A check is an assert, a glue.../expect call, or an
if/for holding only checks and prints. From each block (the cell, or the body of an if/for) the checks are cut
from the first check after which only checks, assignments and prints follow; checks higher up move down when
nothing between rebinds the names they read; an if/for holding both teaching code and checks is split into two
with the same header. The hidden part becomes the next cell, tagged remove-input when it prints, else remove-cell.
"""
from __future__ import annotations

import ast
import sys
import textwrap
import uuid
from pathlib import Path

import nbformat

HIDDEN = {"remove-input", "remove-cell", "hide-input", "hide-cell"}


def _call_name(node):
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        f = node.value.func
        return getattr(f, "id", getattr(f, "attr", ""))
    return ""


def is_check(node) -> bool:
    """An assert, a glue.../expect call, or an if/for holding checks and nothing but checks and prints."""
    if isinstance(node, ast.Assert):
        return True
    name = _call_name(node)
    if name.startswith("glue") or name == "expect":
        return True
    if isinstance(node, (ast.If, ast.For)):
        body = node.body + node.orelse
        return any(is_check(s) for s in body) and all(is_check(s) or _call_name(s) == "print" for s in body)
    return False


def _tail_ok(node) -> bool:
    return is_check(node) or isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) or _call_name(node) == "print"


def _comprehension_names(node) -> set[str]:
    return {n.id for c in ast.walk(node) if isinstance(c, ast.comprehension)
            for n in ast.walk(c.target) if isinstance(n, ast.Name)}


def _stored(nodes):
    """Names a statement binds (a comprehension's own variables are local to it)."""
    return {n.id for s in nodes for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
            and n.id not in _comprehension_names(s)}


def _loaded(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} - _comprehension_names(node)


def _prints(text: str) -> bool:
    for call in (n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Call)):
        name = getattr(call.func, "id", getattr(call.func, "attr", ""))
        if name in ("print", "glue_means") or (name == "glue" and not any(
                k.arg == "display" and isinstance(k.value, ast.Constant) and k.value.value is False
                for k in call.keywords)):
            return True
    return False


def split_block(body, lines, first_line=1):
    """(visible lines, hidden lines) of a block of statements, or None when nothing is hidden. Comment lines go
    with the statement after them; `first_line` is where the block's first statement's comments may start."""
    def own(s):
        return all(o.end_lineno < s.lineno or o.lineno > s.end_lineno for o in body if o is not s)

    if not all(own(s) for s in body):
        return None
    starts = [first_line] + [s.end_lineno + 1 for s in body[:-1]]

    def text(i):
        return lines[starts[i] - 1:body[i].end_lineno]

    start = len(body)
    while start > 0 and _tail_ok(body[start - 1]):
        start -= 1
    while start < len(body) and not is_check(body[start]):
        start += 1
    visible, hidden_head = [], []
    for i, s in enumerate(body[:start]):
        later = body[i + 1:start]
        if is_check(s) and not (_loaded(s) & _stored(later)):
            hidden_head += text(i)
            continue
        if isinstance(s, (ast.If, ast.For)) and not s.orelse and not (_loaded(s) & _stored(later)):
            inner = split_block(s.body, lines, _header_end(s) + 1)
            if inner is not None and _splittable(s, inner):
                header = lines[starts[i] - 1:_header_end(s)]
                if any(l.strip() for l in inner[0]):
                    visible += header + inner[0]
                hidden_head += header + inner[1]
                continue
        visible += text(i)
    hidden = hidden_head + [l for i in range(start, len(body)) for l in text(i)]
    return (visible, hidden) if hidden else None


def _header_end(node) -> int:
    """The last line of an if/for header (before its first body statement and that statement's comments)."""
    return node.test.end_lineno if isinstance(node, ast.If) else node.iter.end_lineno


def _splittable(node, inner) -> bool:
    """An if may run twice when its body does not change its condition; a for only when the hidden part reads
    nothing the visible part of the same pass assigns."""
    visible = ast.parse(_dedent(inner[0])).body if any(l.strip() for l in inner[0]) else []
    hidden = ast.parse(_dedent(inner[1])).body
    if isinstance(node, ast.If):
        return not (_loaded(node.test) & _stored(visible))
    return not ({n for s in hidden for n in _loaded(s)} & _stored(visible))


def _dedent(lines) -> str:
    return textwrap.dedent("\n".join(lines))


def one_statement_a_line(source: str) -> str:
    """`a; b` on one line becomes two lines with the same indentation (a trailing comment stays with b)."""
    lines = source.splitlines()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    rows = {}
    for node in ast.walk(tree):
        for block in (getattr(node, f, None) for f in ("body", "orelse", "finalbody")):
            if isinstance(block, list):
                for st in block:
                    if isinstance(st, ast.stmt) and st.lineno == st.end_lineno:
                        rows.setdefault(st.lineno, []).append(st)
    for line_no in sorted((n for n, sts in rows.items() if len(sts) > 1), reverse=True):
        sts = sorted(rows[line_no], key=lambda st: st.col_offset)
        line = lines[line_no - 1]
        raw = line.encode()                     # ast's column offsets count UTF-8 bytes
        indent = line[:len(line) - len(line.lstrip())]
        comment = raw[sts[-1].end_col_offset:].decode().strip().lstrip(";").strip()
        new = [indent + raw[st.col_offset:st.end_col_offset].decode() for st in sts]
        if comment:
            new[-1] += "  " + comment
        lines[line_no - 1:line_no] = new
    return "\n".join(lines)


def hide(path: Path) -> int:
    """Rewrite one notebook; return the number of cells split or tagged."""
    nb = nbformat.read(path, as_version=4)
    cells, changed = [], 0
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code" or HIDDEN & set(tags):
            cells.append(cell)
            continue
        try:
            source = one_statement_a_line(cell.source)
            body = ast.parse(source).body
        except SyntaxError:
            cells.append(cell)
            continue
        parts = split_block(body, source.splitlines())
        if parts is None:
            cells.append(cell)
            continue
        visible, hidden = ("\n".join(p) for p in parts)
        tag = "remove-input" if _prints(hidden) else "remove-cell"
        if visible.strip():
            cell.source = visible
            cells += [cell, nbformat.v4.new_code_cell(hidden, id=uuid.uuid4().hex[:8], metadata={"tags": [tag]})]
        else:
            cell.metadata["tags"] = [*tags, tag]
            cells.append(cell)
        changed += 1
    if changed:
        nb.cells = cells
        nbformat.write(nb, path)
    return changed


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(f"{arg}: {hide(Path(arg))} cells split or tagged")
