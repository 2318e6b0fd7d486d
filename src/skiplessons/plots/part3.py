"""Figures of Part III: training curves and the depth sweep (chapters 0 and III.1); spectral densities, near-zero
fractions swept over three decades of threshold under each normalization, and per-layer measures (III.2). Every
function reads a typed result (`experiments.part3`, or Part IV's by condition) through its accessors and
returns the figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .. import degeneracy as dg
from ..curvature import NORMALIZATIONS
from .style import ARCH_COLORS, band, colors_for

#: axis labels of the threshold under each normalization
THRESHOLD_LABELS = {"max": "threshold / max|λ| (each net's own)", "mean": "threshold / mean|λ| (each net's own)",
                    "absolute": "threshold on |λ| (absolute)"}


def spectra(result, net_of: dict[str, int], sigma: float = 0.004):
    """Hessian spectral density of one net per architecture (`net_of`: {arch: net index}) at every checkpoint,
    eigenvalues scaled by the net's max|λ|, Gaussian smoothing of width `sigma` (in those units)."""
    steps = result.checkpoints
    fig, axes = plt.subplots(1, len(net_of), figsize=(3.7 * len(net_of), 3.3), sharey=True, squeeze=False)
    grid = np.linspace(-0.2, 1.0, 600)
    for ax, (arch, m) in zip(axes[0], net_of.items()):
        for t, step in enumerate(steps):
            d = result.density(m, t)
            top = d.max_abs
            ax.plot(grid, d.density(grid * top, sigma=sigma * top) * top, label=f"step {step}",
                    color=plt.cm.viridis(t / max(len(steps) - 1, 1)))
        ax.set_yscale("log")
        ax.set_ylim(1e-4, None)
        ax.set_title(arch)
        ax.set_xlabel("eigenvalue / max |eigenvalue|")
    axes[0, 0].set_ylabel("density")
    axes[0, -1].legend()
    return fig


def sweep(result, normalizations=NORMALIZATIONS, step: int = -1, **kwargs):
    """Near-zero fraction against the threshold (`degeneracy.SWEEP`, three decades) under each normalization,
    median and interquartile band over seeds per architecture; the dotted line marks the threshold the
    chapter reads (`degeneracy.NEAR_ZERO`). `kwargs` go to the result's `sweep` (e.g. matrix, method)."""
    fig, axes = plt.subplots(1, len(normalizations), figsize=(3.9 * len(normalizations), 3.4), squeeze=False)
    for ax, norm in zip(axes[0], normalizations):
        thresholds = dg.SWEEP[norm]
        values = result.sweep(norm, thresholds, **({"step": step} if step is not None else {}), **kwargs)
        for arch, v in values.items():
            band(ax, thresholds, v, label=arch, color=ARCH_COLORS.get(arch))
        ax.axvline(dg.NEAR_ZERO[norm], color="gray", ls=":")
        ax.set_xscale("log")
        ax.set_xlabel(THRESHOLD_LABELS[norm])
    axes[0, 0].set_ylabel("fraction of eigenvalues with |λ| ≤ threshold")
    axes[0, 0].legend()
    return fig


def layers(result, keys=("elimination", "branch_elimination", "rank_deficit", "live_rank_deficit")):
    """Per-layer measures at the last checkpoint, mean over seeds per architecture, one panel per measure
    (measures the result does not store are left out)."""
    keys = [k for k in keys if f"ckpt_{k}" in result.arrays]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.4 * len(keys), 3.2), sharey=True, squeeze=False)
    for ax, key in zip(axes[0], keys):
        for arch, v in result.layer(key, per_layer=True).items():
            ax.plot(np.arange(1, v.shape[1] + 1), v.mean(0), color=ARCH_COLORS.get(arch), label=arch)
        ax.set_title(key.replace("_", " "))
        ax.set_xlabel("hidden layer")
    axes[0, 0].set_ylabel("fraction (mean over seeds)")
    axes[0, 0].legend()
    return fig


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
    `experiments.part3.DepthSweepResult`). Returns the figure."""
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
