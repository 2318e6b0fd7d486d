"""The book's own Sphinx extension (`_config.yml`, `local_extensions`): the site's stylesheet, and each inline
script once per page.

jupyter-book 1.0.4 on Sphinx 7.4 puts sphinx-thebe's inline settings (`const THEBE_JS_URL = ...`) on every page
twice, and the second copy throws a SyntaxError in the browser console; repeated inline scripts are dropped
before a page is written. `tests/test_site.py` fails on any console error and measures what the stylesheet sets.
"""
from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).parent / "static"


def _each_script_once(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        key = (str(script), repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def _add_static(app):
    app.config.html_static_path.append(str(STATIC))


def setup(app):
    app.connect("builder-inited", _add_static)
    app.add_css_file("skiplessons.css")
    app.connect("html-page-context", _each_script_once)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
