"""Part IV experiments: is the benefit of skip connections just initialization? (chapters IV.1 and IV.2)

- `init_controls` (IV.1): plain and residual nets, residual nets with the malicious initialization, plain nets
  with the identity-plus-noise and the orthogonal initialization -- all in one batch, with the Hessian's
  degenerate and negative fractions and the per-layer measures tracked at checkpoints.
- `remedies` (IV.2): plain nets with the bias regularizer, with one batch-normalization layer, with both, and
  without either (two batches: nets with and without the BN layer differ in shape).
- `skip_strength` (IV.2): residual nets with skip strength alpha from 0 (plain) to 1 (residual), one batch.

Every setting is ours (the paper gives none of them). The nets, optimizer and Hessian measurement are those of
Part III's `degeneracy` experiment: the configs derive from it (`configs.INIT_CONTROLS`, ...), so its
conditions and ours can share one table.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import degeneracy as dg
from ..env import one_thread
from ..models import DeepMLPs, Member, NetSpec
from ..regularizers import BiasRegularizer
from . import experiment
from .configs import INIT_CONTROLS, REMEDIES, SKIP_STRENGTH
from .deep import DegeneracyResult, hessian_batch
from .training import load_data

#: the conditions of `init_controls`: (label, arch, init)
INIT_CONDITIONS = [("plain", "plain", "default"), ("residual", "residual", "default"),
                   ("residual, malicious", "residual", "malicious"), ("plain, identity+noise", "plain", "identity"),
                   ("plain, orthogonal", "plain", "orthogonal")]
#: the conditions of `remedies`: (label, batch norm?, bias regularizer?)
REMEDY_CONDITIONS = [("plain", False, False), ("plain + bias reg.", False, True), ("plain + BN", True, False),
                     ("plain + BN + bias reg.", True, True)]


class ControlsResult(DegeneracyResult):
    """A Part IV result: the accessors of `DegeneracyResult`, grouped by condition."""

    default_by = "condition"

    @property
    def alphas(self) -> np.ndarray:
        """The skip strength of every net (experiment `skip_strength` only)."""
        return np.asarray(self.arrays["alpha"])


def run_batch(config, spec: NetSpec, members: list[Member], d, checkpoints, ctx, regularizer=None) -> dict:
    """Train one batch of nets (`degeneracy.train_tracked`) and measure every net's Hessian spectrum and layer
    singularities at `checkpoints` (steps). Returns the curves and the measurements ("ckpt_*", shape
    (checkpoints, nets, ...))."""
    net = DeepMLPs(spec, members, device=ctx.device)
    x, y = hessian_batch(config, d)
    with one_thread():                  # these small nets run faster on one thread than on two busy ones
        hist, tracked = dg.train_tracked(net, d, config.steps, checkpoints, x, y, config.spectrum.settings(),
                                         lr=config.lr, batch_size=config.batch_size,
                                         record_every=config.record_every, regularizer=regularizer,
                                         progress=ctx.progress)
    return {**hist.arrays(), **tracked.arrays("ckpt_")}


def _spec(config, d, bn_layer=None) -> NetSpec:
    return NetSpec(d.d_in, d.n_classes, depth=config.depth, width=config.width, bn_layer=bn_layer)


def _finish(labels, arrays, config, d, spec) -> tuple[dict, dict]:
    arrays["condition"] = np.asarray(labels)
    summary = {"data": d.name, "n_classes": d.n_classes, "tols": list(config.spectrum.tols),
               "n_params": DeepMLPs(spec, [Member("plain")]).n_params(),
               "rank_bound": float(arrays["ckpt_rank_bound"][-1, 0])}
    return summary, arrays


def run_init_controls(config, ctx):
    d = load_data(config)
    members = [Member(arch, seed, init=init) for _, arch, init in INIT_CONDITIONS for seed in config.seeds]
    labels = [lab for lab, _, _ in INIT_CONDITIONS for _ in config.seeds]
    spec = _spec(config, d)
    arrays = run_batch(config, spec, members, d, dg.checkpoint_steps(config.steps, config.checkpoints), ctx)
    return _finish(labels, arrays, config, d, spec)


experiment("init_controls", INIT_CONTROLS, ControlsResult, "malicious init of residual nets; identity and "
           "orthogonal init of plain nets", "09_initialization")(run_init_controls)


def run_remedies(config, ctx):
    d = load_data(config)
    probe = d.x_train[-config.reg_probe:]      # the regularizer's probe batch: the last training points (ours)
    parts, labels = [], []
    for bn in (False, True):                   # nets with and without the BN layer differ in shape: two batches
        conds = [c for c in REMEDY_CONDITIONS if c[1] == bn]
        members = [Member("plain", seed) for _ in conds for seed in config.seeds]
        mask = torch.tensor([reg for _, _, reg in conds for _ in config.seeds])
        reg = BiasRegularizer(probe, config.reg_strength, config.reg_margin, members=mask)
        spec = _spec(config, d, config.bn_layer if bn else None)
        parts.append(run_batch(config, spec, members, d, [0, config.steps], ctx, regularizer=reg))
        labels += [lab for lab, _, _ in conds for _ in config.seeds]
    # spectra (nodes, weights) are not kept: their sizes differ between the two batches (the BN gains)
    keys = [k for k in parts[0] if k not in ("ckpt_nodes", "ckpt_weights")]
    arrays = {k: (parts[0][k] if k in ("step", "ckpt_step") else
                  np.concatenate([p[k] for p in parts], axis=1 if k.startswith("ckpt_") else 0)) for k in keys}
    return _finish(labels, arrays, config, d, _spec(config, d))


experiment("remedies", REMEDIES, ControlsResult, "bias regularizer and one batch-norm layer in plain nets, alone "
           "and together", "10_remedies")(run_remedies)


def run_skip_strength(config, ctx):
    d = load_data(config)
    members = [Member("residual", seed, alpha=float(a)) for a in config.alphas for seed in config.seeds]
    labels = [f"alpha={float(a):g}" for a in config.alphas for _ in config.seeds]
    spec = _spec(config, d)
    arrays = run_batch(config, spec, members, d, [0, config.steps], ctx)
    arrays["alpha"] = np.array([m.alpha for m in members])
    return _finish(labels, arrays, config, d, spec)


experiment("skip_strength", SKIP_STRENGTH, ControlsResult, "residual nets with skip strength alpha from 0 to 1",
           "10_remedies")(run_skip_strength)
