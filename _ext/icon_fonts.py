"""The theme's icons without Font Awesome's 1.5 MB script: its own stylesheet draws them from font subsets.

pydata-sphinx-theme loads Font Awesome twice on every page: `scripts/fontawesome.js` (1.5 MB, every icon as an
SVG, so that a site can add icons of its own; this book adds none) and, through its stylesheet, the Font Awesome
webfonts (270 kB), whose rules already draw every `<i class="fa-...">` icon. After an HTML build this extension
drops the script from every page and writes `_static/icons/`: each Font Awesome font the stylesheet declares, cut
to the glyphs the site uses (the icon classes in the pages and in the theme's scripts, and every icon the
stylesheets name themselves, such as the admonitions'), and `icons.css`, whose `@font-face` rules come after the
theme's and so replace them. A page then loads a few kB of icons instead of 1.8 MB, offline as online.
On pages with widgets, the widget manager's Font Awesome 5 stylesheet also styles `.fas`/`.fab`; `icons.css`
keeps the theme's icons on these fonts with more specific rules (the script, drawing SVGs, had hidden that).
`tests/test_site.py` checks that every icon on every page is drawn from a glyph of the font served for it.
"""
from __future__ import annotations

import re
from pathlib import Path

from fontTools import subset

CSS = "icons.css"
FOLDER = "icons"
SCRIPT = re.compile(r'\s*<script\b[^>]*\bsrc="[^"<>{}]*_static/scripts/fontawesome\.js(?:\?[^"]*)?"[^>]*></script>')
FONT_FACE = re.compile(r"@font-face\s*\{([^}]*)\}")
#: the icon catalogue: `.fa-bars:before,.fa-navicon:before{content:"\f0c9"}`
CATALOGUE = re.compile(r'((?:\.fa-[\w-]+:{1,2}before,?)+)\s*\{\s*content:\s*"(\\[0-9a-fA-F]+|[^"\\])"\s*\}')
#: an icon a stylesheet names itself: a private-use character, escaped (`"\\f09b"`) or as it is
PRIVATE_USE = re.compile(r"\\([ef][0-9a-fA-F]{3})(?![0-9a-fA-F])|([\ue000-\uf8ff])")
CLASS_ATTR = re.compile(r'\bclass="([^"]*)"')
ICON_NAME = re.compile(r"\bfa-[a-z0-9-]+")
NOT_PAGES = {"_static", "_sources", "_images"}
#: the classes that choose each font, by its file's name (Font Awesome 6: `fa-solid` or the older `fas`, ...)
STYLE_CLASSES = {"fa-solid-900": ("fa-solid", "fas"), "fa-regular-400": ("fa-regular", "far"),
                 "fa-brands-400": ("fa-brands", "fab")}


def _descriptor(face: str, name: str) -> str | None:
    match = re.search(rf"{name}\s*:\s*([^;]+)", face)
    return match.group(1).strip() if match else None


def _codepoint(content: str) -> int:
    return int(content[1:], 16) if content.startswith("\\") else ord(content)


def _pages(outdir: Path) -> list[Path]:
    return [p for p in outdir.rglob("*.html") if not NOT_PAGES.intersection(p.relative_to(outdir).parts)]


def _used_codepoints(static: Path, pages: list[Path]) -> set[int]:
    """The icons that the pages, the theme's scripts and the stylesheets ask for, as codepoints."""
    catalogue, named = {}, set()
    for sheet in static.rglob("*.css"):
        if sheet.name == CSS:
            continue
        text = sheet.read_text(errors="replace")
        for selectors, content in CATALOGUE.findall(text):
            for name in re.findall(r"\.(fa-[\w-]+):", selectors):
                catalogue[name] = _codepoint(content)
        named |= {int(escaped, 16) if escaped else ord(char)
                  for escaped, char in PRIVATE_USE.findall(CATALOGUE.sub("", text))}
    classes = {name for page in pages for attr in CLASS_ATTR.findall(page.read_text(errors="replace"))
               for name in ICON_NAME.findall(attr)}
    classes |= {name for script in (static / "scripts").glob("*.js") if script.name != "fontawesome.js"
                for name in ICON_NAME.findall(script.read_text(errors="replace"))}
    return named | {catalogue[name] for name in classes if name in catalogue}


def _write_fonts(static: Path, codepoints: set[int]) -> list[str]:
    """Each Font Awesome face of the theme's stylesheets, cut to `codepoints`, as WOFF; its @font-face rule."""
    rules = []
    options = subset.Options()
    options.flavor = "woff"  # zlib: fontTools writes it without brotli
    (static / FOLDER).mkdir(exist_ok=True)
    for sheet in sorted(static.rglob("*.css")):
        for face in FONT_FACE.findall(sheet.read_text(errors="replace")):
            family = _descriptor(face, "font-family")
            source = re.search(r'url\(["\']?([^)"\']+\.ttf)["\']?\)', face)
            if not (family and "Font Awesome" in family.replace("\\", "") and source):
                continue
            font = subset.load_font(str((sheet.parent / source.group(1)).resolve()), options)
            subsetter = subset.Subsetter(options)
            subsetter.populate(unicodes=codepoints)
            subsetter.subset(font)
            stem = Path(source.group(1)).stem
            subset.save_font(font, str(static / FOLDER / f"{stem}.woff"), options)
            weight = _descriptor(face, "font-weight") or "400"
            rules.append("@font-face{font-family:%s;font-style:%s;font-weight:%s;font-display:block;"
                         'src:url(%s/%s.woff) format("woff")}'
                         % (family, _descriptor(face, "font-style") or "normal", weight, FOLDER, stem))
            rules += ["html .%s{font-family:%s;font-weight:%s}" % (style, family, weight)
                      for style in STYLE_CLASSES.get(stem, ())]
    return rules


def _finish(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    static = outdir / "_static"
    pages = _pages(outdir)
    for page in pages:
        text = page.read_text()
        if SCRIPT.search(text):
            page.write_text(SCRIPT.sub("", text, count=1))
    rules = _write_fonts(static, _used_codepoints(static, pages))
    (static / CSS).write_text("/* Font Awesome cut to the icons this site uses (_ext/icon_fonts.py) */\n"
                              + "\n".join(rules) + "\n")


def setup(app):
    app.add_css_file(CSS)
    app.connect("build-finished", _finish)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
