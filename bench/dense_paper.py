"""Time the exact dense path of experiment `exact_zeros` on one net of the paper's `degeneracy` size.

One depth-30 width-16 ReLU net per architecture (MNIST-1D's 40 inputs and 10 classes: P = 8,714), float64,
one thread, on `--samples` inputs: the Hessian and Gauss-Newton matrix assembled layer pair by layer pair
(`layered_curvature.assemble`), each spectrum by `eigvalsh`, and, for comparison, `--hvps` columns of the
Hessian from `curvature.dense_hessian`'s route (batched Hessian-vector products, `jacrev(grad)`), scaled up to
all P columns. Prints wall and CPU seconds (on a machine shared with other jobs the CPU time is the steadier
number) and the estimate for the whole paper run (30 nets, two checkpoints).

    python bench/dense_paper.py --samples 5000 --hvps 32
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.func import grad, vjp, vmap

from skiplessons.curvature import flat_fn, loss_value
from skiplessons.layered_curvature import assemble
from skiplessons.models import DeepMLPs, Member, NetSpec


class Clock:
    """Wall and process CPU seconds of a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def hvp_columns(model, x, y, n):
    """Seconds for n Hessian columns by batched reverse-over-reverse products (dense_hessian's route)."""
    theta, f = flat_fn(model)
    _, pull = vjp(grad(lambda t: loss_value(f(t, x), y, "ce")), theta)
    with Clock() as c:
        vmap(pull)(torch.eye(theta.numel(), dtype=theta.dtype)[:n])
    return c, theta.numel()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--hvps", type=int, default=32, help="Hessian columns timed on the HVP route (0: skip)")
    ap.add_argument("--archs", nargs="+", default=["plain", "residual", "hyper"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.samples, 40, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 10, (args.samples,), generator=gen)
    total = 0.0
    for arch in args.archs:
        model = DeepMLPs(NetSpec(40, 10, depth=30, width=16), [Member(arch, 0)]).member(0).double()
        with Clock() as build:
            hess, ggn = assemble(model, x, y)
        with Clock() as eig:
            torch.linalg.eigvalsh(hess)
            torch.linalg.eigvalsh(ggn)
        per_net = build.cpu + eig.cpu
        total += per_net
        print(f"{arch:9s} P={hess.shape[0]:,} N={args.samples:,}: assemble {build.wall:6.1f} s wall "
              f"{build.cpu:6.1f} s CPU; two eigvalsh {eig.wall:6.1f} s wall {eig.cpu:6.1f} s CPU", flush=True)
        if args.hvps:
            c, p = hvp_columns(model, x, y, args.hvps)
            print(f"{'':9s} HVP route: {args.hvps} columns {c.cpu:.1f} s CPU -> the Hessian {c.cpu * p / args.hvps:,.0f} "
                  f"s CPU ({c.cpu * p / args.hvps / build.cpu:.0f}x the assembly)", flush=True)
    mean = total / len(args.archs)
    print(f"per net and checkpoint {mean:.0f} s CPU; 30 nets x 2 checkpoints {60 * mean / 3600:.2f} h of one core")


if __name__ == "__main__":
    main()
