"""Pure figure functions for Part I (chapters I.1-I.4): each draws on given axes or returns a figure.

Eigenvalues are drawn relative to the largest one on a log axis, floored at `FLOOR` so that exact zeros stay
visible; the zero threshold of `fisher.fisher_zeros` is drawn as a dashed line.
"""
from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation

from ..fisher import ZERO_RTOL
from .style import ARCH_COLORS

#: eigenvalues below this fraction of the largest are drawn at it
FLOOR = 1e-18


def relative(eigs) -> np.ndarray:
    """|eigenvalues| / max |eigenvalue| along the last axis, floored at FLOOR."""
    eigs = np.abs(np.asarray(eigs, dtype=float))
    return np.maximum(eigs / eigs.max(axis=-1, keepdims=True), FLOOR)


def spectrum(ax, eigs: dict, rtol: float = ZERO_RTOL, colors: dict | None = None):
    """Sorted eigenvalues of each labelled spectrum (relative, log scale) with the zero threshold. Chapter I.1."""
    for i, (label, values) in enumerate(eigs.items()):
        rel = np.sort(relative(values))
        color = (colors or {}).get(label)
        ax.plot(np.arange(1, len(rel) + 1), rel, "o-", ms=3, lw=1, label=label, color=color)
    ax.axhline(rtol, color="0.4", ls="--", lw=1, label="zero threshold")
    ax.set(yscale="log", xlabel="eigenvalue index (ascending)", ylabel="eigenvalue / largest")
    ax.legend(loc="lower right")
    return ax


def approach(ax, fractions, spectra: dict, k: int, colors: dict | None = None):
    """The k smallest relative eigenvalues against the fraction s of the way left to the singular set
    (log-log; s = 0 is dropped). `spectra` maps a label to an (F, P) array from `approach_spectra`.
    Chapters I.2, I.3."""
    fractions = np.asarray(fractions, dtype=float)
    keep = fractions > 0
    for label, eigs in spectra.items():
        rel = np.sort(relative(eigs), axis=-1)[keep, :k]
        color = (colors or ARCH_COLORS).get(label)
        lines = ax.plot(fractions[keep], rel, color=color, lw=1.2)
        lines[0].set_label(label)
    ax.axhline(ZERO_RTOL, color="0.4", ls="--", lw=1, label="zero threshold")
    ax.set(xscale="log", yscale="log", xlabel="distance to the singular set (fraction s)",
           ylabel="smallest eigenvalues / largest")
    ax.legend(loc="lower right")
    return ax


def smallest_bars(ax, spectra_row: dict, k: int, title: str = "", colors: dict | None = None):
    """Bars of the k smallest relative eigenvalues of each labelled spectrum (one frame of a slider)."""
    width = 0.8 / max(len(spectra_row), 1)
    for i, (label, eigs) in enumerate(spectra_row.items()):
        rel = np.sort(relative(eigs))[:k]
        color = (colors or ARCH_COLORS).get(label)
        ax.bar(np.arange(1, k + 1) + (i - (len(spectra_row) - 1) / 2) * width, rel, width=width, bottom=FLOOR,
               color=color, label=label)
    ax.axhline(ZERO_RTOL, color="0.4", ls="--", lw=1, label="zero threshold")
    ax.set(yscale="log", ylim=(FLOOR / 10, 10), xlabel="eigenvalue index (smallest first)",
           ylabel="eigenvalue / largest", title=title)
    ax.legend(loc="upper left")
    return ax


def loss_surface(ax, ts, ss, values, title: str = "", levels: int = 14):
    """Filled contours of log10(loss + 1e-12) over a 2-D grid (rows: ss, columns: ts). Chapter I.3."""
    im = ax.contourf(ts, ss, np.log10(np.asarray(values) + 1e-12), levels=levels, cmap="viridis")
    ax.set(xlabel="split of incoming weights t", ylabel="split of outgoing weights s", title=title)
    return im


#: the player's button icons as text (matplotlib's Font Awesome 4 class -> glyph; U+FE0E asks for the text,
#: not the emoji, form of the triangles)
PLAYER_ICONS = {"fa-minus": "\u2212", "fa-fast-backward": "\u21e4", "fa-step-backward": "\u25c1",
                "fa-play fa-flip-horizontal": "\u25c0\ufe0e", "fa-pause": "\u2016", "fa-play": "\u25b6\ufe0e",
                "fa-step-forward": "\u25b7", "fa-fast-forward": "\u21e5", "fa-plus": "+"}
_FONT_AWESOME_LINK = re.compile(r'<link\b[^>]*font-awesome[^>]*>\s*', re.IGNORECASE)
_ICON = re.compile(r'<i class="fa ([^"]+)"></i>')


def self_contained(html: str) -> str:
    """matplotlib's `to_jshtml` player without its one outside resource: the Font Awesome stylesheet it links
    from a CDN (so offline, and wherever that font is missing, its buttons are blank) is dropped and each icon
    becomes a text glyph (`PLAYER_ICONS`). Raises ValueError on an icon it does not know."""
    def glyph(match):
        if match.group(1) not in PLAYER_ICONS:
            raise ValueError(f"player icon {match.group(1)!r} has no glyph in PLAYER_ICONS")
        return f'<span aria-hidden="true">{PLAYER_ICONS[match.group(1)]}</span>'

    return _ICON.sub(glyph, _FONT_AWESOME_LINK.sub("", html))


def player(fig, update, n_frames: int, interval: int = 500, dpi: int = 96) -> str:
    """A kernel-free HTML player (matplotlib `FuncAnimation.to_jshtml`) of `update(i)` for i < n_frames.

    Closes `fig` so that the notebook shows only the player. Keep n_frames <= 20 and the figure small: every
    frame is embedded as an image. The player loads nothing from elsewhere (`self_contained`), so it works
    offline. Chapters I.2, I.3."""
    if n_frames > 20:
        raise ValueError(f"n_frames={n_frames} is too many for a light page; use at most 20")
    anim = FuncAnimation(fig, update, frames=n_frames, interval=interval)
    with plt.rc_context({"savefig.dpi": dpi, "savefig.bbox": "standard"}):
        html = anim.to_jshtml(default_mode="once")
    plt.close(fig)
    return self_contained(html)


def approach_player(fractions, spectra: dict, k: int, what: str) -> str:
    """A kernel-free player of the `k` smallest Fisher eigenvalues of each architecture (`spectra`: {arch:
    (frames, P)}, as from `fisher.approach_spectra`) on the way to a singular point, one frame per entry of
    `fractions`, titled "`what` = s". Chapters I.2, I.3."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")   # 720 x 403 px, axis labels inside

    def frame(i):
        ax.clear()
        smallest_bars(ax, {arch: e[i] for arch, e in spectra.items()}, k=k, title=f"{what} = {fractions[i]:.1e}")

    return player(fig, frame, len(fractions))


def html_table(header, rows) -> str:
    """A plain HTML table (header cells, then rows of cells) for a notebook's `IPython.display.HTML`.

    HTML rather than Markdown because the book renders cell outputs as CommonMark, which has no tables.
    Chapters I.2-I.4."""
    from html import escape

    def line(cells, tag):
        return "<tr>" + "".join(f"<{tag}>{escape(str(c))}</{tag}>" for c in cells) + "</tr>"

    return ("<table>" + line(header, "th") + "".join(line(r, "td") for r in rows) + "</table>")
