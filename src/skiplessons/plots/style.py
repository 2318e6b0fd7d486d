"""The house plot style shared by every part's figures: the colours of architectures and other groups, the
matplotlib style file, and the median-and-band line."""
from __future__ import annotations

from importlib import resources

import matplotlib.pyplot as plt
import numpy as np

#: one colour per architecture, used in every chapter
ARCH_COLORS = {"plain": "#D55E00", "residual": "#0072B2", "hyper": "#009E73"}
#: the colours of the other groups of a figure, in order: the rest of the house cycle (the yellow, too pale on
#: white, left out), never an architecture's colour
OTHER_COLORS = ("#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999", "#882255", "#44AA99", "#117733")


def colors_for(groups) -> dict:
    """{group: colour} for the groups of one figure: an architecture keeps its own colour (`ARCH_COLORS`) on every
    page, and every other group (a condition of Part IV, a remedy) gets the next of `OTHER_COLORS`."""
    groups = list(groups)
    if not groups:
        raise ValueError("groups must name at least one group")
    others = iter(OTHER_COLORS * (1 + len(groups) // len(OTHER_COLORS)))
    return {g: ARCH_COLORS[g] if g in ARCH_COLORS else next(others) for g in groups}


def use_style() -> None:
    """Apply the book's matplotlib style (package data `skiplessons.mplstyle`)."""
    with resources.as_file(resources.files("skiplessons") / "skiplessons.mplstyle") as path:
        plt.style.use(str(path))


def band(ax, t, values, label=None, color=None, q=(0.25, 0.75)):
    """Plot the median of `values` (runs × time) against `t`, with a band from quantiles `q`."""
    values = np.asarray(values, dtype=float)
    med = np.median(values, axis=0)
    lo, hi = np.quantile(values, q, axis=0)
    (line,) = ax.plot(t, med, label=label, color=color)
    ax.fill_between(t, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    return line
