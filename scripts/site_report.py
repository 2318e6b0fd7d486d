"""What a reader meets on each page of a built site, seen in headless Chromium and counted (issue 27).

Per page: the lines of code shown (and folded behind "show code"), the `glue(...)` calls among them, markdown
tables left as pipe text, leftovers (Python reprs, absolute paths of the build machine, console errors), and the
page's weight: the bytes of everything the browser loaded for it (its own resource list: the page, scripts,
stylesheets, fonts, images), raw (the site read from disk, or from a host that does not compress) and gzipped
(from one that does). `tests/test_site.py` checks the same things with these definitions.

    python scripts/site_report.py _build/html                       # every page, as a table
    python scripts/site_report.py _build/html book/08_degeneracy.html --shots /tmp/shots

`--shots DIR` also saves full-page screenshots of the pages named, in windows 1,400 and 400 px wide, light and
dark (the theme follows the system's colour scheme, which Chromium is told to emulate).
Needs Debian's `chromium` and `chromium-driver`, and selenium.
"""
from __future__ import annotations

import argparse
import base64
import functools
import gzip
import http.server
import re
import tempfile
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
)
NOT_PAGES = {"_static", "_sources", "_images"}
REDIRECT = re.compile(r'<meta[^>]+http-equiv="refresh"', re.IGNORECASE)
MAX_SHOT_HEIGHT = 12000  # px; longer pages are cut so a screenshot stays a few MB at most
SHOT_WIDTHS = (1400, 400)
SCHEMES = ("light", "dark")

#: a pipe table's separator row (`|---|:---:|`) left as text: a markdown table that did not render
#: (`---` may have become an em dash on the way)
RAW_TABLE = re.compile(r"^\s*\|?\s*:?(?:-{3,}|—):?\s*(?:\|\s*:?(?:-{3,}|—):?\s*)+\|?\s*$", re.M)
#: Python reprs and absolute file paths: machinery, not something a reader should see
REPR = re.compile(r"<function [\w.<>]+|<[\w.]+ object at 0x|\bnp\.(?:float|int)\d+\(|\b[A-Z]\w*\(numbers=")
ABS_PATH = re.compile(r"(?<![\w:/.~-])/(?:home|root|tmp|work|Users|usr|var|opt|mnt|srv)/[\w.-]+")
GLUE_CALL = re.compile(r"\bglue\(")

# Each figure of the notebook outputs: its file, its width in pixels, and the width it is drawn at.
FIGURES = """Array.from(document.querySelectorAll('.cell_output img')).map(
  i => ({src: i.currentSrc || i.src, natural: i.naturalWidth, shown: i.getBoundingClientRect().width}))"""
FIGURE_SCALES_JS = f"return {FIGURES};"

# One call per page: make every image load and decode, let MathJax typeset and the fonts load (so the resource
# list is complete), then collect what the checks and the counts need.
COLLECT_JS = """
const done = arguments[arguments.length - 1];
const imgs = Array.from(document.images);
imgs.forEach(i => { i.loading = 'eager'; });
const typeset = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
Promise.all(imgs.map(i => i.decode().catch(() => null)))
 .then(() => typeset ? typeset.catch(() => null) : null)
 .then(() => document.fonts.ready)
 .then(() => {
  const q = s => Array.from(document.querySelectorAll(s));
  done({
    url: location.href,
    title: document.title,
    ready: document.readyState,
    main_text: ((document.querySelector('main#main-content') || {}).innerText || '').trim().length,
    images: imgs.map(i => ({src: i.currentSrc || i.src, width: i.naturalWidth, height: i.naturalHeight,
                            output: !!i.closest('.cell_output'), figure: (i.closest('figure') || {}).id || null})),
    links: q('a[href]').map(a => a.href),
    outputs: q('.cell_output').map(o => o.innerText),
    error_outputs: q('.cell_output .traceback, .cell_output .output.error').length,
    math: q('span.math, div.math').map(m => m.textContent.trim()),
    mathjax_rendered: q('mjx-container').length,
    mathjax_script: q('script[src]').some(s => /mathjax/i.test(s.src)),
    colab: q('a[href^="https://colab.research.google.com"]').map(a => a.href),
    exercises: q('div.exercise').map(e => e.id),
    solutions: q('div.solution').map(s => ({
      id: s.id, dropdown: s.classList.contains('dropdown'), hidden: s.classList.contains('toggle-hidden'),
      targets: Array.from(s.querySelectorAll('.admonition-title a[href]')).map(a => a.hash.slice(1)),
      cells: s.querySelectorAll('.cell').length, outputs: s.querySelectorAll('.cell_output').length})),
    nav: q('nav.bd-docs-nav a.reference.internal').map(a => a.href),
    nav_text: q('nav.bd-docs-nav a.reference.internal').map(a => [a.href, a.textContent.trim()]),
    prose: (() => { const m = document.querySelector('main#main-content');
                    if (!m) return '';
                    const c = m.cloneNode(true); c.querySelectorAll('.cell_input').forEach(e => e.remove());
                    return c.textContent; })(),
    code: q('.cell_input pre').map(p => ({text: p.textContent,
                                          folded: !!p.closest('.tag_hide-input, .tag_hide-cell')})),
    icons: q('[class*="fa-"]').map(e => { const s = getComputedStyle(e, '::before');
                                          return {cls: e.getAttribute('class'), content: s.content,
                                                  family: s.fontFamily, weight: s.fontWeight}; })
             .filter(i => i.content && i.content !== 'none' && i.content !== 'normal'),
    icon_fonts: Array.from(document.fonts).filter(f => /Font Awesome/.test(f.family))
                  .map(f => [f.family, f.weight, f.status]),
    figures: FIGURES,
    loaded: performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
              .map(e => e.name),
    scripts: q('script[src]').map(s => s.src),
    next: (document.querySelector('a.right-next') || {}).href || null,
  });
});
""".replace("FIGURES", FIGURES)


class Server(http.server.ThreadingHTTPServer):
    """Serves a built site on 127.0.0.1 (a free port) from a thread, and remembers every request that failed."""

    def __init__(self, html: Path):
        self.failed: list[tuple[str, int]] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_request(self, code="-", size="-"):
                if isinstance(code, int) and code >= 400 and self.path != "/favicon.ico":
                    server.failed.append((self.path, code))

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), functools.partial(Handler, directory=str(html)))
        self.base = f"http://127.0.0.1:{self.server_port}/"

    def __enter__(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


def chromium(flags=FLAGS, logs: dict | None = None, script_timeout: int = 30):
    """A headless Chromium (Debian's, through its chromedriver) with `flags`, the log types `logs`, and a
    fresh profile folder; returns (driver, profile): quit the one and clean up the other."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in flags:
        options.add_argument(flag)
    profile = tempfile.TemporaryDirectory(prefix="skiplessons-chromium-")
    options.add_argument(f"--user-data-dir={profile.name}")
    options.set_capability("goog:loggingPrefs", logs or {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(script_timeout)
    return driver, profile


def page_paths(html: Path) -> list[str]:
    """Every HTML page of a build except redirects (jupyter-book writes `index.html` as one)."""
    return sorted(
        p.relative_to(html).as_posix()
        for p in html.rglob("*.html")
        if not NOT_PAGES.intersection(p.relative_to(html).parts) and not REDIRECT.search(p.read_text(errors="replace"))
    )


def local_path(url: str, base: str) -> str:
    """The file of the site that a URL under `base` names."""
    path = unquote(urlparse(url).path).removeprefix(urlparse(base).path)
    return path + "index.html" if path.endswith("/") or not path else path


def weight(urls: list[str], base: str, html: Path) -> tuple[int, int]:
    """Bytes of the local files behind these URLs, each counted once: raw, and as a compressing host sends them
    (each file gzipped, or as it is where that is smaller: images, fonts)."""
    files = {html / local_path(u.split("#")[0].split("?")[0], base) for u in urls if u.startswith(base)}
    sizes = [(len(data), min(len(data), len(gzip.compress(data, 6))))
             for f in sorted(files) if f.is_file() for data in [f.read_bytes()]]
    return sum(raw for raw, _ in sizes), sum(packed for _, packed in sizes)


def screenshot(driver, target: Path) -> None:
    """A full-page PNG (cut at MAX_SHOT_HEIGHT) through the DevTools protocol."""
    width, height = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    clip = {"x": 0, "y": 0, "width": width, "height": min(height, MAX_SHOT_HEIGHT), "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    target.write_bytes(base64.b64decode(shot["data"]))


def counts(info: dict, base: str, html: Path, console_errors: int) -> dict:
    """The reader's-eye counts of one page from what COLLECT_JS saw."""
    shown = [c["text"] for c in info["code"] if not c["folded"]]
    raw, packed = weight(info["loaded"], base, html)
    return {
        "code lines": sum(len(t.strip().splitlines()) for t in shown),
        "folded lines": sum(len(c["text"].strip().splitlines()) for c in info["code"] if c["folded"]),
        "glue calls": sum(len(GLUE_CALL.findall(t)) for t in shown),
        "raw tables": len(RAW_TABLE.findall(info["prose"])),
        "reprs/paths": len(REPR.findall(info["prose"])) + len(ABS_PATH.findall(info["prose"])),
        "console errors": console_errors,
        "MB raw": round(raw / 2**20, 2),
        "MB gzip": round(packed / 2**20, 2),
    }


def report(html: Path, pages: list[str]) -> dict[str, dict]:
    """Open each page in one headless Chromium; its counts."""
    rows = {}
    with Server(html) as server:
        driver, profile = chromium()
        try:
            for page in pages:
                driver.get(server.base + page)
                info = driver.execute_async_script(COLLECT_JS)
                errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"
                          and not e["message"].split(" ", 1)[0].endswith("/favicon.ico")]
                rows[page] = counts(info, server.base, html, len(errors))
        finally:
            driver.quit()
            profile.cleanup()
    return rows


def shots(html: Path, pages: list[str], folder: Path) -> list[Path]:
    """Full-page screenshots of each page at each of SHOT_WIDTHS, light and dark: `<page>-<width>-<scheme>.png`."""
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    with Server(html) as server:
        for scheme in SCHEMES:
            driver, profile = chromium()
            try:
                driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                       {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
                for width in SHOT_WIDTHS:
                    driver.set_window_size(width, 1000)
                    for page in pages:
                        driver.get(server.base + page)
                        driver.execute_async_script(COLLECT_JS)
                        target = folder / f"{Path(page).stem}-{width}-{scheme}.png"
                        screenshot(driver, target)
                        saved.append(target)
            finally:
                driver.quit()
                profile.cleanup()
    return saved


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="a built site, e.g. _build/html")
    parser.add_argument("pages", nargs="*", help="pages relative to it (default: every page)")
    parser.add_argument("--shots", type=Path, help="save screenshots of the pages named into this folder")
    args = parser.parse_args(argv)
    if not (args.html / "index.html").is_file():
        parser.error(f"html: no built site at {args.html} (index.html is missing); build one with `make book`")
    unknown = [p for p in args.pages if not (args.html / p).is_file()]
    if unknown:
        parser.error(f"pages: {unknown} are not pages of {args.html}; valid: {page_paths(args.html)}")
    if args.shots and not args.pages:
        parser.error("--shots: name the pages to photograph")
    rows = report(args.html, args.pages or page_paths(args.html))
    columns = list(next(iter(rows.values())))
    print("| page | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for page, row in rows.items():
        print(f"| {page} | " + " | ".join(str(row[c]) for c in columns) + " |")
    if args.shots:
        for path in shots(args.html, args.pages, args.shots):
            print(f"saved {path}")


if __name__ == "__main__":
    main()
