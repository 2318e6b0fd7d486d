"""`_ext/icon_fonts.py` on a made-up build with the theme's real stylesheet and fonts: Font Awesome's script
dropped from the pages, each font cut to the icons the pages, the theme's scripts and the stylesheet use.
(The browser test of the built site, `tests/test_site.py::test_icons_drawn`, checks the icons as drawn.)"""
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from fontTools.ttLib import TTFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
import icon_fonts  # noqa: E402

theme = pytest.importorskip("pydata_sphinx_theme", reason="the site's theme is not installed")
THEME_STATIC = Path(theme.__file__).parent / "theme" / "pydata_sphinx_theme" / "static"
STYLESHEET = "styles/pydata-sphinx-theme.css"
BARS, XMARK, ROCKET, GITHUB, INFO_CIRCLE = 0xF0C9, 0xF00D, 0xF135, 0xF09B, 0xF05A
PAGE = """<html><head>
  <script defer src="../_static/scripts/fontawesome.js?digest=55c26ed414f5f8a31ebb"></script>
  <script src="../_static/doctools.js"></script>
</head><body><i class="fa-solid fa-bars"></i><i class="fab fa-github"></i></body></html>"""


@pytest.fixture
def build(tmp_path):
    """An HTML build: one page using two icons, a theme script naming a third, and the theme's stylesheet
    (whose admonitions name their own) with its Font Awesome fonts."""
    static = tmp_path / "_static"
    (static / "styles").mkdir(parents=True)
    shutil.copy(THEME_STATIC / STYLESHEET, static / STYLESHEET)
    shutil.copytree(THEME_STATIC / "vendor", static / "vendor")
    (static / "scripts").mkdir()
    (static / "scripts" / "theme.js").write_text('button.classList.add("fa-solid", "fa-xmark");')
    (static / "scripts" / "fontawesome.js").write_text('var every = "fa-rocket";')  # the script dropped
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "page.html").write_text(PAGE)
    return tmp_path


def _finish(outdir: Path) -> None:
    icon_fonts._finish(SimpleNamespace(builder=SimpleNamespace(format="html"), outdir=str(outdir)), None)


def _cmap(static: Path, name: str) -> set[int]:
    return set(TTFont(static / icon_fonts.FOLDER / name).getBestCmap())


def test_script_dropped_and_fonts_cut_to_the_icons_used(build):
    _finish(build)
    page = (build / "book" / "page.html").read_text()
    assert "fontawesome.js" not in page and "doctools.js" in page, "only Font Awesome's script is dropped"
    static = build / "_static"
    solid = _cmap(static, "fa-solid-900.woff")
    assert {BARS, XMARK, INFO_CIRCLE} <= solid, "the page's, the script's and the stylesheet's icons are kept"
    assert ROCKET not in solid, "an icon nothing uses is cut"
    assert GITHUB in _cmap(static, "fa-brands-400.woff")
    assert (static / icon_fonts.FOLDER / "fa-solid-900.woff").stat().st_size < 20_000
    css = (static / icon_fonts.CSS).read_text()
    assert css.count("@font-face") == 3 and "fa-brands-400.woff" in css and "font-weight:900" in css
    assert r"html .fab{font-family:Font Awesome\ 6 Brands;font-weight:400}" in css, \
        "the theme's icons keep its fonts where the widget manager's Font Awesome 5 stylesheet also styles .fab"


def test_a_second_build_writes_the_same(build):
    _finish(build)
    first = {p.name: p.read_bytes() for p in (build / "_static" / icon_fonts.FOLDER).iterdir()}
    _finish(build)
    assert first == {p.name: p.read_bytes() for p in (build / "_static" / icon_fonts.FOLDER).iterdir()}


def test_other_builders_untouched(build):
    icon_fonts._finish(SimpleNamespace(builder=SimpleNamespace(format="latex"), outdir=str(build)), None)
    assert "fontawesome.js" in (build / "book" / "page.html").read_text()
    assert not (build / "_static" / icon_fonts.CSS).exists()
