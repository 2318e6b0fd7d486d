"""The house plot style and pure plotting functions that return figures (used in every chapter)."""
from __future__ import annotations

from importlib import resources

import matplotlib.pyplot as plt
import numpy as np

#: one colour per architecture, used in every chapter
ARCH_COLORS = {"plain": "#D55E00", "residual": "#0072B2", "hyper": "#009E73"}


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


def training_curves(arrays: dict, key: str = "acc", ax=None, archs=None):
    """Median and IQR over seeds of curve `key` ('acc', 'loss', 'test_acc', ...) for each architecture.

    `arrays` holds 'step', the curves (nets x records) and 'arch' (one label per net), as stored by the
    `training` experiment. Returns the figure."""
    if ax is None:
        _, ax = plt.subplots()
    labels = np.asarray(arrays["arch"]).astype(str)
    for arch in archs or list(dict.fromkeys(labels)):
        rows = np.asarray(arrays[key])[labels == arch]
        band(ax, arrays["step"], rows, label=f"{arch} ({len(rows)} seeds)", color=ARCH_COLORS.get(arch))
    ax.set_xlabel("training step")
    ax.set_ylabel(key.replace("_", " ").replace("acc", "accuracy"))
    ax.legend()
    return ax.figure
