"""Experiment `training`: plain, residual and hyper-residual nets of depth 30, trained together over seeds.

The headline of the book (chapter 0) and the first experiment of Part III. Every setting is our choice
(the paper's optimizer, schedule and initialization are not known): Adam, constant learning rate, minibatches
of 128, the initialization documented in `skiplessons.models`. Sizes: `configs.TRAINING`.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import data as _data
from ..env import one_thread
from ..models import DeepMLPs, Member, NetSpec
from ..results import results_dir
from ..train import train
from . import experiment
from .configs import TRAINING
from .views import ResultView


class TrainingResult(ResultView):
    """Curves of every net (`curves`, `final`) grouped by architecture; `n_params` per net."""


def load_data(config) -> _data.Dataset:
    """The data set a config names; MNIST-1D's size is `n_samples` (generated once, kept with the results),
    CIFAR's is fixed."""
    if config.data == "mnist1d":
        return _data.mnist1d(n_samples=config.n_samples, cache=results_dir() / "data")
    if config.data.startswith("cifar"):
        return _data.cifar(config.data, root=config.data_dir)
    return _data.load(config.data)


def members(config) -> list[Member]:
    """Every architecture x every seed of a config, in that order."""
    return [Member(arch, seed) for arch in config.archs for seed in config.seeds]


def labels(net) -> dict[str, np.ndarray]:
    """The nets' architectures and seeds, stored with every result."""
    return {"arch": np.array([m.arch for m in net.members]), "seed": np.array([m.seed for m in net.members])}


def run_training(config, ctx) -> tuple[dict, dict]:
    """Train every architecture x seed of `config` in one batch; the curves and the final numbers per net."""
    d = load_data(config)
    spec = NetSpec(d.d_in, d.n_classes, depth=config.depth, width=config.width)
    net = DeepMLPs(spec, members(config), dtype=getattr(torch, config.dtype), device=ctx.device)
    return train_batch(net, d, config, ctx)


def train_batch(net: DeepMLPs, d: _data.Dataset, config, ctx) -> tuple[dict, dict]:
    """Train the nets of `net` together on `d` with `config`'s steps, rate, minibatches and recording (a net
    whose loss turns non-finite is dropped and named in the summary); (summary, arrays) of curves and labels."""
    with one_thread():              # 10x faster than two threads on a busy 2-core machine (bench/threads.py)
        hist = train(net, d, steps=config.steps, lr=config.lr, batch_size=config.batch_size,
                     record_every=config.record_every, progress=ctx.progress, on_nonfinite="drop",
                     checkpoint=ctx.checkpoint("train"))
    arrays = {**hist.arrays(), **labels(net)}
    summary = {"data": d.name, "n_classes": d.n_classes, "n_params": net.n_params()}
    if hist.failed:                 # nets dropped for a non-finite loss: their curves are NaN from that step
        summary["failed"] = [{"net": m, "label": net.members[m].label, "step": s} for m, s in sorted(hist.failed.items())]
    return summary, arrays


experiment("training", TRAINING, TrainingResult, "plain vs residual vs hyper-residual deep MLPs over seeds",
           "00_headline")(run_training)
