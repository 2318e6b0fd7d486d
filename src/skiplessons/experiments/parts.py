"""What the deep-net experiments are made of (Parts III-V): the data a config names, the nets of a config,
the fixed batch the Hessians are measured on and the steps at which a run measures. An experiment module
takes these from here, never from another experiment's module.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import data as _data
from ..models import DeepMLPs, Member, NetSpec
from ..results import results_dir


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


def nets(config, d: _data.Dataset, device=None, depth: int | None = None, width: int | None = None,
         dtype=torch.float32) -> DeepMLPs:
    """The nets of a config on data `d`: every architecture x seed (`members`) at `config.depth` (or `depth`)
    and `config.width` (or `width`: a sweep's config has none), as one `DeepMLPs` batch."""
    spec = NetSpec(d.d_in, d.n_classes, depth=config.depth if depth is None else depth,
                   width=config.width if width is None else width)
    return DeepMLPs(spec, members(config), dtype=dtype, device=device)


def labels(net) -> dict[str, np.ndarray]:
    """The nets' architectures and seeds, stored with every result."""
    return {"arch": np.array([m.arch for m in net.members]), "seed": np.array([m.seed for m in net.members])}


def hessian_batch(config, d: _data.Dataset, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `hessian_samples` (or `n`) training examples: the fixed batch every Hessian is measured on."""
    n = config.hessian_samples if n is None else n
    if n > len(d.x_train):
        raise ValueError(f"hessian_samples={n} exceeds the {len(d.x_train)} training examples of {d.name}")
    return d.x_train[:n], d.y_train[:n]


def checkpoint_steps(steps: int, n: int) -> list[int]:
    """`n` >= 2 measurement steps from 0 to `steps`, each the double of the one before (early training changes
    fastest): the schedule of a config's `checkpoints`."""
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n={n!r} must be an integer >= 2 (the first and last step are always measured)")
    if not isinstance(steps, int) or steps < n - 1:
        raise ValueError(f"steps={steps!r} must be an integer >= n - 1 = {n - 1}")
    inner = np.geomspace(max(steps / 2 ** (n - 2), 1), steps, n - 1)      # halving back from the end
    out = sorted({0, *map(int, np.round(inner)), steps})
    while len(out) < n:                             # rounding merged two: fill the largest gap
        i = int(np.argmax(np.diff(out)))
        out.insert(i + 1, (out[i] + out[i + 1]) // 2)
    return out[:n - 1] + [steps]
