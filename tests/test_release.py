"""Install what the page was built from (issue 28): one version, written at build time into every notebook's
install cell and into the launch buttons, so that a page built at version X installs and opens version X."""
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import skiplessons
from scripts import stamp_version

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"


def test_one_version():
    """pyproject.toml reads the version from the library, the one place it is written."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "skiplessons.__version__"}
    assert stamp_version.version() == skiplessons.__version__


def test_the_committed_files_are_stamped():
    changed = stamp_version.stamp(check=True)
    assert not changed, f"not stamped with {stamp_version.tag(stamp_version.version())}: {changed}; run make book"


def _copy_one_page(tmp: Path, page: str, release: str) -> Path:
    """A book of one page, at version `release`, with the repository's configuration."""
    root = tmp / "book-root"
    (root / "book").mkdir(parents=True)
    (root / "src" / "skiplessons").mkdir(parents=True)
    for name in ("book/references.bib", f"book/{page}.ipynb"):
        shutil.copy(ROOT / name, root / name)
    config = (ROOT / "_config.yml").read_text()
    (root / "_config.yml").write_text(config.replace("execute_notebooks: force", "execute_notebooks: \"off\""))
    for folder in ("_vendor", "_ext"):                      # served files and the site's Sphinx extension
        shutil.copytree(ROOT / folder, root / folder)
    (root / "_toc.yml").write_text(f"format: jb-book\nroot: book/{page}\n")
    (root / "src" / "skiplessons" / "__init__.py").write_text(f'__version__ = "{release}"\n')
    return root


def test_stamping_writes_the_version_and_nothing_else(tmp_path):
    root = _copy_one_page(tmp_path, "status", "9.8.7")
    before = json.loads((root / "book" / "status.ipynb").read_text())["cells"]
    assert {p.name for p in stamp_version.stamp(root)} == {"_config.yml", "status.ipynb"}
    after = json.loads((root / "book" / "status.ipynb").read_text())["cells"]
    assert after[1:] == before[1:], "only the first cell is written"
    assert "".join(after[0]["source"]).endswith('git+https://github.com/skiplessons/skiplessons@v9.8.7"')
    assert stamp_version.stamp(root) == [], "a second stamp changes nothing"


@pytest.mark.skipif(not JUPYTER_BOOK.is_file(), reason="jupyter-book is not installed beside this Python")
def test_a_page_built_at_version_x_installs_and_opens_version_x(tmp_path):
    """Stamp and build (without executing) a one-page book at a version that is not the library's; the built
    page's launch buttons and the notebook the site serves both name that version's tag."""
    root = _copy_one_page(tmp_path, "status", "9.8.7")
    stamp_version.stamp(root)
    built = subprocess.run([str(JUPYTER_BOOK), "build", str(root)], capture_output=True, text=True, cwd=root,
                           env={"PATH": str(JUPYTER_BOOK.parent), "HOME": str(tmp_path)}, timeout=600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    html = (root / "_build" / "html" / "book" / "status.html").read_text()
    colab = re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', html)
    assert colab == ["https://colab.research.google.com/github/skiplessons/skiplessons/blob/v9.8.7/book/status.ipynb"]
    served = json.loads((root / "_build" / "html" / "_sources" / "book" / "status.ipynb").read_text())
    install = "".join(served["cells"][0]["source"]).splitlines()[-1]
    assert install.strip() == '%pip install -q "skiplessons @ git+https://github.com/skiplessons/skiplessons@v9.8.7"'
