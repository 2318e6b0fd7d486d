"""Pure plotting functions of Part IV (chapters IV.1 and IV.2): curves and measurements per condition."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .plotting import band


def _conditions(arrays):
    labels = np.asarray(arrays["condition"]).astype(str)
    return labels, list(dict.fromkeys(labels.tolist()))


def _colors(n):
    return [plt.get_cmap("tab10")(i % 10) for i in range(n)]


def condition_curves(arrays: dict, key: str = "acc", ax=None):
    """Median and IQR over seeds of curve `key` for each condition of a Part IV experiment. Returns the figure."""
    if ax is None:
        _, ax = plt.subplots()
    labels, conds = _conditions(arrays)
    for cond, color in zip(conds, _colors(len(conds))):
        band(ax, arrays["step"], np.asarray(arrays[key])[labels == cond], label=cond, color=color)
    ax.set_xlabel("training step")
    ax.set_ylabel(key.replace("_", " ").replace("acc", "accuracy"))
    return ax.figure


def checkpoint_lines(arrays: dict, values: np.ndarray, ylabel: str, ax=None):
    """`values` (nets x checkpoints) against the checkpoint step: the mean over seeds per condition, with the
    seeds as dots. Returns the figure."""
    if ax is None:
        _, ax = plt.subplots()
    labels, conds = _conditions(arrays)
    steps = np.asarray(arrays["ckpt_step"])
    for cond, color in zip(conds, _colors(len(conds))):
        rows = np.asarray(values)[labels == cond]
        ax.plot(steps, rows.mean(0), "-o", color=color, label=cond, markersize=4)
        for r in rows:
            ax.plot(steps, r, ".", color=color, alpha=0.4, markersize=3)
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    return ax.figure


def per_layer(arrays: dict, values: np.ndarray, ylabel: str, ax=None):
    """`values` (nets x layers) against the layer index: the mean over seeds per condition. Returns the figure."""
    if ax is None:
        _, ax = plt.subplots()
    labels, conds = _conditions(arrays)
    for cond, color in zip(conds, _colors(len(conds))):
        rows = np.asarray(values)[labels == cond]
        ax.plot(np.arange(1, rows.shape[1] + 1), rows.mean(0), color=color, label=cond)
    ax.set_xlabel("hidden layer")
    ax.set_ylabel(ylabel)
    return ax.figure
