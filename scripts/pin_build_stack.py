"""Pin the site's build stack end to end: jupyter-book, the book's Sphinx extensions and everything they
require, at the versions installed in the environment that runs this script, written to
constraints/build.txt (which `make book`, `make test` and .ci/run install with).

Jupyter Book 1 is in maintenance and its dependencies are pinned only at the top by requirements.txt; a new
release of Sphinx, docutils, myst-parser or the theme could otherwise break a fresh build. After a deliberate
upgrade of the build environment, run `.venv/bin/python scripts/pin_build_stack.py`, build the site, and commit
the file; tests/test_build_stack.py checks that the environment still equals it."""
from __future__ import annotations

import importlib.metadata as metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

#: the build tools requirements.txt names; the file pins them and their whole dependency closure
ROOTS = ("jupyter-book", "myst-nb", "sphinx-exercise", "sphinxcontrib-bibtex")
CONSTRAINTS = Path(__file__).resolve().parents[1] / "constraints" / "build.txt"
HEADER = """\
# The site's build stack, pinned end to end: {roots}
# and every package they require, at the versions the site was built and tested with (Python 3.11).
# Written by scripts/pin_build_stack.py; tests/test_build_stack.py checks that the environment equals it.
"""


def closure(roots=ROOTS) -> dict[str, str]:
    """{canonical name: installed version} of `roots` and of everything they require here (extras left out)."""
    found: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        dist = metadata.distribution(name)
        found[name] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return found


def read(path: Path = CONSTRAINTS) -> dict[str, str]:
    """{canonical name: version} of a `name==version` constraints file (comments and blank lines skipped)."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def render(pins: dict[str, str]) -> str:
    return HEADER.format(roots=", ".join(ROOTS)) + "".join(f"{n}=={v}\n" for n, v in sorted(pins.items()))


if __name__ == "__main__":
    CONSTRAINTS.write_text(render(closure()))
    print(f"wrote {len(read())} pins to {CONSTRAINTS}")
