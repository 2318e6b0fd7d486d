"""Benchmark: torch intra-op threads (1 vs 2) for the book's batched training, on a quiet and a busy machine.

For each workload (the batched nets of an experiment at `default` scale) it times training steps with torch on
one and on two threads, first as the machine is, then with `--load N` competing busy-loop processes (started
and stopped by this script). Prints milliseconds per step (median of `--repeats` runs) and the load average.
Run from the repository root: `.venv/bin/python bench/threads.py [--steps 20] [--load 2]`.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import torch

from skiplessons import data, models, train

#: (name, depth, width, nets): the batched nets of `training` and `degeneracy` at default scale
WORKLOADS = [("training default (30 x 64, 12 nets)", 30, 64, 12),
             ("degeneracy default (30 x 8, 9 nets)", 30, 8, 9)]


def ms_per_step(d, depth, width, nets, steps, threads) -> float:
    torch.set_num_threads(threads)
    members = [models.Member(("plain", "residual", "hyper")[i % 3], i // 3) for i in range(nets)]
    net = models.DeepMLPs(models.NetSpec(d.d_in, d.n_classes, depth=depth, width=width), members)
    train.train(net, d, steps=3, record_every=3, eval_size=1, progress=False)          # warm-up
    t0 = time.perf_counter()
    train.train(net, d, steps=steps, record_every=steps, eval_size=1, progress=False)
    return 1000 * (time.perf_counter() - t0) / steps


def table(d, steps, repeats, label):
    print(f"\n{label} (load average {os.getloadavg()[0]:.1f}):")
    for name, depth, width, nets in WORKLOADS:
        res = {t: statistics.median(ms_per_step(d, depth, width, nets, steps, t) for _ in range(repeats))
               for t in (1, 2)}
        print(f"  {name:42s} 1 thread {res[1]:8.1f} ms/step   2 threads {res[2]:8.1f} ms/step   "
              f"(2 / 1 = {res[2] / res[1]:.2f})", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--load", type=int, default=2, help="competing busy-loop processes for the second table")
    args = p.parse_args()
    d = data.mnist1d(n_samples=5000)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, default threads {torch.get_num_threads()}")
    table(d, args.steps, args.repeats, "as the machine is")
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    try:
        time.sleep(1)
        table(d, args.steps, args.repeats, f"with {args.load} competing busy-loop processes")
    finally:
        for h in hogs:
            h.kill()
            h.wait()


if __name__ == "__main__":
    main()
