"""Part III experiments: deep plain, residual and hyper-residual nets — training on a second data set,
degeneracy during training, and a depth sweep (chapters III.1 and III.2).

The rank trap decides the sizes of the degeneracy experiments: the Gauss-Newton part of the Hessian over N
samples and C classes has rank <= N*C, so fractions are compared only where N*C is well above the parameter
count P. At `default` the nets are deep and *narrow* (depth 30, width 8: P = 2,506) and the Hessian uses
N = 1,000 training examples (N*C = 10,000 = 4P); at `paper` width 16 on CIFAR-100 (P ~ 59k, N*C = 500k).
Every setting is our choice (see the chapters).
"""
from __future__ import annotations

import numpy as np
import torch

from .. import degeneracy as dg
from ..env import device
from ..models import DeepMLPs, Member, NetSpec
from ..env import one_thread
from ..train import train
from . import experiment
from .training import ARCHS, load_data, summarize
from .training import run as run_training

#: settings shared by the degeneracy experiments at each scale (SLQ sizes, tolerances)
SPECTRUM = {"method": "auto", "dense_max": dg.DENSE_MAX, "n_probes": 4, "n_steps": 40, "tols": list(dg.TOLS),
             "neg_tol": 1e-3}

DEGENERACY = {
    "smoke": dict(data="mnist1d", n_samples=600, data_dir="data", depth=4, width=6, archs=ARCHS, seeds=[0, 1],
                  steps=20, lr=3e-3, batch_size=64, record_every=10, checkpoints=3, hessian_samples=100,
                  spectrum={**SPECTRUM, "n_steps": 10}),
    "default": dict(data="mnist1d", n_samples=5000, data_dir="data", depth=30, width=8, archs=ARCHS,
                    seeds=[0, 1, 2], steps=1500, lr=3e-3, batch_size=128, record_every=50, checkpoints=4,
                    hessian_samples=1000, spectrum=SPECTRUM),
    "paper": dict(data="cifar100", n_samples=100_000, data_dir="data", depth=30, width=16, archs=ARCHS,
                  seeds=list(range(10)), steps=5000, lr=1e-3, batch_size=128, record_every=250, checkpoints=5,
                  hessian_samples=5000, spectrum={**SPECTRUM, "n_probes": 10, "n_steps": 100}),
}

DEPTH_SWEEP = {
    "smoke": dict(data="mnist1d", n_samples=600, data_dir="data", depths=[2, 4], width=6,
                  archs=["plain", "residual"], seeds=[0], steps=20, lr=3e-3, batch_size=64, hessian_samples=100,
                  spectrum={**SPECTRUM, "n_steps": 10}),
    "default": dict(data="mnist1d", n_samples=5000, data_dir="data", depths=[2, 4, 8, 16, 30], width=8,
                    archs=["plain", "residual"], seeds=[0, 1], steps=1000, lr=3e-3, batch_size=128,
                    hessian_samples=1000, spectrum=SPECTRUM),
    "paper": dict(data="cifar100", n_samples=100_000, data_dir="data", depths=[2, 4, 8, 16, 30, 50], width=16,
                  archs=["plain", "residual"], seeds=list(range(5)), steps=2500, lr=1e-3, batch_size=128,
                  hessian_samples=5000, spectrum={**SPECTRUM, "n_probes": 10, "n_steps": 100}),
}

TRAINING_DIGITS = {
    "smoke": dict(data="digits", n_samples=0, data_dir="data", depth=4, width=16, archs=ARCHS, seeds=[0],
                  steps=20, lr=1e-3, batch_size=64, record_every=10, dtype="float32"),
    "default": dict(data="digits", n_samples=0, data_dir="data", depth=30, width=32, archs=ARCHS,
                    seeds=[0, 1, 2], steps=400, lr=1e-3, batch_size=128, record_every=25, dtype="float32"),
    "paper": dict(data="digits", n_samples=0, data_dir="data", depth=30, width=128, archs=ARCHS,
                  seeds=list(range(10)), steps=5000, lr=1e-3, batch_size=128, record_every=250, dtype="float32"),
}


def _nets(config, d, depth=None, archs=None):
    spec = NetSpec(d.d_in, d.n_classes, depth=depth or config["depth"], width=config["width"])
    members = [Member(arch, seed) for arch in archs or config["archs"] for seed in config["seeds"]]
    return DeepMLPs(spec, members, device=device())


def _hessian_batch(config, d):
    n = config["hessian_samples"]
    if n > len(d.x_train):
        raise ValueError(f"hessian_samples={n} exceeds the {len(d.x_train)} training examples of {d.name}")
    return d.x_train[:n], d.y_train[:n]


def _labels(net):
    return {"arch": np.array([m.arch for m in net.members]), "seed": np.array([m.seed for m in net.members])}


@experiment("training_digits", TRAINING_DIGITS, "the training experiment on scikit-learn digits", "07_training_deep")
def run_digits(config, checkpoints=None):
    with one_thread():                  # these small nets run faster on one thread than on two busy ones
        return run_training(config, checkpoints)


@experiment("degeneracy", DEGENERACY, "Hessian spectra and layer singularities of deep narrow nets during training",
            "08_degeneracy")
def run_degeneracy(config):
    d = load_data(config)
    net = _nets(config, d)
    x, y = _hessian_batch(config, d)
    settings = dg.SpectrumSettings(**{**config["spectrum"], "tols": tuple(config["spectrum"]["tols"])})
    steps = dg.checkpoint_steps(config["steps"], config["checkpoints"])
    with one_thread():
        hist, tracked = dg.train_tracked(net, d, config["steps"], steps, x, y, settings, lr=config["lr"],
                                         batch_size=config["batch_size"], record_every=config["record_every"])
    arrays = {**hist.arrays(), **tracked.arrays("ckpt_"), **_labels(net)}
    summary = summarize(net.members, arrays)
    final = tracked.values
    for arch in dict.fromkeys(m.arch for m in net.members):
        idx = arrays["arch"] == arch
        summary[f"{arch}_degenerate"] = final["degenerate"][-1][idx].mean(0).tolist()
        summary[f"{arch}_negative"] = float(final["negative"][-1][idx].mean())
        summary[f"{arch}_elimination"] = float(final["elimination"][-1][idx].mean())
    summary.update(data=d.name, n_params=net.n_params(), tols=list(settings.tols),
                   method=settings.choose(net.n_params()), rank_bound=float(final["rank_bound"][-1][0]))
    return summary, arrays


@experiment("depth_sweep", DEPTH_SWEEP, "accuracy and degeneracy of plain and residual nets against depth",
            "07_training_deep")
def run_depth_sweep(config):
    d = load_data(config)
    x, y = _hessian_batch(config, d)
    settings = dg.SpectrumSettings(**{**config["spectrum"], "tols": tuple(config["spectrum"]["tols"])})
    rows = {k: [] for k in ("acc", "loss", "degenerate", "negative", "rank_bound", "elimination", "n_params")}
    with one_thread():
        for depth in config["depths"]:
            net = _nets(config, d, depth=depth)
            hist = train(net, d, config["steps"], lr=config["lr"], batch_size=config["batch_size"],
                         record_every=config["steps"]).arrays()
            m = dg.measure(net, x, y, settings)
            rows["acc"].append(hist["acc"][:, -1])
            rows["loss"].append(hist["loss"][:, -1])
            for k in ("degenerate", "negative", "rank_bound"):
                rows[k].append(m[k])
            rows["elimination"].append(m["elimination"].mean(1))
            rows["n_params"].append(np.full(len(net), net.n_params()))
    arrays = {k: np.stack(v) for k, v in rows.items()}          # (depths, nets, ...)
    arrays.update(depth=np.asarray(config["depths"]), **_labels(net))
    summary = {"data": d.name, "tols": list(settings.tols)}
    for arch in config["archs"]:
        idx = arrays["arch"] == arch
        summary[f"{arch}_acc"] = arrays["acc"][:, idx].mean(1).tolist()
        summary[f"{arch}_degenerate"] = arrays["degenerate"][:, idx].mean(1).tolist()
    return summary, arrays
