"""Experiment `training`: plain, residual and hyper-residual nets of depth 30, trained together over seeds.

The headline of the book (chapter 0) and the first experiment of Part III. Every setting is our choice
(the paper's optimizer, schedule and initialization are not known): Adam, constant learning rate, minibatches
of 128, the initialization documented in `skiplessons.models`. Sizes: `configs.TRAINING`.
"""
from __future__ import annotations

import torch

from .. import data as _data
from ..env import one_thread
from ..models import DeepMLPs
from ..train import train
from . import experiment
from .configs import TRAINING
from .parts import labels, load_data, nets
from .views import ResultView


class TrainingResult(ResultView):
    """Curves of every net (`curves`, `final`) grouped by architecture; `n_params` per net."""


def run_training(config, ctx) -> tuple[dict, dict]:
    """Train every architecture x seed of `config` in one batch; the curves and the final numbers per net."""
    d = load_data(config)
    return train_batch(nets(config, d, ctx.device, dtype=getattr(torch, config.dtype)), d, config, ctx)


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
