"""The book's own Sphinx extension (`_config.yml`, `local_extensions`): the site's stylesheet, and each inline
script once per page.

jupyter-book 1.0.4 on Sphinx 7.4 puts sphinx-thebe's inline settings (`const THEBE_JS_URL = ...`) on every page
twice: added after the builder started, the script is kept once with the file name None and again, from the
registry, with '' (Sphinx's `prepare_writing`), and the second copy throws a SyntaxError in the browser console.
Repeated scripts are dropped before a page is written, early (the event stops at the first handler that
returns a template). `tests/test_site.py` fails on any console error and measures what the stylesheet sets.
"""
from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).parent / "static"


def _each_script_once(app, pagename, templatename, context, doctree):
    """Keep the first of scripts that are the same but for a file name of None or ''."""
    seen, kept = set(), []
    for script in context.get("script_files", []):
        key = ((script.filename or "", script.priority, repr(sorted(script.attributes.items())))
               if hasattr(script, "attributes") else str(script))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"][:] = kept  # in place: handlers after this one (MathJax's) add to the same list


def _add_static(app):
    app.config.html_static_path.append(str(STATIC))


def setup(app):
    app.connect("builder-inited", _add_static)
    app.add_css_file("skiplessons.css")
    app.connect("html-page-context", _each_script_once, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
