"""Pure figure functions for the Part II chapters (plateaus, ghosts); each draws on a given axis."""
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


def rate_detector(ax, t, loss, kappas, colors=None):
    """The plateau detector on one loss curve: |d log L/dt| between recorded times, with each threshold kappa
    as a horizontal line (below a line the run counts as on a plateau). Chapter II.1."""
    t, loss = np.asarray(t, dtype=float), np.asarray(loss, dtype=float)
    rate = np.abs(np.diff(np.log(loss))) / np.diff(t)
    ax.plot(0.5 * (t[1:] + t[:-1]), np.maximum(rate, 1e-8), color="k", lw=1)
    for i, k in enumerate(kappas):
        ax.axhline(k, ls="--", lw=1, color=None if colors is None else colors[i], label=f"κ = {k:g}")
    ax.set_yscale("log")
    ax.set_xlabel("time t")
    ax.set_ylabel("|d log L / dt|")
    ax.legend()


def kappa_sweep(ax, slow: dict, colors: dict):
    """Median and interquartile range of the time on a plateau against the rate threshold kappa, one line per
    model; `slow` is {kappa: {model: per-run times}}. Chapters II.1-II.2."""
    kappas = sorted(slow)
    for model in next(iter(slow.values())):
        q = np.array([np.percentile(slow[k][model], [25, 50, 75]) for k in kappas])
        ax.plot(kappas, q[:, 1], "o-", color=colors.get(model), label=f"{model} (median, IQR)")
        ax.fill_between(kappas, q[:, 0], q[:, 2], color=colors.get(model), alpha=0.2)
    ax.set_xscale("log")
    ax.set_xticks(kappas, [f"{k:g}" for k in kappas])
    ax.set_xticks([], minor=True)
    ax.set_xlabel("rate threshold κ")
    ax.set_ylabel("time on a plateau")
    ax.legend()


def line_curvature(ax, z, eigenvalues, label):
    """Eigenvalues of the u-Hessian (1 - z^2) M along the overlap line against z; the band where all are
    positive is the attracting segment. `eigenvalues` are M's. Chapter II.1."""
    z = np.asarray(z, dtype=float)
    for i, e in enumerate(np.atleast_1d(eigenvalues)):
        ax.plot(z, (1 - z**2) * e, lw=1.5, label=f"{label}: eigenvalue {i + 1}")
    ax.axhline(0, color="k", lw=0.8)
    for edge in (-1, 1):
        ax.axvline(edge, color="grey", ls=":", lw=1)
    ax.set_xlabel("z on the overlap line")
    ax.set_ylabel("eigenvalues of (1 - z²) M")


def ghost_curve(axs, alphas, speed, slow, color="k"):
    """The ghost over the skip strength: left the slowest flow min |grad L| where the overlap line was, right
    the median and IQR of the time on a plateau from the same starts. Chapter II.2."""
    alphas, slow = np.asarray(alphas, dtype=float), np.asarray(slow, dtype=float)
    axs[0].plot(alphas, speed, "o-", color=color)
    axs[0].set_xlabel("skip strength α")
    axs[0].set_ylabel("min |∇L| on the former line")
    q = np.percentile(slow, [25, 50, 75], axis=1)
    axs[1].plot(alphas, q[1], "o-", color=color, label="median")
    axs[1].fill_between(alphas, q[0], q[2], color=color, alpha=0.2, label="IQR")
    axs[1].set_xlabel("skip strength α")
    axs[1].set_ylabel("time on a plateau")
    axs[1].legend()


def line_distances(ax, t, dist, radii, color="k"):
    """Distance of each run to the overlap line over time (columns of `dist`, log axis), with the capture radii
    dashed. Chapter II.1."""
    dist = np.asarray(dist)
    for i in range(dist.shape[1]):
        ax.plot(t, np.maximum(dist[:, i], 1e-6), color=color, alpha=0.5, lw=0.8)
    for r in radii:
        ax.axhline(r, ls="--", color="grey", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("time t")
    ax.set_ylabel("distance to the overlap line")


def captured_over_time(ax, t, fractions: dict, colors: dict, limits: dict | None = None):
    """The captured fraction (within the capture radius) against time, one line per labelled student
    (`fractions`: {label: (T,)}), with each limit bracket ({label: (low, high)}) drawn at the right edge.
    Chapter II.1."""
    for label, f in fractions.items():
        ax.plot(t, f, color=colors.get(label), label=label)
        if limits and label in limits:
            lo, hi = limits[label]
            ax.plot([t[-1] * 1.02] * 2, [lo, hi], color=colors.get(label), lw=4, solid_capstyle="butt")
    ax.set_xlabel("time t")
    ax.set_ylabel("fraction within the capture radius")
    ax.legend()
