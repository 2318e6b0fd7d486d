"""Benchmark: steps per second of the paper-scale `training` experiment (30 nets of depth 30, width 128,
minibatch 128, every architecture x seed in one batch) on this machine, and the fraction of the device's
float32 matrix-multiply throughput it reaches.

The arithmetic of one training step is about 6 x (parameters of all nets) x (minibatch) floating-point
operations (forward 2, backward 4); the device's float32 limit is measured here with a large square matmul.
On a GPU the step is launch-bound (hundreds of small kernels per step), on a CPU it is compute-bound, and
the printed ratio says which. On a GPU it times both step modes of `train`
(eager, and the step captured as a CUDA graph). Run: `.venv/bin/python bench/paper_step.py [--steps 20]
[--device cpu|cuda]`.
"""
from __future__ import annotations

import argparse
import time

import torch

from skiplessons import data, train
from skiplessons.env import pick_device
from skiplessons.experiments import config_for
from skiplessons.experiments.parts import members
from skiplessons.models import DeepMLPs, NetSpec


def matmul_flops(device: torch.device, n: int = 4096, repeats: int = 5) -> float:
    """Measured float32 FLOP/s of an n x n matmul on `device` (best of `repeats`)."""
    a, b = (torch.randn(n, n, device=device) for _ in range(2))
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def seconds_per_step(net, d, config, mode: str, steps: int) -> float:
    """Wall time of one training step in `mode`: the difference of a run of 3 + `steps` steps and one of 3,
    so that fixed costs (warm-up, graph capture, the two evaluations) cancel."""
    kwargs = dict(lr=config.lr, batch_size=config.batch_size, eval_size=1, progress=False, step_mode=mode)
    train.train(net, d, steps=3, record_every=3, **kwargs)          # warm-up: CUDA context, kernels, caches
    times = []
    for n in (3, 3 + steps):
        if net.W.is_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        train.train(net, d, steps=n, record_every=n, **kwargs)
        if net.W.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return (times[1] - times[0]) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per mode")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: CUDA when present")
    args = parser.parse_args()
    device = pick_device(args.device)
    config = config_for("training", "paper", data="mnist1d", n_samples=10_000)
    d = data.mnist1d(n_samples=config.n_samples)
    net = DeepMLPs(NetSpec(d.d_in, d.n_classes, depth=config.depth, width=config.width), members(config),
                   device=device)
    peak = matmul_flops(device)
    print(f"device {device} ({torch.get_num_threads()} threads); {len(net)} nets x {net.n_params():,} parameters, "
          f"minibatch {config.batch_size}; float32 matmul limit {peak / 1e9:.1f} GFLOP/s")
    modes = ("eager", "graph") if device.type == "cuda" else ("eager",)
    rates = {}
    for mode in modes:
        per_step = seconds_per_step(net, d, config, mode, args.steps)
        rates[mode] = 1 / per_step
        flops = 6 * net.n_params() * len(net) * config.batch_size / per_step
        print(f"{mode:>5}: {1 / per_step:8.1f} steps/s ({per_step * 1e3:6.2f} ms/step); {flops / 1e9:8.1f} GFLOP/s; "
              f"ratio to the limit {flops / peak:.4f}; the paper's {config.steps:,} steps: "
              f"{config.steps * per_step / 60:.1f} min")
    if "graph" in rates:
        print(f"graph / eager: {rates['graph'] / rates['eager']:.1f}x")


if __name__ == "__main__":
    main()
