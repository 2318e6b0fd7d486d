"""Figures of Part V: the learning-coefficient estimator's calibration, step-size sweep and targets, and the deep
nets' chains against what they need (V.1), shattered gradients against depth (V.2), rank collapse against depth
(V.3). Each function draws on `ax` (a new
figure when None) and returns the figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .style import ARCH_COLORS


def _axis(ax):
    if ax is None:
        _, ax = plt.subplots()
    return ax


def llc_calibration(result, tolerance, ax=None):
    """For each calibration case: the SGLD estimate's relative error from its finite-n target (± 2 SE over
    chains), against `tolerance(target)` (shaded); cases whose chains cannot equilibrate are marked at zero in
    grey."""
    ax = _axis(ax)
    cases, marked = result.models(), False
    for i, case in enumerate(cases):
        chains, target = result.chains(case), result.target(case)
        if not result.diagnostics(case).measurable:
            ax.plot(i, 0, "x", color="0.6", label=None if marked else "not measurable here")
            marked = True
            continue
        se = np.hypot(chains.std(ddof=1) / np.sqrt(len(chains)), result.target_error(case))
        ax.errorbar(i, chains.mean() / target - 1, yerr=2 * se / target, fmt="o", color="C0")
        tol = tolerance(target) / target
        ax.fill_between([i - 0.4, i + 0.4], -tol, tol, color="C2", alpha=0.25, linewidth=0)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(range(len(cases)), [c.replace(" @ ", "\n") for c in cases], rotation=90, fontsize="small")
    ax.set_ylabel("λ̂ / target − 1")
    ax.legend()
    return ax.figure


def llc_sweep(result, ax=None):
    """λ̂ / target against the step's stiffness κ = ε (nβ h_max + γ) for the sweep's models, with the exact
    inflation 1 / (1 - κ/4) of the stiffest direction of a quadratic (dashed) and the book's κ (dotted)."""
    ax = _axis(ax)
    for i, (model, row) in enumerate(result.sweep().items()):
        k = np.array(row["kappa"], dtype=float)
        mean = np.array([np.nan if m is None else m for m in row["mean"]])
        se = np.array([np.nan if e is None else e for e in row["se"]])
        ax.errorbar(k, mean / row["target"], yerr=2 * se / row["target"], fmt="o-", color=f"C{i}", label=model)
    grid = np.logspace(np.log10(min(result.config.sweep)), np.log10(3.6), 100)
    ax.plot(grid, 1 / (1 - grid / 4), "k--", lw=1, label="1 / (1 − κ/4)")
    ax.axvline(result.config.kappa, color="k", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("stiffness κ = ε (nβ h_max + γ)")
    ax.set_ylabel("λ̂ / target")
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


def llc_burn_in(result, step: int = -1, ax=None):
    """Each net at checkpoint `step`: the burn-in its chains need under the stability rule against its largest
    Hessian eigenvalue (dots), and the burn-in they had (line)."""
    ax = _axis(ax)
    top = result.top_curvature(step)
    need = result.split(np.array([d.burn_in_needed for d in result.diagnostics(step)]))
    for arch in top:
        ax.plot(top[arch], need[arch], "o", color=ARCH_COLORS.get(arch), label=arch)
    ax.axhline(int(result.config.burn_in), color="k", ls=":", lw=1, label="burn-in run")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("largest |Hessian eigenvalue|")
    ax.set_ylabel("SGLD steps needed to equilibrate")
    ax.legend()
    return ax.figure


def llc_traces(result, step: int = -1, ax=None):
    """The SGLD chains nβ (L(w_t) - L(w*)) of every net at checkpoint `step`; λ̂ is their mean after burn-in."""
    ax = _axis(ax)
    for arch, rows in result.trace(step=step).items():
        for k, row in enumerate(rows):
            ax.plot(row, color=ARCH_COLORS.get(arch), lw=0.8, alpha=0.7, label=arch if k == 0 else None)
    ax.axvline(int(result.config.burn_in), color="k", ls=":", lw=1)
    ax.set_xlabel("SGLD step")
    ax.set_ylabel("nβ (L(w) - L(w*))")
    ax.legend()
    return ax.figure


def shattering_by_depth(result, axes=None):
    """One panel per input distance: the mean similarity of nearby inputs' gradients against depth per
    architecture (band: range over nets), with the least-squares fits of the two published laws."""
    from ..rivals import depth_law_fits

    if axes is None:
        _, axes = plt.subplots(1, len(result.distances), figsize=(11, 3.8), sharey=True)
    L = result.depths
    for ax, distance in zip(np.atleast_1d(axes), result.distances):
        for arch, rows in result.similarity(distance).items():
            mean, color = rows.mean(0), ARCH_COLORS.get(arch)
            ax.plot(L, mean, "o-", color=color, label=arch)
            ax.fill_between(L, rows.min(0), rows.max(0), color=color, alpha=0.15, linewidth=0)
            if (mean > 0).all():
                for (law, fit), style in zip(depth_law_fits(L, mean).items(), ("--", ":")):
                    x = L if law == "exponential" else np.log(L)
                    ax.plot(L, np.exp(fit["intercept"] + fit["rate"] * x), style, color=color, lw=1,
                            label=f"{arch}, {law} fit")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("depth (hidden layer read out)")
        ax.set_title(f"input pairs {distance:g} apart")
    np.atleast_1d(axes)[0].set_ylabel("similarity of input gradients")
    np.atleast_1d(axes)[0].legend()
    return np.atleast_1d(axes)[0].figure


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
