"""ipywidgets explorers for a reader with a running kernel, drawn with the figure functions of `plots.part1`
and `plots.part2`.

The approach explorer (chapters I.2, I.3) draws from precomputed arrays, so moving its slider costs only a redraw;
the static page shows the same frames in a kernel-free player (`plots.part1.approach_player`). The skip-strength
explorer (chapter II.2) integrates the flows of a few starts per click of its button and has no static player.
"""
from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from . import plots
from .dynamics import gradient_flow


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
        plots.part1.smallest_bars(ax, row, k, title=f"{what}: s = {options[index][0]}")
        plt.show()

    return widgets.interactive(draw, index=slider)


def skip_strength_explorer(starts, teacher, plateau: float, t_max: float, n_show: int = 8):
    """A slider over the skip strength alpha and a button: each click integrates the gradient flow of the first
    `n_show` `starts` (rows of packed parameters) on `teacher` at that alpha up to `t_max` and draws their loss
    curves, with the plain student's `plateau` value dashed. Returns the widget."""
    starts = starts[:n_show]

    def draw(alpha=0.5):
        flow = gradient_flow(starts, teacher, float(alpha), t_max=t_max, n_eval=101)
        fig, ax = plt.subplots(figsize=(6, 3.2))
        plots.part2.loss_curves(ax, flow.t, flow.loss, n_show=n_show,
                                color=plt.get_cmap("coolwarm")(float(alpha)), label=f"α = {alpha:.2f}")
        ax.axhline(plateau, ls="--", color="k", lw=1)
        ax.set_ylim(1e-6, 5)
        ax.legend()
        plt.show()

    slider = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="α")
    return widgets.interactive(draw, {"manual": True}, alpha=slider)
