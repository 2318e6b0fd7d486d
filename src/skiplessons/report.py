"""Tables and lines for the pages: markdown tables, 'mean ± std' cells, durations, provenance of results.

Used by the claims ledger, the reproduction and status pages, and the chapters' summary tables, so a number
is formatted the same way wherever it appears.
"""
from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from .degeneracy import HEADLINE_TOL


def markdown_table(rows: list[Mapping[str, object]], columns: list[str]) -> str:
    """A GitHub/MyST pipe table of `rows` (dicts) in the order of `columns`; `|` in the header and the cells is
    escaped (a column named `max|λ|` would otherwise split the table)."""
    if not columns:
        raise ValueError("columns must name at least one column")

    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, columns)) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def mean_spread(values, digits: int = 3) -> str:
    """'mean ± std (n=…)' of one number per run (sample std, ddof=1), for a table cell."""
    values = np.asarray(values, dtype=float).ravel()
    if not len(values):
        raise ValueError("values must hold at least one run")
    sd = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.{digits}f} ± {sd:.{digits}f} (n={len(values)})"


def duration(seconds: float) -> str:
    """A wall time for humans: '42.0 s', '3.5 min' or '1.25 h'."""
    if not np.isfinite(seconds) or seconds < 0:
        raise ValueError(f"seconds={seconds!r} must be a finite non-negative number")
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _data_name(result) -> str:
    return str(result.summary.get("data", "—"))


def provenance_line(result) -> str:
    """One line saying where a stored result came from: data, nets, wall time, device, peak memory, date,
    commit (printed under every stored paper-scale result in the chapters)."""
    p, s = result.provenance, result.summary
    nets = f"{len(result.arrays['arch'])} nets" if "arch" in result.arrays else "nets"
    size = f" of {s['n_params']:,} parameters" if "n_params" in s else ""
    memory = (f", peak memory {p['peak_memory_bytes'] / 2**30:.1f} GiB ({p['peak_memory_of']})"
              if "peak_memory_bytes" in p else "")
    return (f"{result.name} at {result.scale} scale: data {_data_name(result)}, {nets}{size}; "
            f"{duration(p['wall_time_s'])} on {p['device']}{memory}; {p['date']}, commit {p['commit'][:12]}")


def provenance_rows(stored: Iterable) -> list[dict[str, str]]:
    """One row per stored result: its file and its provenance (page "Reproducing at paper scale")."""
    rows = []
    for r in stored:
        prov = r.provenance
        rows.append({
            "file": os.path.basename(r.source) if getattr(r, "source", "") else f"{r.name}-{r.scale}.json",
            "experiment": r.name,
            "scale": r.scale,
            "data": _data_name(r),
            "device": prov["device"],
            "wall time": duration(prov["wall_time_s"]),
            "peak memory": (f"{prov['peak_memory_bytes'] / 2**30:.1f} GiB" if "peak_memory_bytes" in prov
                            else "not recorded"),
            "date": _dt.datetime.fromisoformat(prov["date"]).strftime("%Y-%m-%d %H:%M %Z").strip(),
            "commit": prov["commit"][:12],
            "skiplessons": prov["skiplessons"],
            "torch": prov["torch"],
            "seeds": ", ".join(map(str, prov["seeds"])) or "—",
        })
    return rows


def reproduce_rows(status: Iterable[Mapping], pages: Iterable[str]) -> list[dict[str, str]]:
    """The reproduction page's table: per row of `experiments.reproduce.paper_status()`, the command that runs the
    experiment's paper config (and its CIFAR-100 configuration), the state of its committed paper result (with
    the fields a stale one differs in) and where and how long that result ran. An experiment's chapter becomes a
    link when it is one of `pages` (the book's page names)."""
    pages = set(pages)
    rows = []
    for row in status:
        found, chapter = row["result"], row["chapter"]
        state = row["status"] + (f" (differs in {', '.join(row['differences'])})" if row["differences"] else "")
        rows.append({
            "experiment": row["experiment"],
            "chapter": f"{{doc}}`{chapter}`" if chapter in pages else (chapter or "—"),
            "command": f"`{row['command']}`",
            "on CIFAR-100": f"`{row['cifar_command']}`" if row["cifar_command"] else "—",
            "committed result": state,
            "ran on": found.provenance["device"] if found else "—",
            "took": duration(found.provenance["wall_time_s"]) if found else "—",
        })
    return rows


def summary_rows(results, tol: float = HEADLINE_TOL) -> list[dict[str, str]]:
    """One table row per condition of every result in `results` ({experiment name: typed result}), in order:
    part, experiment, condition, final training accuracy and final degenerate fraction at `tol` (mean ± std over
    seeds, "—" where no Hessian was measured), as chapter IV.2's table of every condition of Parts III and IV."""
    from .experiments.part4 import ControlsResult
    from .experiments.part3 import DegeneracyResult

    rows = []
    for name, res in results.items():
        acc = res.final("acc")
        deg = res.degenerate(tol=tol) if isinstance(res, DegeneracyResult) else {}
        part = "IV" if isinstance(res, ControlsResult) else "III"
        rows += [{"part": part, "experiment": name, "condition": g, "final training accuracy": mean_spread(acc[g]),
                  "final degenerate fraction": mean_spread(deg[g]) if g in deg else "—"} for g in acc]
    return rows


def glue(name: str, value, display: bool = True) -> None:
    """myst-nb's `glue` where myst-nb is installed (the site build: `{glue:text}` in the text shows the value);
    elsewhere -- Colab or a plain Jupyter, where the chapters run without the book's build tools -- the value is
    shown when `display` is true and otherwise nothing happens, so a chapter runs the same everywhere."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            from IPython.display import display as show

            show(value)
        return
    myst_glue(name, value, display=display)



def glue_means(values, prefix: str, label: str = "final training accuracy", digits: int = 2) -> None:
    """For each group of `values` ({group: one number per run}): print 'group label mean ± std (n=…)' and glue
    the mean as `prefix_group` for the chapter's prose."""
    for group, v in values.items():
        print(f"{group:9s} {label} {mean_spread(v)}")
        glue(f"{prefix}_{group}", f"{np.mean(v):.{digits}f}", display=False)
