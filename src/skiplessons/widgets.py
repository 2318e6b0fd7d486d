"""ipywidgets explorers for Part I, built on the pure functions of `plot_singular` (chapters I.2, I.3).

Each explorer draws from precomputed arrays, so moving a slider costs only a redraw. The static pages show
the same content as a figure and a kernel-free player (`plot_singular.player`).
"""
from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from . import plot_singular


def approach_explorer(fractions, spectra: dict, k: int, what: str = "distance to the singular set"):
    """A slider over the precomputed fractions s; each position draws the k smallest Fisher eigenvalues of
    every labelled spectrum (`spectra[label]` is (F, P) from `fisher.approach_spectra`). Returns the widget (a
    cell ending with this call shows it, and no repr of a function)."""
    fractions = np.asarray(fractions, dtype=float)
    options = [(f"{s:.1e}" if s > 0 else "0 (on the set)", i) for i, s in enumerate(fractions)]
    slider = widgets.SelectionSlider(options=options, value=0, description="s", continuous_update=False,
                                     layout=widgets.Layout(width="70%"))

    def draw(index):
        fig, ax = plt.subplots(figsize=(6, 3.2))
        row = {label: eigs[index] for label, eigs in spectra.items()}
        plot_singular.smallest_bars(ax, row, k, title=f"{what}: s = {options[index][0]}")
        plt.show()

    return widgets.interactive(draw, index=slider)
