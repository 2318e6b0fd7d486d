"""Pure plotting functions for the Part II chapters (plateaus, ghosts); each draws on a given axis."""
from __future__ import annotations

import numpy as np


def loss_curves(ax, t, loss, n_show=20, color=None, label=None, alpha=0.5):
    """Draw up to `n_show` loss curves (columns of `loss`, time first) on a log axis. Chapter II.1."""
    loss = np.atleast_2d(np.asarray(loss).T).T
    for i in range(min(n_show, loss.shape[1])):
        ax.plot(t, np.maximum(loss[:, i], 1e-12), color=color, alpha=alpha, lw=0.8,
                label=label if i == 0 else None)
    ax.set_yscale("log")
    ax.set_xlabel("time t")
    ax.set_ylabel("loss")


def phase_portrait(ax, z, s, dz, ds, title=None, color="k"):
    """Stream plot of the flow on a (z, s) slice, with the line s = 0 (the overlap line) drawn. Chapter II.1."""
    speed = np.hypot(dz, ds)
    ax.streamplot(z, s, dz, ds, color=np.log10(speed + 1e-12), cmap="viridis", density=1.0, linewidth=0.8)
    ax.axhline(0.0, color=color, lw=2, alpha=0.6)
    ax.set_xlabel("z = (w1 - w2) / (w1 + w2)")
    ax.set_ylabel("s  (u = s e)")
    if title:
        ax.set_title(title)


def distribution(ax, values: dict, colors: dict, xlabel: str, bins=30):
    """Histograms of several samples (finite values only) on shared bins, one per label. Chapter II.2."""
    finite = np.concatenate([np.asarray(v)[np.isfinite(v)] for v in values.values()])
    edges = np.histogram_bin_edges(finite, bins=bins)
    for label, v in values.items():
        v = np.asarray(v)
        ax.hist(v[np.isfinite(v)], bins=edges, alpha=0.55, color=colors.get(label), label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("runs")
    ax.legend()
