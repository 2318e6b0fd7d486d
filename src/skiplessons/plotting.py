"""The house plot style and pure plotting functions that return figures (used in every chapter)."""
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


def training_curves(result, key: str = "acc", ax=None, groups=None):
    """Median and IQR over seeds of training curve `key` ('acc', 'loss', 'test_acc', ...) for each group of
    nets of a typed result (`experiments.views.ResultView`: its architectures, or its conditions in Part IV).
    Returns the figure."""
    if ax is None:
        _, ax = plt.subplots()
    curves = result.curves(key)
    for group, color in colors_for(groups or curves).items():
        rows = curves[group]
        band(ax, result.record_steps, rows, label=f"{group} ({len(rows)} seeds)", color=color)
    ax.set_xlabel("training step")
    ax.set_ylabel(key.replace("_", " ").replace("acc", "accuracy"))
    ax.legend()
    return ax.figure


def depth_sweep(result, tol: float, axes=None):
    """Final training accuracy (left) and degenerate fraction at `tol` (right) against depth, per architecture:
    the mean over seeds as a line, the seeds as dots, the Gauss-Newton rank bound dotted (a
    `deep.DepthSweepResult`). Returns the figure."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    depths = result.depths
    for panel, values in ((axes[0], result.at_depths("acc")), (axes[1], result.degenerate(tol=tol))):
        for arch, v in values.items():
            panel.plot(depths, v.mean(1), "o-", color=ARCH_COLORS[arch], label=arch)
            panel.plot(np.repeat(depths, v.shape[1]), v.ravel(), ".", color=ARCH_COLORS[arch], alpha=0.4)
    axes[1].plot(depths, np.asarray(result.arrays["rank_bound"]).mean(1), ":", color="gray", label="rank bound")
    axes[0].set_ylabel("final training accuracy")
    axes[1].set_ylabel(f"degenerate fraction (tol {tol:g})")
    for panel in axes:
        panel.set_xscale("log", base=2)
        panel.set_xlabel("depth")
    axes[1].legend()
    return axes[0].figure


def accuracy_and_loss(result, axes=None):
    """Training accuracy (left) and training loss (right, log scale) of every group of a typed result: the
    two-panel figure of chapters 0 and III.1. Returns the figure."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    training_curves(result, "acc", ax=axes[0])
    training_curves(result, "loss", ax=axes[1])
    axes[1].set_yscale("log")
    axes[1].get_legend().remove()
    return axes[0].figure
