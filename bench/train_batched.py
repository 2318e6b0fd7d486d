"""Benchmark: N nets trained in one batched computation vs the same N nets trained one after another.

The sequential baseline is what one would otherwise write: an ordinary nn.Module per net (`models.MLP`),
torch.optim.Adam, a Python loop over nets. Same data, same minibatches, same steps. Prints throughput
(net-steps per second) and the ratio. Run: `.venv/bin/python bench/train_batched.py [--steps 100]`.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from skiplessons import data, models, train


def batched(spec, members, d, steps, batch_size):
    net = models.DeepMLPs(spec, members)
    t0 = time.perf_counter()
    train.train(net, d, steps=steps, batch_size=batch_size, record_every=steps, eval_size=1, progress=False)
    return time.perf_counter() - t0


def sequential(spec, members, d, steps, batch_size):
    t0 = time.perf_counter()
    for member in members:
        mlp = models.MLP(spec, member)
        opt = torch.optim.Adam(mlp.parameters(), lr=1e-3)
        for t in range(steps):
            idx = torch.as_tensor(train._batches(len(d.x_train), batch_size, 0, t))
            loss = F.cross_entropy(mlp(d.x_train[idx]), d.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=128)
    args = p.parse_args()
    d = data.mnist1d(n_samples=5000)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, MNIST-1D, batch {args.batch_size}, "
          f"{args.steps} steps per net")
    for n_nets, depth, width in ((8, 30, 64), (32, 10, 32)):
        spec = models.NetSpec(d.d_in, 10, depth=depth, width=width)
        members = [models.Member("residual", s) for s in range(n_nets)]
        batched(spec, members[:2], d, 5, args.batch_size)  # warm-up
        tb = batched(spec, members, d, args.steps, args.batch_size)
        ts = sequential(spec, members, d, args.steps, args.batch_size)
        rate = lambda t: n_nets * args.steps / t  # noqa: E731
        print(f"N={n_nets:3d} depth={depth:2d} width={width:3d}: batched {rate(tb):8.0f} net-steps/s, "
              f"sequential {rate(ts):8.0f} net-steps/s, ratio {ts / tb:5.1f}x")


if __name__ == "__main__":
    main()
