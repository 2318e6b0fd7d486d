"""Figures of Part V: the learning-coefficient estimator and its targets, λ̂ of deep nets over training and
against the eigenvalue counts (V.1), rank collapse against depth (V.3). Each function draws on `ax` (a new
figure when None) and returns the figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .plotting import ARCH_COLORS


def _axis(ax):
    if ax is None:
        _, ax = plt.subplots()
    return ax


def llc_validation(result, ax=None):
    """For each known model: the SGLD estimate (mean ± 2 SE over chains), its exact target at this n and the
    learning coefficient λ (n -> infinity)."""
    ax = _axis(ax)
    models = result.models()
    for i, model in enumerate(models):
        chains = result.chains(model)
        se = chains.std(ddof=1) / np.sqrt(len(chains))
        ax.errorbar(i, chains.mean(), yerr=2 * se, fmt="o", color="C0", label="SGLD estimate" if i == 0 else None)
        ax.plot(i + 0.15, result.target(model), "s", color="C1", label=f"exact at n = {result.n}" if i == 0 else None)
        ax.plot([i - 0.3, i + 0.3], [result.lam(model)] * 2, "k--", lw=1, label="λ" if i == 0 else None)
    ax.set_xticks(range(len(models)), [m.replace(", ", ",\n") for m in models])
    ax.set_yscale("log")
    ax.set_ylabel("learning coefficient")
    ax.legend()
    return ax.figure


def targets_against_n(models, ns, localization: float, ax=None):
    """The exact target nβ E[K] of each model (`llc.KnownModel`) against n, converging to its λ (dashed)."""
    ax = _axis(ax)
    for i, model in enumerate(models):
        values = [model.target(int(n), localization) for n in ns]
        (line,) = ax.plot(ns, values, "o-", color=f"C{i + 2}", label=f"{model.name} (λ = {model.lam:g}, m = "
                                                                       f"{model.multiplicity})")
        ax.axhline(model.lam, color=line.get_color(), ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("samples n")
    ax.set_ylabel("nβ E[K]  (exact, by quadrature)")
    ax.legend()
    return ax.figure


def llc_over_training(result, ax=None):
    """λ̂ of every net at each checkpoint (dots) and the mean per architecture (lines)."""
    ax = _axis(ax)
    steps = result.checkpoints
    for arch, values in result.llc(step=None).items():
        color = ARCH_COLORS.get(arch)
        for row in values:
            ax.plot(steps, row, ".", color=color, alpha=0.5)
        ax.plot(steps, values.mean(0), "-", color=color, label=f"{arch} ({len(values)} seeds)")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("training step")
    ax.set_ylabel("local learning coefficient λ̂")
    ax.legend()
    return ax.figure


def llc_traces(result, step: int = -1, ax=None):
    """The SGLD chains nβ (L(w_t) - L(w*)) of every net at checkpoint `step`; λ̂ is their mean after burn-in."""
    ax = _axis(ax)
    for arch, rows in result.trace(step=step).items():
        for k, row in enumerate(rows):
            ax.plot(row, color=ARCH_COLORS.get(arch), lw=0.8, alpha=0.7, label=arch if k == 0 else None)
    ax.axvline(int(result.config["burn_in"]), color="k", ls=":", lw=1)
    ax.set_xlabel("SGLD step")
    ax.set_ylabel("nβ (L(w) - L(w*))")
    ax.legend()
    return ax.figure


def llc_against_degeneracy(llc_result, degeneracy_result, tol: float, step: int = -1, ax=None):
    """One dot per net: its degenerate fraction (Part III, at `tol`) against its λ̂, at the same checkpoint."""
    ax = _axis(ax)
    lam = llc_result.llc(step=step)
    deg = degeneracy_result.degenerate(tol=tol, step=step)
    for arch in lam:
        ax.plot(deg[arch], lam[arch], "o", color=ARCH_COLORS.get(arch), label=arch)
    ax.set_xlabel(f"degenerate fraction (|λ_H| ≤ {tol:g} max|λ_H|)")
    ax.set_ylabel("local learning coefficient λ̂")
    ax.legend()
    return ax.figure


def rank_by_depth(result, ax=None):
    """The distance from rank one after each layer, median over seeds (band: range), one line per variant."""
    ax = _axis(ax)
    depths = result.depths
    for i, (variant, rows) in enumerate(result.residual().items()):
        rows = np.maximum(rows, 1e-17)
        style = "-" if "no skips" not in variant else "--"
        (line,) = ax.plot(depths, np.median(rows, 0), style, color=f"C{i}", label=variant)
        ax.fill_between(depths, rows.min(0), rows.max(0), color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel("distance from rank one, res(X)")
    ax.legend(ncol=2)
    return ax.figure



def trained_stacks(result, axes=None):
    """Two panels for the briefly trained attention stacks: the training loss against the rank-one floor, and
    the distance from rank one per layer after training (dotted: before)."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    steps = result.train_steps
    before = result.trained_residual("init")
    for i, (variant, losses) in enumerate(result.trained_loss().items()):
        color = f"C{i + 3}"
        for row in losses:
            axes[0].plot(steps, row, color=color, lw=1, alpha=0.7)
        axes[0].plot([], [], color=color, label=variant)
        after = np.maximum(result.trained_residual()[variant], 1e-17)
        layers = np.arange(after.shape[1])
        axes[1].plot(layers, np.median(after, 0), "-", color=color, label=f"{variant}, trained")
        axes[1].plot(layers, np.maximum(np.median(before[variant], 0), 1e-17), ":", color=color,
                     label=f"{variant}, before")
    axes[0].axhline(result.floor, color="k", ls="--", lw=1, label="rank-one floor")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("training step")
    axes[0].set_ylabel("training loss")
    axes[0].legend()
    axes[1].set_yscale("log")
    axes[1].set_xlabel("layer")
    axes[1].set_ylabel("distance from rank one, res(X)")
    axes[1].legend()
    return axes[0].figure
