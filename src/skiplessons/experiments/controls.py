"""Part IV experiments: is the benefit of skip connections just initialization? (chapters IV.1 and IV.2)

- `init_controls` (IV.1): plain and residual nets, residual nets with the malicious initialization, plain nets
  with the identity-plus-noise and the orthogonal initialization -- all in one batch, with the Hessian's
  degenerate and negative fractions and the per-layer elimination measure tracked at checkpoints.
- `remedies` (IV.2): plain nets with the bias regularizer, with one batch-normalization layer, with both, and
  without either (two batches: nets with and without the BN layer differ in shape).
- `skip_strength` (IV.2): residual nets with skip strength alpha from 0 (plain) to 1 (residual), one batch.

Every setting is ours (the paper gives none of them). The nets, optimizer and Hessian measurement are those of
Part III's `degeneracy` experiment (`experiments.deep`, measured with `skiplessons.degeneracy`): deep and
narrow (depth 30, width 8 at `default`, P = 2,506) with the Hessian on N = 1,000 training points, so that the
Gauss-Newton rank bound N * C = 10,000 >> P forces no eigenvalue to zero and a degenerate fraction measures the
net, not the data size (the rank trap of Part III).
"""
from __future__ import annotations

import numpy as np
import torch

from .. import degeneracy as dg
from ..env import device
from ..models import DeepMLPs, Member, NetSpec
from ..regularizers import BiasRegularizer
from ..env import one_thread
from . import experiment
from .deep import SPECTRUM
from .training import load_data

#: the conditions of `init_controls`: (label, arch, init)
INIT_CONDITIONS = [("plain", "plain", "default"), ("residual", "residual", "default"),
                   ("residual, malicious", "residual", "malicious"), ("plain, identity+noise", "plain", "identity"),
                   ("plain, orthogonal", "plain", "orthogonal")]
#: the conditions of `remedies`: (label, batch norm?, bias regularizer?)
REMEDY_CONDITIONS = [("plain", False, False), ("plain + bias reg.", False, True), ("plain + BN", True, False),
                     ("plain + BN + bias reg.", True, True)]
#: the tolerance of the degenerate fraction quoted in summaries (the others are stored too)
MAIN_TOL = 1e-3

#: sizes shared by the three experiments; the same nets, optimizer and Hessian batch as Part III's
#: `degeneracy` experiment, so that its conditions and ours can share one table
_BASE = {
    "smoke": dict(data="mnist1d", n_samples=600, data_dir="data", depth=4, width=6, seeds=[0], steps=20,
                  lr=3e-3, batch_size=64, record_every=10, hessian_samples=100,
                  spectrum={**SPECTRUM, "n_steps": 10}),
    "default": dict(data="mnist1d", n_samples=5000, data_dir="data", depth=30, width=8, seeds=[0, 1, 2],
                    steps=1500, lr=3e-3, batch_size=128, record_every=50, hessian_samples=1000,
                    spectrum=SPECTRUM),
    "paper": dict(data="cifar100", n_samples=100_000, data_dir="data", depth=30, width=16,
                  seeds=list(range(10)), steps=20_000, lr=1e-3, batch_size=128, record_every=500,
                  hessian_samples=5000, spectrum={**SPECTRUM, "n_probes": 10, "n_steps": 100}),
}


def _sizes(**extra_per_scale) -> dict:
    return {s: {**_BASE[s], **extra_per_scale.get(s, {})} for s in _BASE}


def run_batch(config: dict, spec: NetSpec, members: list[Member], d, checkpoints, regularizer=None) -> dict:
    """Train one batch of nets (`train.train` through `degeneracy.train_tracked`) and measure every net's
    Hessian spectrum and layer singularities at `checkpoints` (steps). Returns the curves and the measurements
    (keys "ckpt_*", shape (checkpoints, nets, ...))."""
    net = DeepMLPs(spec, members, device=device())
    n = config["hessian_samples"]
    x, y = d.x_train[:n], d.y_train[:n]
    settings = dg.SpectrumSettings(**{**config["spectrum"], "tols": tuple(config["spectrum"]["tols"])})
    with one_thread():                  # these small nets run faster on one thread than on two busy ones
        hist, tracked = dg.train_tracked(net, d, config["steps"], checkpoints, x, y, settings, lr=config["lr"],
                                         batch_size=config["batch_size"], record_every=config["record_every"],
                                         regularizer=regularizer)
    return {**hist.arrays(), **tracked.arrays("ckpt_")}


def summarize(labels, arrays, tols) -> dict:
    """Per condition: final training accuracy over seeds (mean, std, min, max) and the final degenerate
    (at `MAIN_TOL`) and negative fractions (mean, std)."""
    labels = np.asarray(labels)
    k = list(tols).index(MAIN_TOL)
    out = {}
    for lab in dict.fromkeys(labels.tolist()):
        rows = labels == lab
        acc = arrays["acc"][rows, -1]
        deg = arrays["ckpt_degenerate"][-1, rows, k]
        neg = arrays["ckpt_negative"][-1, rows]
        out[lab] = {"acc_mean": float(acc.mean()), "acc_std": float(acc.std()), "acc_min": float(acc.min()),
                    "acc_max": float(acc.max()), "degenerate_mean": float(deg.mean()),
                    "degenerate_std": float(deg.std()), "negative_mean": float(neg.mean()),
                    "negative_std": float(neg.std())}
    return out


def _spec(config, d, bn_layer=None) -> NetSpec:
    return NetSpec(d.d_in, d.n_classes, depth=config["depth"], width=config["width"], bn_layer=bn_layer)


def _finish(labels, arrays, config, d, spec) -> tuple[dict, dict]:
    arrays["condition"] = np.asarray(labels)
    tols = list(config["spectrum"]["tols"])
    summary = {"conditions": summarize(labels, arrays, tols), "data": d.name, "tols": tols, "main_tol": MAIN_TOL,
               "n_params": DeepMLPs(spec, [Member("plain")]).n_params(),
               "rank_bound": float(arrays["ckpt_rank_bound"][-1, 0])}
    return summary, arrays


# ------------------------------------------------------------------------------------------ experiments

INIT_SIZES = _sizes(smoke=dict(checkpoints=3), default=dict(checkpoints=3), paper=dict(checkpoints=6))


@experiment("init_controls", INIT_SIZES, "malicious init of residual nets; identity and orthogonal init of "
            "plain nets", "09_initialization")
def run_init_controls(config):
    d = load_data(config)
    members = [Member(arch, seed, init=init) for _, arch, init in INIT_CONDITIONS for seed in config["seeds"]]
    labels = [lab for lab, _, _ in INIT_CONDITIONS for _ in config["seeds"]]
    spec = _spec(config, d)
    arrays = run_batch(config, spec, members, d, dg.checkpoint_steps(config["steps"], config["checkpoints"]))
    return _finish(labels, arrays, config, d, spec)


REMEDY_SIZES = _sizes(**{s: dict(bn_layer=max(_BASE[s]["depth"] // 2, 1), reg_strength=1.0, reg_margin=0.1,
                                 reg_probe=128) for s in _BASE})


@experiment("remedies", REMEDY_SIZES, "bias regularizer and one batch-norm layer in plain nets, alone and "
            "together", "10_remedies")
def run_remedies(config):
    d = load_data(config)
    probe = d.x_train[-config["reg_probe"]:]   # the regularizer's probe batch: the last training points (ours)
    parts, labels = [], []
    for bn in (False, True):                   # nets with and without the BN layer differ in shape: two batches
        conds = [c for c in REMEDY_CONDITIONS if c[1] == bn]
        members = [Member("plain", seed) for _ in conds for seed in config["seeds"]]
        mask = torch.tensor([reg for _, _, reg in conds for _ in config["seeds"]])
        reg = BiasRegularizer(probe, config["reg_strength"], config["reg_margin"], members=mask)
        spec = _spec(config, d, config["bn_layer"] if bn else None)
        parts.append(run_batch(config, spec, members, d, [0, config["steps"]], regularizer=reg))
        labels += [lab for lab, _, _ in conds for _ in config["seeds"]]
    # spectra (nodes, weights) are not kept: their sizes differ between the two batches (the BN gains)
    keys = [k for k in parts[0] if k not in ("ckpt_nodes", "ckpt_weights")]
    arrays = {k: (parts[0][k] if k in ("step", "ckpt_step") else
                  np.concatenate([p[k] for p in parts], axis=1 if k.startswith("ckpt_") else 0)) for k in keys}
    return _finish(labels, arrays, config, d, _spec(config, d))


ALPHA_SIZES = _sizes(smoke=dict(alphas=[0.0, 1.0]), default=dict(alphas=[0.0, 0.25, 0.5, 0.75, 1.0]),
                     paper=dict(alphas=[0.0, 0.125, 0.25, 0.5, 0.75, 1.0]))


@experiment("skip_strength", ALPHA_SIZES, "residual nets with skip strength alpha from 0 to 1",
            "10_remedies")
def run_skip_strength(config):
    d = load_data(config)
    members = [Member("residual", seed, alpha=float(a)) for a in config["alphas"] for seed in config["seeds"]]
    labels = [f"alpha={float(a):g}" for a in config["alphas"] for _ in config["seeds"]]
    spec = _spec(config, d)
    arrays = run_batch(config, spec, members, d, [0, config["steps"]])
    arrays["alpha"] = np.array([m.alpha for m in members])
    return _finish(labels, arrays, config, d, spec)
