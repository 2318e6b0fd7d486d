"""The built site as a reader meets it, in a real browser (issue 8, items 4-6).

Headless Chromium (Debian's `chromium` + `chromium-driver`, driven by Selenium; nothing here downloads
a browser) opens every page of `_build/html` in one session and checks that it loads with no missing
local resource, that notebook figures are images that decoded, that no cell output shows a traceback or
an error class, that every internal link and anchor resolves, that each notebook page's Colab button
opens that `.ipynb` on the repository and branch of `_config.yml`, that math is there as MathJax source,
and that exercise solutions are folded (and unfold on a click) and were executed. Starting from
`index.html`, the "next" links walk the table of contents in order. A screenshot of each page goes to
`_build/screenshots/<page>.png`; `_build/screenshots/report.json` records what failed to load from
outside (recorded here, not a failure: the offline tests below are the ones that fail on it).

With the network off (issue 16): no page loads a script or stylesheet from another host, and every page with
math, opened in a Chromium whose requests off the machine are all refused (served from 127.0.0.1, and opened
from disk as `file://`), has MathJax (served from `_static/mathjax`) typeset every formula with its fonts,
and asked no other host for anything.

The site is served by `http.server` on 127.0.0.1 (a free port) rather than opened as `file://`:
that is how readers get it (a web host), directories resolve to `index.html`, scripts run with a real
origin, and the server sees every request, so a missing local file is caught exactly.

Skipped, with the reason, when Chromium, chromedriver or `_build/html/index.html` is missing.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest
from fontTools.ttLib import TTFont
from test_notebooks import CONFIG, ROOT, TOC, chapter_numbers, toc_entries

from scripts.site_report import (ABS_PATH, CHROMEDRIVER, CHROMIUM, COLLECT_JS, FIGURE_SCALES_JS, FLAGS, RAW_TABLE,
                                 REDIRECT, REPR, Server, chromium, local_path, page_paths, screenshot, weight)

HTML = ROOT / "_build" / "html"
EXECUTED = ROOT / "_build" / "jupyter_execute"
SHOTS = ROOT / "_build" / "screenshots"
WINDOW, PHONE = (1280, 1000), (400, 900)
PAGE_OVERFLOW_JS = "return document.documentElement.scrollWidth - document.documentElement.clientWidth;"
#: an error shown in an output: a traceback, or a line that starts with an exception's name and its message (not
#: the name inside printed source code, such as `raise ValueError(...)`)
ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|^\s*[A-Z]\w*(?:Error|Exception): ", re.MULTILINE)
MATH_SOURCE = re.compile(r"\\\(.*\\\)|\\\[.*\\\]|\\begin\{(\w+\*?)\}.*\\end\{\1\}", re.DOTALL)
IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
HIDDEN_OUTPUT_TAGS = {"remove-output", "remove-cell"}

_NEEDS = {
    CHROMIUM: "no Chromium: `apt-get install -y chromium chromium-driver`",
    CHROMEDRIVER: "no chromedriver: `apt-get install -y chromium-driver`",
    HTML / "index.html": "no built site: run `make book` first",
}
_missing = [f"{hint} ({path} is missing)" for path, hint in _NEEDS.items() if not path.exists()]
pytestmark = pytest.mark.skipif(bool(_missing), reason="; ".join(_missing))

@dataclass
class Page:
    """What the browser saw on one page."""

    path: str  # relative to _build/html, e.g. "book/intro.html"
    info: dict
    js_errors: list[str] = field(default_factory=list)
    external_failures: list[str] = field(default_factory=list)
    solutions_open: list[bool] = field(default_factory=list)  # after clicking each solution's title
    solutions_visible_before: list[bool] = field(default_factory=list)  # body visible before the click
    phone_figures: list[dict] = field(default_factory=list)  # FIGURE_SCALES_JS in a window PHONE wide
    phone_overflow: int = 0  # px by which the page is wider than a window PHONE wide
    screenshot: Path | None = None

    @property
    def docname(self) -> str:
        return self.path.removesuffix(".html")


def _shot_name(path: str) -> str:
    return path.removesuffix(".html").replace("/", "-") + ".png"


def _unfold_solutions(driver) -> tuple[list[bool], list[bool]]:
    """For each solution: was its body visible before, and is it visible after clicking its title?"""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    before, after = [], []
    for solution in driver.find_elements(By.CSS_SELECTOR, "div.solution"):
        body = solution.find_elements(By.CSS_SELECTOR, ":scope > :not(.admonition-title)")
        before.append(any(b.is_displayed() for b in body))
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", solution)
        solution.find_element(By.CSS_SELECTOR, ".admonition-title").click()
        try:
            WebDriverWait(driver, 3).until(lambda _: body and all(b.is_displayed() for b in body))
            after.append(True)
        except TimeoutException:  # the body stayed hidden
            after.append(False)
    return before, after


def _classify_log(entries: list[dict], base: str) -> tuple[list[str], list[str]]:
    """Split the browser log into this site's errors (thrown, logged with `console.error`, or a failed local
    load) and failed loads from elsewhere."""
    js_errors, external = [], []
    for entry in entries:
        message = entry["message"]
        if message.startswith(base + "favicon.ico"):  # the browser asks for it by itself; Sphinx makes none
            continue
        if entry["source"] == "network":
            (js_errors if message.startswith(base) else external).append(message)
        elif entry["source"] == "javascript" or entry["level"] == "SEVERE":  # thrown, or console.error
            js_errors.append(message)
    return js_errors, sorted(set(external))


def _chromium(flags, logs: dict, script_timeout: int = 30):
    """`site_report.chromium`, or the test skipped when selenium is missing."""
    pytest.importorskip("selenium", reason="selenium is not installed")
    return chromium(flags, logs, script_timeout)


@pytest.fixture(scope="module")
def site():
    """Visit `index.html` and then every page once in one browser; return what was seen."""
    pytest.importorskip("selenium", reason="selenium is not installed")
    from selenium.webdriver.support.ui import WebDriverWait

    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    with Server(HTML) as server:
        base = server.base
        driver, profile = _chromium(FLAGS, {"browser": "ALL"})
        try:
            driver.get(base + "index.html")
            if REDIRECT.search((HTML / "index.html").read_text(errors="replace")):
                WebDriverWait(driver, 10).until(
                    lambda d: not d.current_url.endswith("/index.html")
                    and d.execute_script("return document.readyState") == "complete"
                )
            landing = driver.execute_async_script(COLLECT_JS)
            driver.get_log("browser")  # drop the landing's log: the root page is checked again below
            pages = {}
            for path in page_paths(HTML):
                driver.get(base + path)
                info = driver.execute_async_script(COLLECT_JS)
                page = Page(path, info)
                page.screenshot = SHOTS / _shot_name(path)
                screenshot(driver, page.screenshot)
                page.solutions_visible_before, page.solutions_open = _unfold_solutions(driver)
                driver.set_window_size(*PHONE)
                page.phone_figures = driver.execute_script(FIGURE_SCALES_JS)
                page.phone_overflow = driver.execute_script(PAGE_OVERFLOW_JS)
                driver.set_window_size(*WINDOW)
                page.js_errors, page.external_failures = _classify_log(driver.get_log("browser"), base)
                pages[path] = page
        finally:
            driver.quit()
            profile.cleanup()
    report = {
        "pages": {p.path: {"screenshot": p.screenshot.name, "external_failures": p.external_failures} for p in pages.values()},
        "external_failures": sorted({f for p in pages.values() for f in p.external_failures}),
        "local_failures": server.failed,
    }
    (SHOTS / "report.json").write_text(json.dumps(report, indent=1))
    return {"base": base, "landing": landing, "pages": pages, "failed": server.failed}


def _toc_docs() -> list[str]:
    return [str(Path(e).with_suffix("")) for e in toc_entries(TOC)]


def _notebook_pages(site) -> list[Page]:
    return [p for p in site["pages"].values() if (ROOT / f"{p.docname}.ipynb").exists()]


@functools.cache
def _ids_in(file: Path) -> frozenset[str]:
    return frozenset(re.findall(r'\s(?:id|name)="([^"]+)"', file.read_text(errors="replace")))


def _expected_images(docname: str) -> tuple[int, list[str]]:
    """Image outputs shown on the page, and the names of the myst-nb figures, from the executed notebook."""
    nb = nbformat.read(EXECUTED / f"{docname}.ipynb", as_version=4)
    shown = [c for c in nb.cells if c.cell_type == "code" and not HIDDEN_OUTPUT_TAGS & set(c.metadata.get("tags", []))]
    count = sum(1 for c in shown for o in c.get("outputs", []) if any(m in o.get("data", {}) for m in IMAGE_MIMES))
    names = [c.metadata["mystnb"]["figure"]["name"] for c in shown if "name" in c.metadata.get("mystnb", {}).get("figure", {})]
    return count, names


def test_every_toc_page_was_built(site):
    built = {p.docname for p in site["pages"].values()}
    missing = [d for d in _toc_docs() if d not in built]
    assert not missing, f"pages in _toc.yml with no HTML: {missing}"


def test_pages_load(site):
    assert not site["failed"], f"local requests that failed (path, status): {site['failed']}"
    broken = [p.path for p in site["pages"].values() if p.info["ready"] != "complete" or not p.info["title"]]
    assert not broken, f"pages that did not finish loading or have no title: {broken}"
    empty = [p.path for p in site["pages"].values() if not p.info["main_text"]]
    assert not empty, f"pages whose main content is empty: {empty}"
    errors = {p.path: p.js_errors for p in site["pages"].values() if p.js_errors}
    assert not errors, f"script errors or failed local loads: {errors}"


def test_index_walks_the_toc_in_order(site):
    """Open the index, then follow "next" through the book: the pages of `_toc.yml`, in order."""
    docs = _toc_docs()
    pages = {p.docname: p for p in site["pages"].values()}
    landing = local_path(site["landing"]["url"], site["base"]).removesuffix(".html")
    assert landing == docs[0], f"index.html lands on {landing}, not the toc root {docs[0]}"
    walked, doc = [], landing
    while doc and doc not in walked:
        walked.append(doc)
        nxt = pages[doc].info["next"]
        doc = local_path(nxt, site["base"]).removesuffix(".html") if nxt else None
    assert walked == docs, f"'next' links visit {walked}, the toc says {docs}"
    nav = {local_path(u, site["base"]).removesuffix(".html") for u in pages[docs[0]].info["nav"]}
    assert set(docs) <= nav, f"sidebar lacks {sorted(set(docs) - nav)}"


def test_internal_links_resolve(site):
    bad = []
    for page in site["pages"].values():
        for url in page.info["links"]:
            if not url.startswith(site["base"]):
                continue
            target = HTML / local_path(url, site["base"])
            fragment = unquote(urlparse(url).fragment)
            if not target.is_file():
                bad.append((page.path, url, "no such file"))
            elif fragment and target.suffix == ".html" and fragment not in _ids_in(target):
                bad.append((page.path, url, "no such anchor"))
    assert not bad, f"broken internal links: {bad}"


def test_images_decoded(site):
    bad = [(p.path, i["src"]) for p in site["pages"].values() for i in p.info["images"] if not (i["width"] and i["height"])]
    assert not bad, f"images that did not decode: {bad}"


def test_notebook_figures_present(site):
    """Every image output and every captioned figure of the executed notebook is on its page."""
    problems = []
    for page in _notebook_pages(site):
        count, names = _expected_images(page.docname)
        shown = [i for i in page.info["images"] if i["output"] and i["width"]]
        if len(shown) < count:
            problems.append(f"{page.path}: {len(shown)} decoded output images, the notebook made {count}")
        figures = {i["figure"] for i in shown}
        problems += [f"{page.path}: figure {n} has no decoded image" for n in names if n not in figures]
    assert not problems, "\n".join(problems)


def test_no_errors_in_outputs(site):
    bad = {}
    for page in site["pages"].values():
        hits = [m.group(0) for text in page.info["outputs"] for m in ERROR_TEXT.finditer(text)]
        if hits or page.info["error_outputs"]:
            bad[page.path] = hits or ["error output block"]
    assert not bad, f"cell outputs showing errors: {bad}"


def test_colab_links(site):
    repo = CONFIG["repository"]
    org_repo = urlparse(repo["url"]).path.strip("/")
    book = repo.get("path_to_book", "").strip("/")
    prefix = f"{book}/" if book else ""
    colab = CONFIG["launch_buttons"]["colab_url"].rstrip("/")
    notebooks = _notebook_pages(site)
    assert notebooks, "no page of the site was built from a notebook"
    bad = []
    for page in notebooks:
        expected = f"{colab}/github/{org_repo}/blob/{repo['branch']}/{prefix}{page.docname}.ipynb"
        if expected not in page.info["colab"] or not (ROOT / f"{prefix}{page.docname}.ipynb").is_file():
            bad.append((page.path, page.info["colab"], expected))
    assert not bad, f"pages without the right Colab link (page, found, expected): {bad}"


def test_math_is_mathjax_source(site):
    with_math = [p for p in site["pages"].values() if p.info["math"]]
    assert with_math, "no page of the site contains math"
    bad = []
    for page in with_math:
        if not page.info["mathjax_script"]:
            bad.append((page.path, "no MathJax script"))
        elif not page.info["mathjax_rendered"]:
            bad += [(page.path, m) for m in page.info["math"] if not MATH_SOURCE.fullmatch(m)]
    assert not bad, f"math that MathJax could not typeset: {bad}"


def test_solutions_folded_and_executed(site):
    problems = []
    for page in site["pages"].values():
        info = page.info
        if not (info["exercises"] or info["solutions"]):
            continue
        answered = {t for s in info["solutions"] for t in s["targets"]}
        problems += [f"{page.path}: exercise {e} has no solution" for e in info["exercises"] if e not in answered]
        for s, visible, opened in zip(info["solutions"], page.solutions_visible_before, page.solutions_open):
            if not (s["dropdown"] and s["hidden"]) or visible:
                problems.append(f"{page.path}: solution {s['id']} is not folded")
            if not opened:
                problems.append(f"{page.path}: solution {s['id']} does not unfold on a click")
            if s["cells"] and not s["outputs"]:
                problems.append(f"{page.path}: solution {s['id']} has code but no output (not executed?)")
    assert not problems, "\n".join(problems)


#: bytes: a chapter without widgets, everything it loads, raw (the site is also read from disk, uncompressed)
MAX_WEIGHT = 3 * 2**20
WIDGET_BUNDLE = "widgets/embed-amd.js"
#: a figure shows at least this fraction of its pixels
MIN_FIGURE_SCALE = 0.8


def test_tables_render(site):
    """No page shows a markdown table as pipe text (notebook outputs render as MyST: `_config.yml`)."""
    bad = {p.path: RAW_TABLE.findall(p.info["prose"])[:2] for p in site["pages"].values()
           if RAW_TABLE.search(p.info["prose"])}
    assert not bad, f"pages with raw pipe tables: {bad}"


def test_no_reprs_or_paths(site):
    """No page's prose or output shows a Python repr or an absolute path of the machine that built it."""
    bad = {p.path: (REPR.findall(p.info["prose"]) + ABS_PATH.findall(p.info["prose"]))[:3]
           for p in site["pages"].values() if REPR.search(p.info["prose"]) or ABS_PATH.search(p.info["prose"])}
    assert not bad, f"reprs or absolute paths on pages: {bad}"


def test_sidebar_numbers_chapters(site):
    """The sidebar names every chapter with its number, as the prose cites it ("chapter III.2")."""
    numbers = chapter_numbers(TOC)
    root = site["pages"][f"{_toc_docs()[0]}.html"]
    shown = {local_path(href, site["base"]).removesuffix(".html"): text for href, text in root.info["nav_text"]}
    bad = [(doc, shown.get(doc)) for doc, n in numbers.items() if not (shown.get(doc) or "").startswith(f"{n} ")]
    assert not bad, f"sidebar entries without their chapter number (page, text): {bad}"


def test_no_widget_bundle_without_widgets(site):
    """Pages with no live widget load no widget manager, and weigh under 3 MB with everything they load (the
    browser's own list of what it loaded: page, scripts, stylesheets, fonts, images), counted raw."""
    plain = [p for p in _notebook_pages(site) if WIDGET_VIEW not in (HTML / p.path).read_text(errors="replace")]
    assert plain, "every notebook page holds a widget: nothing to check"
    bundled = [p.path for p in plain if any(WIDGET_BUNDLE in s for s in p.info["scripts"])]
    assert not bundled, f"pages without widgets that load the widget bundle: {bundled}"
    weights = {p.path: weight(p.info["loaded"], site["base"], HTML)[0] for p in plain}
    heavy = {path: f"{w / 2**20:.1f} MB" for path, w in weights.items() if w > MAX_WEIGHT}
    assert not heavy, f"pages without widgets heavier than {MAX_WEIGHT / 2**20:.0f} MB: {heavy}"
    assert all(weights.values()), "the browser reported no resources loaded"


#: what Font Awesome's own files are called: the theme's script and its full fonts, which no page should load
FONT_AWESOME_FILES = re.compile(r"/scripts/fontawesome\.js|/vendor/fontawesome/")
ICON_CSS = HTML / "_static" / "icons.css"


def _served_icon_glyphs() -> dict[tuple[str, str], set[int]]:
    """(font family, weight) -> the codepoints of the font the site serves for it, from `_static/icons.css`
    (`_ext/icon_fonts.py`, the last @font-face rules of each page)."""
    glyphs = {}
    for face in re.findall(r"@font-face\{([^}]*)\}", ICON_CSS.read_text()):
        family = re.search(r"font-family:([^;]+)", face).group(1).replace("\\", "").strip("\"' ")
        font = TTFont(ICON_CSS.parent / re.search(r"url\(([^)]+)\)", face).group(1))
        glyphs[(family, re.search(r"font-weight:(\w+)", face).group(1))] = set(font.getBestCmap())
    return glyphs


def test_icons_drawn(site):
    """Every icon on every page (the theme's header, sidebar and admonitions) is drawn from a glyph of the Font
    Awesome font the site serves for it, cut to the icons the site uses, also on pages whose widget manager
    brings Font Awesome 5's stylesheet; no icon font failed to load, and no page loads Font Awesome's script or
    its full fonts (1.8 MB that drew the same icons)."""
    assert ICON_CSS.is_file(), f"{ICON_CSS} is missing: the build did not run _ext/icon_fonts.py"
    served = _served_icon_glyphs()
    problems = []
    for page in site["pages"].values():
        if not page.info["icons"]:
            problems.append(f"{page.path}: no icon at all")
        for icon in page.info["icons"]:
            key = (icon["family"].split(",")[0].strip("\"' "), icon["weight"])
            char = icon["content"].strip('"')
            if len(char) != 1 or ord(char) not in served.get(key, ()):
                problems.append(f"{page.path}: icon {icon['cls']!r} ({icon['content']!r} in {key}) has no glyph")
        failed = [f for f in page.info["icon_fonts"] if f[2] == "error"]
        loaded = [u for u in page.info["loaded"] if FONT_AWESOME_FILES.search(u)]
        if failed or loaded:
            problems.append(f"{page.path}: icon fonts that failed {failed}, Font Awesome files loaded {loaded}")
    assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize("window", ["desktop", "phone"])
def test_figures_shown_near_their_size(site, window):
    """Every figure is drawn at no less than MIN_FIGURE_SCALE of its pixels, in a 1,280 px window and in a 400 px
    one (where it scrolls sideways), so its text reads at about the size the house style sets: a wide figure
    shrunk to the column reads smaller."""
    bad = [(p.path, f["src"].rsplit("/", 1)[-1], f"{f['shown'] / f['natural']:.2f}")
           for p in site["pages"].values() for f in (p.info["figures"] if window == "desktop" else p.phone_figures)
           if f["natural"] and f["shown"] / f["natural"] < MIN_FIGURE_SCALE]
    assert not bad, f"figures shown below {MIN_FIGURE_SCALE:.0%} of their size (page, image, scale): {bad}"


def test_pages_fit_a_phone(site):
    """In a 400 px window no page is wider than the window: wide figures, tables and code scroll inside their own
    box (`_ext/static/skiplessons.css`), so the header, the prose and the navigation stay in view."""
    bad = {p.path: f"{p.phone_overflow} px" for p in site["pages"].values() if p.phone_overflow > 0}
    assert not bad, f"pages wider than a {PHONE[0]} px window: {bad}"


def test_screenshots_saved(site):
    missing = [p.path for p in site["pages"].values() if not (p.screenshot.is_file() and p.screenshot.stat().st_size > 1000)]
    assert not missing, f"no screenshot for {missing}"
    print(f"\nscreenshots of {len(site['pages'])} pages in {SHOTS}")
    external = sorted({f for p in site["pages"].values() for f in p.external_failures})
    if external:
        print("resources from elsewhere that did not load (expected with no network):")
        print("\n".join(f"  {f}" for f in external))


# ---------------------------------------------------------------------------------------------------------------
# The site with the network off (issue 16, item 7): a reader who opens the built pages from disk, or on a host
# with no outside access, still gets typeset formulas and the notebooks' widgets, because MathJax and the
# widget manager are served from the site (`_vendor/`, copied into `_static/`).

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# Every request that is not to the loopback goes to a proxy that is not there (Chromium bypasses the proxy
# for loopback), and no host name resolves: the browser is as good as offline whatever the machine's network.
OFFLINE_FLAGS = ("--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1")
MATH_IN_HTML = re.compile(r'class="[^"]*\bmath\b')
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\\begin\{")

# After the page loaded: wait for MathJax to finish typesetting (if it loaded at all), for its fonts, and for
# the widget manager to draw every embedded widget view (if the page has any); then report what a reader sees.
OFFLINE_JS = """
const done = arguments[arguments.length - 1];
const q = s => Array.from(document.querySelectorAll(s));
const views = q('script[type="%s"]').length;
const startup = window.MathJax && window.MathJax.startup;
const typeset = startup && startup.promise ? startup.promise.then(() => 'typeset', e => 'failed: ' + e)
                                           : Promise.resolve('did not load');
const drawn = () => q('.widget-subarea').filter(w => w.children.length).length;
const widgets = new Promise(r => { const poll = () => (drawn() >= views ? r() : setTimeout(poll, 100)); poll(); });
const late = new Promise(r => setTimeout(r, 20000));
Promise.all([Promise.race([typeset, late.then(() => 'timed out')]), Promise.race([widgets, late])])
  .then(([state]) => document.fonts.ready.then(() => {
    const math = q('span.math, div.math');
    const left = m => { const c = m.cloneNode(true); c.querySelectorAll('mjx-container').forEach(x => x.remove());
                        return c.textContent.trim(); };
    done({
      state: state,
      math: math.length,
      typeset: math.filter(m => m.querySelector('mjx-container')).length,
      raw: math.map(left).filter(t => t),
      errors: q('mjx-merror').length,
      fonts: Array.from(document.fonts).filter(f => /^MJX/.test(f.family)).map(f => [f.family, f.status]),
      views: views,
      drawn: drawn(),
      widget_errors: q('.widget-subarea').filter(w => /Error displaying widget/.test(w.textContent)).length,
    });
  }));
""" % WIDGET_VIEW


def _offline_pages() -> list[str]:
    """The pages of the build that hold math (MathJax's input) or embedded widgets, from their HTML."""
    return [p for p in page_paths(HTML)
            if MATH_IN_HTML.search(text := (HTML / p).read_text(errors="replace")) or WIDGET_VIEW in text]


def _requests(performance_log: list[dict]) -> list[str]:
    """Every URL the browser asked for, from chromedriver's performance log (DevTools network events)."""
    urls = []
    for entry in performance_log:
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _external(url: str) -> bool:
    parts = urlparse(url)
    return parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOOPBACK


def visit_offline(urls: dict[str, str]) -> dict[str, dict]:
    """Open each URL (page -> url) in one headless Chromium with the network off; per page: what `OFFLINE_JS`
    saw, the external requests the page attempted, every request's count, and the loads that failed."""
    driver, profile = _chromium(FLAGS + OFFLINE_FLAGS, {"browser": "ALL", "performance": "ALL"}, script_timeout=40)
    seen = {}
    try:
        for page, url in urls.items():
            driver.get(url)
            info = driver.execute_async_script(OFFLINE_JS)
            requested = _requests(driver.get_log("performance"))
            log = driver.get_log("browser")
            failed = [e["message"] for e in log if e["source"] == "network"   # the browser asks for a favicon itself
                      and not e["message"].split(" ", 1)[0].endswith("/favicon.ico")]
            js_errors = [e["message"] for e in log if e["source"] == "javascript" or (
                e["level"] == "SEVERE" and e["source"] != "network")]
            seen[page] = {**info, "external": sorted({u for u in requested if _external(u)}),
                          "requested": len(requested), "failed": failed, "js_errors": js_errors}
    finally:
        driver.quit()
        profile.cleanup()
    return seen


def _offline_problems(seen: dict[str, dict]) -> list[str]:
    """What a reader without a network would miss on each page, in words; empty when nothing."""
    problems = []
    for page, info in seen.items():
        if info["external"]:
            problems.append(f"{page}: asked the network for {info['external']}")
        if info["failed"] or info["js_errors"]:
            problems.append(f"{page}: failed loads {info['failed']}, script errors {info['js_errors']}")
        if info["math"]:
            if info["state"] != "typeset":
                problems.append(f"{page}: MathJax {info['state']}")
            if info["typeset"] < info["math"]:
                problems.append(f"{page}: {info['math'] - info['typeset']} of {info['math']} formulas not typeset")
            raw = [t[:60] for t in info["raw"] if RAW_TEX.search(t)]
            if raw:
                problems.append(f"{page}: {len(raw)} formulas shown as TeX, e.g. {raw[:2]}")
            if info["errors"]:
                problems.append(f"{page}: {info['errors']} MathJax errors (mjx-merror)")
            bad_fonts = sorted({family for family, status in info["fonts"] if status == "error"})
            if bad_fonts or not any(status == "loaded" for _, status in info["fonts"]):
                problems.append(f"{page}: MathJax fonts did not load (failed: {bad_fonts})")
        if info["drawn"] < info["views"] or info["widget_errors"]:
            problems.append(f"{page}: {info['drawn']} of {info['views']} widgets drawn, "
                            f"{info['widget_errors']} show an error")
    return problems


@pytest.fixture(scope="module")
def offline_pages():
    pages = _offline_pages()
    assert any(MATH_IN_HTML.search((HTML / p).read_text(errors="replace")) for p in pages), "no page holds math"
    return pages


def test_built_pages_load_nothing_from_elsewhere():
    """No page of the build loads a script or a stylesheet from another host (MathJax, the widget manager:
    all from `_static`)."""
    tag = re.compile(r"<(script|link)\b[^>]*?\b(?:src|href)=\"((?:https?:)?//[^\"]+)\"[^>]*>", re.IGNORECASE)
    bad = {}
    for path in page_paths(HTML):
        for match in tag.finditer((HTML / path).read_text(errors="replace")):
            if match.group(1).lower() == "link" and not re.search(r'rel="(?:stylesheet|preload|modulepreload)"',
                                                                  match.group(0)):
                continue  # a canonical or alternate link names an address; it loads nothing
            bad.setdefault(path, []).append(match.group(2))
    assert not bad, f"pages that load scripts or stylesheets from elsewhere: {bad}"


@pytest.mark.parametrize("how", ["served", "from-disk"])
def test_site_reads_offline(offline_pages, how):
    """Every page with math or widgets, opened with the network off, served from 127.0.0.1 or opened as a
    file from disk: MathJax loads from the site and typesets every formula (none left as TeX, no MathJax
    error) with its fonts, the widget manager draws every embedded widget, nothing fails to load, no script
    fails, and no request leaves the machine."""
    if how == "served":
        with Server(HTML) as server:
            seen = visit_offline({p: server.base + p for p in offline_pages})
        assert not server.failed, f"local requests that failed (path, status): {server.failed}"
    else:
        seen = visit_offline({p: (HTML / p).as_uri() for p in offline_pages})
    problems = _offline_problems(seen)
    assert not problems, "\n".join(problems)
    assert all(info["requested"] for info in seen.values()), "the performance log recorded no request at all"
