"""Pure figure functions of Part IV (chapters IV.1 and IV.2): one colour per condition (an architecture in its
own colour, `style.colors_for`), values per net.

Every function takes {condition: per-net values} as the typed readers return them (`ControlsResult.curves`,
`.degenerate(step=None)`, `.init_rms`, `.sweep`), draws on `ax` (a new figure when None) and returns the figure.
"""
from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from .style import band, colors_for


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots()
    return ax


def condition_curves(steps, curves: Mapping[str, np.ndarray], ylabel: str, ax=None):
    """Median and interquartile band over seeds of a training curve ({condition: (nets, records)}) against the
    recorded `steps`."""
    ax = _axes(ax)
    for cond, color in colors_for(curves).items():
        band(ax, steps, curves[cond], label=cond, color=color)
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    return ax.figure


def checkpoint_lines(steps, values: Mapping[str, np.ndarray], ylabel: str, ax=None):
    """{condition: (nets, checkpoints)} against the checkpoint `steps`: the mean over seeds as a line, every
    seed as a dot."""
    ax = _axes(ax)
    for cond, color in colors_for(values).items():
        rows = np.asarray(values[cond], dtype=float)
        ax.plot(steps, rows.mean(0), "-o", color=color, label=cond, markersize=4)
        for r in rows:
            ax.plot(steps, r, ".", color=color, alpha=0.4, markersize=3)
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    return ax.figure


def per_layer(values: Mapping[str, np.ndarray], ylabel: str, ax=None, log: bool = False):
    """{condition: (nets, layers)} against the hidden layer: the mean over seeds (geometric with `log`, on a
    log axis), with the seeds' range as a band."""
    ax = _axes(ax)
    for cond, color in colors_for(values).items():
        rows = np.asarray(values[cond], dtype=float)
        layers = np.arange(1, rows.shape[1] + 1)
        centre = np.exp(np.log(rows).mean(0)) if log else rows.mean(0)
        ax.plot(layers, centre, color=color, label=cond)
        ax.fill_between(layers, rows.min(0), rows.max(0), color=color, alpha=0.15, linewidth=0)
    if log:
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("hidden layer")
    ax.set_ylabel(ylabel)
    return ax.figure


def singular_values(spectra: Mapping[str, np.ndarray], ax=None, band_edges=(0.5, 2.0)):
    """The input-output Jacobian's singular values at initialization, sorted, one line per condition: the
    median over inputs and nets of each rank's value ({condition: (nets, inputs, width)}, the "sv" of
    `manipulation.measure`), on a log scale, with the band `band_edges` shaded."""
    ax = _axes(ax)
    for cond, color in colors_for(spectra).items():
        sv = np.sort(np.asarray(spectra[cond], dtype=float), axis=-1)[..., ::-1]
        med = np.median(sv.reshape(-1, sv.shape[-1]), axis=0)
        ax.plot(np.arange(1, len(med) + 1), np.maximum(med, 1e-12), color=color, label=cond)
    ax.axhspan(*band_edges, color="0.9", zorder=0)
    ax.set_yscale("log")
    ax.set_xlabel("rank of the singular value")
    ax.set_ylabel("singular value of dh_D/dh_1")
    return ax.figure


def condition_bars(values: Mapping[str, np.ndarray], ylabel: str, ax=None):
    """One bar per condition: the mean over seeds with ± one standard deviation, every seed as a dot."""
    ax = _axes(ax)
    colors = colors_for(values)
    for i, (cond, color) in enumerate(colors.items()):
        v = np.asarray(values[cond], dtype=float)
        ax.bar(i, v.mean(), yerr=v.std(ddof=1) if len(v) > 1 else 0.0, color=color, alpha=0.7)
        ax.plot(np.full(len(v), i), v, "k.", markersize=4)
    ax.set_xticks(range(len(colors)), list(colors), rotation=25, ha="right", fontsize="small")
    ax.set_ylabel(ylabel)
    return ax.figure


def sweep(values: Mapping[float, np.ndarray], ylabel: str, ax=None, xlabel: str = "skip strength alpha"):
    """{alpha: per net} as dots per seed and a line through the means."""
    ax = _axes(ax)
    alphas = sorted(values)
    for a in alphas:
        v = np.asarray(values[a], dtype=float)
        ax.plot(np.full(len(v), a), v, "o", color="C0", alpha=0.4)
    ax.plot(alphas, [np.mean(values[a]) for a in alphas], "-", color="C0")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax.figure


def overview(result, by_alpha: bool = False):
    """A Part IV result at a glance, as its chapter shows the paper-scale run: training accuracy against the
    step (median and quartiles per condition) and the final degenerate fraction per condition, or, with
    `by_alpha` (a skip-strength result), both final values against the skip strength."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    if by_alpha:
        sweep(result.sweep("acc"), "final training accuracy", ax=axes[0])
        sweep(result.sweep("degenerate"), "final degenerate fraction", ax=axes[1])
    else:
        condition_curves(result.record_steps, result.curves("acc"), "training accuracy", ax=axes[0])
        axes[0].legend()
        condition_bars(result.degenerate(), "final degenerate fraction", ax=axes[1])
    return fig
