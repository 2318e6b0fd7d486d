"""Write the book's version into what a reader of a built page installs and opens (issue 28).

The version is the library's, `__version__` in src/skiplessons/__init__.py (pyproject.toml reads it there);
its git tag is `v<version>` (CONTRIBUTING.md, "Releasing"). Stamping writes that tag into the hidden first
cell of every notebook in book/ (`%pip install "skiplessons @ git+<repository>@v<version>"`) and into
`_config.yml`'s `repository.branch`, which the launch buttons open (`.../blob/v<version>/book/...`). `make
book` runs it before building, so a page built at version X installs and opens version X. Files already
stamped are left untouched. `--check` writes nothing and fails when a file is not stamped.

    .venv/bin/python scripts/stamp_version.py [--check]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
VERSION = re.compile(r'^__version__ = "([^"]+)"$', re.M)
BRANCH = re.compile(r"^(repository:\n(?:[ #].*\n)*?  branch: ).*$", re.M)


def version(root: Path = ROOT) -> str:
    """The library's version, as src/skiplessons/__init__.py declares it."""
    found = VERSION.search((root / "src" / "skiplessons" / "__init__.py").read_text())
    if not found:
        raise SystemExit("stamp_version: no `__version__ = \"...\"` line in src/skiplessons/__init__.py")
    return found.group(1)


def tag(release: str) -> str:
    """The git tag of a release: `v` and its version."""
    return f"v{release}"


def setup_cell(url: str, ref: str) -> str:
    """The hidden first cell of every notebook: installs the library at `ref` of the repository at `url` when
    the kernel lacks it (Colab, a fresh Jupyter), never torch (Colab ships it)."""
    return (
        "# Colab and fresh kernels: when skiplessons is missing, install the release this page was built from\n"
        "# (never torch: Colab has it).\n"
        "try:\n"
        "    import skiplessons\n"
        "except ImportError:\n"
        f'    %pip install -q "skiplessons @ git+{url.rstrip("/")}@{ref}"'
    )


def _stamp_config(path: Path, ref: str) -> str:
    text = path.read_text()
    if not BRANCH.search(text):
        raise SystemExit(f"stamp_version: no `branch:` under `repository:` in {path}")
    return BRANCH.sub(lambda m: m.group(1) + ref, text, count=1)


def _stamp_notebook(path: Path, cell: str) -> str:
    nb = json.loads(path.read_text())
    first = nb["cells"][0]
    if first["cell_type"] != "code":
        raise SystemExit(f"stamp_version: the first cell of {path} is not the setup code cell")
    first["source"] = cell.splitlines(keepends=True)
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def stamp(root: Path = ROOT, check: bool = False) -> list[Path]:
    """Stamp `root`'s notebooks and `_config.yml` with the tag of its version; the files that were (with
    `check`, that would be) changed."""
    ref = tag(version(root))
    config = root / "_config.yml"
    new = {config: _stamp_config(config, ref)}
    cell = setup_cell(yaml.safe_load(new[config])["repository"]["url"], ref)
    new.update({nb: _stamp_notebook(nb, cell) for nb in sorted((root / "book").glob("*.ipynb"))})
    changed = [path for path, text in new.items() if path.read_text() != text]
    if not check:
        for path in changed:
            path.write_text(new[path])
    return changed


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="write nothing; fail when a file is not stamped")
    args = ap.parse_args()
    changed = stamp(check=args.check)
    names = ", ".join(p.relative_to(ROOT).as_posix() for p in changed) or "nothing"
    print(f"stamp_version: {tag(version())}: {'not stamped' if args.check else 'stamped'}: {names}")
    sys.exit(1 if args.check and changed else 0)
