"""Experiment `training`: plain, residual and hyper-residual nets of depth 30, trained together over seeds.

The headline of the book (chapter 0) and the first experiment of Part III. Every setting is our choice
(the paper's optimizer, schedule and initialization are not known): Adam, constant learning rate, minibatches
of 128, the initialization documented in `skiplessons.models`.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import data as _data
from ..env import device, one_thread
from ..models import DeepMLPs, Member, NetSpec
from ..train import train
from . import experiment

ARCHS = ["plain", "residual", "hyper"]

SIZES = {
    "smoke": dict(data="mnist1d", n_samples=600, data_dir="data", depth=4, width=16, archs=ARCHS, seeds=[0, 1],
                  steps=30, lr=1e-3, batch_size=64, record_every=10, dtype="float32"),
    "default": dict(data="mnist1d", n_samples=5000, data_dir="data", depth=30, width=64, archs=ARCHS,
                    seeds=[0, 1, 2, 3], steps=1200, lr=1e-3, batch_size=128, record_every=50, dtype="float32"),
    "paper": dict(data="cifar100", n_samples=100_000, data_dir="data", depth=30, width=128, archs=ARCHS,
                  seeds=list(range(10)), steps=20_000, lr=1e-3, batch_size=128, record_every=500,
                  dtype="float32"),
}


def load_data(config) -> _data.Dataset:
    """The data set a config names; MNIST-1D's size is `n_samples`, CIFAR's is fixed."""
    name = config["data"]
    if name == "mnist1d":
        return _data.mnist1d(n_samples=config["n_samples"])
    if name.startswith("cifar"):
        return _data.cifar(name, root=config["data_dir"])
    return _data.load(name)


def build(config, d: _data.Dataset) -> DeepMLPs:
    """The batch of nets a config describes: every arch x every seed."""
    spec = NetSpec(d.d_in, d.n_classes, depth=config["depth"], width=config["width"])
    members = [Member(arch, seed) for arch in config["archs"] for seed in config["seeds"]]
    return DeepMLPs(spec, members, dtype=getattr(torch, config["dtype"]), device=device())


def summarize(members, hist_arrays) -> dict:
    """Final training and test accuracy per arch: mean, std, min, max over the seeds that trained to the end;
    nets dropped for a non-finite loss are listed under `failed` with their step (and left out of the stats)."""
    out = {}
    failed = hist_arrays.get("failed_step", np.full(len(members), -1))
    for arch in dict.fromkeys(m.arch for m in members):
        idx = [i for i, m in enumerate(members) if m.arch == arch and failed[i] < 0]
        for key in ("acc", "test_acc", "loss"):
            v = hist_arrays[key][idx, -1] if idx else np.full(1, np.nan)
            out[f"{arch}_{key}"] = {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()),
                                    "max": float(v.max())}
    if (failed >= 0).any():
        out["failed"] = [{"net": i, "label": members[i].label, "step": int(failed[i])}
                         for i in np.flatnonzero(failed >= 0)]
    return out


@experiment("training", SIZES, "plain vs residual vs hyper-residual deep MLPs over seeds", "00_headline")
def run(config, checkpoints=None):
    d = load_data(config)
    net = build(config, d)
    with one_thread():              # 10x faster than two threads on a busy 2-core machine (bench/threads.py)
        hist = train(net, d, steps=config["steps"], lr=config["lr"], batch_size=config["batch_size"],
                     record_every=config["record_every"], on_nonfinite="drop",
                     checkpoint=checkpoints.path("train") if checkpoints else None)
    arrays = hist.arrays()
    arrays["arch"] = np.array([m.arch for m in net.members])
    arrays["seed"] = np.array([m.seed for m in net.members])
    summary = summarize(net.members, arrays)
    summary["data"] = d.name
    summary["n_params"] = net.n_params()
    return summary, arrays
