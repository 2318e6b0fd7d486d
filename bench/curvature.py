"""Benchmark skiplessons.curvature against PyHessian and hessian-eigenthings on one model and one batch.

Prints, side by side in one process: top-10 Hessian eigenvalues (time and relative error against a float64
reference), an SLQ spectral density, one Hessian-vector product, our 100-step SLQ against 100 bare HVPs,
the dense Hessian against torch.func.hessian, and the time of SLQ on a depth-30, width-128 net with 1,000
samples. Setup: bench/README.md. Timings are the best of --repeats runs, each method interleaved.
"""
from __future__ import annotations

import argparse
import importlib.metadata as md
import sys
import time

import numpy as np
import scipy.sparse.linalg as sla
import torch

from skiplessons.curvature import dense_hessian, flat_fn, hvp_operator, lanczos_eigs, loss_value, slq


def mlp(din, width, depth, classes, dtype, seed=0):
    """A plain ReLU MLP with `depth` hidden layers (PyTorch's default initialization)."""
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(din, width), torch.nn.ReLU()]
    for _ in range(depth - 1):
        layers += [torch.nn.Linear(width, width), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, classes)).to(dtype)


def best(fn, repeats):
    """(best wall time, last result) over `repeats` calls."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


class Counted:
    """Counts the products an operator is asked for."""

    def __init__(self, apply):
        self.apply, self.calls = apply, 0

    def __call__(self, v):
        self.calls += 1 if v.ndim == 1 else v.shape[0]
        return self.apply(v)


class CountedCall:
    """Counts calls of a function (PyHessian's HVP)."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fn(*args, **kwargs)


def shim_torch_eig():
    """PyHessian's density() calls torch.eig, removed from torch 2.x; its T is symmetric, so eigh gives the same
    eigenpairs (returned in torch.eig's old layout). The shim costs microseconds and leaves its Lanczos as is."""
    def eig(a, eigenvectors=False):
        vals, vecs = torch.linalg.eigh(a)
        return torch.stack([vals, torch.zeros_like(vals)], 1), vecs

    torch.eig = eig


def rel_err(vals, ref):
    vals = np.sort(np.asarray(vals, dtype=np.float64))[::-1]
    return float(np.max(np.abs(vals - ref) / np.abs(ref)))


def plain_baseline_top(model, x, y, k):
    """Plain torch double backward (graph reused) + scipy eigsh, without limiting BLAS threads."""
    params = [p for p in model.parameters()]
    loss = torch.nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    flat_grad = torch.cat([g.reshape(-1) for g in grads])
    n = flat_grad.numel()

    def matvec(v):
        v = torch.as_tensor(np.asarray(v).reshape(-1), dtype=flat_grad.dtype)
        hv = torch.autograd.grad(flat_grad, params, v, retain_graph=True)
        return torch.cat([h.reshape(-1) for h in hv]).double().numpy()

    op = sla.LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    return np.sort(sla.eigsh(op, k=k, which="LA", tol=1e-6, ncv=max(2 * k + 1, 20), v0=np.ones(n))[0])[::-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--din", type=int, default=100)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--eigenthings-runs", type=int, default=3,
                    help="SLQ probes for the hessian-eigenthings comparison (its default is 10; it is slow)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--skip-big", action="store_true", help="skip the depth-30, 1,000-sample SLQ timing")
    args = ap.parse_args()

    import pyhessian
    from pyhessian.utils import hessian_vector_product
    import hessian_eigenthings as he

    if args.threads:
        torch.set_num_threads(args.threads)
    shim_torch_eig()
    pyhessian_module = sys.modules["pyhessian.hessian"]     # the module (the package re-exports a class of that name)
    pyhessian_hvps = CountedCall(pyhessian_module.hessian_vector_product)
    pyhessian_module.hessian_vector_product = pyhessian_hvps
    dtype = torch.float32                      # PyHessian works in float32 only
    torch.manual_seed(1)
    x = torch.randn(args.samples, args.din)
    y = torch.randint(0, args.classes, (args.samples,))
    model = mlp(args.din, args.width, args.depth, args.classes, dtype)
    theta, f = flat_fn(model)
    p = theta.numel()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; pyhessian {md.version('pyhessian')}, "
          f"hessian-eigenthings {md.version('hessian-eigenthings')}")
    print(f"model: plain ReLU MLP depth {args.depth}, width {args.width}, input {args.din}, {args.classes} classes, "
          f"P = {p:,} parameters; one batch of N = {args.samples}; loss: cross-entropy; float32 unless said")

    # float64 reference: the same net and batch in float64, Lanczos converged to 1e-12
    model64 = mlp(args.din, args.width, args.depth, args.classes, torch.float64)
    theta64, f64 = flat_fn(model64)
    t_ref, ref = best(lambda: lanczos_eigs(hvp_operator(f64, theta64, x, y, "ce"), 10, tol=1e-12, ncv=40), 1)
    print(f"\nfloat64 reference top-10 ({t_ref:.1f} s): {np.array2string(ref, precision=5)}")

    # (a) top-10 eigenvalues, including building each tool's gradient graph
    def ours_top(method="lanczos", seed=0):
        op = hvp_operator(f, theta, x, y, "ce")
        counted = Counted(op.torch_apply._apply)
        op.torch_apply._apply = counted
        return lanczos_eigs(op, 10, tol=1e-3, method=method, seed=seed), counted.calls

    def pyhessian_top():
        pyhessian_hvps.calls = 0
        h = pyhessian.hessian(model, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=False)
        return h.eigenvalues(top_n=10)[0], pyhessian_hvps.calls

    def eigenthings_top():
        op = he.HessianOperator(model, [(x, y)], he.supervised_loss(torch.nn.functional.cross_entropy))
        return he.lanczos(op, k=10, which="LA", seed=0).eigenvalues.numpy()

    ours_name = "ours (torch Lanczos, tol 1e-3)"
    runs = {ours_name: ours_top, "ours (ARPACK eigsh, tol 1e-3)": lambda: ours_top("arpack"),
            "pyhessian (power it.)": pyhessian_top,
            "hessian-eigenthings (lanczos)": eigenthings_top,
            "plain double-backward + eigsh": lambda: plain_baseline_top(model, x, y, 10)}
    results = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            out = fn()
            results[name].append((time.perf_counter() - start, out))
    print("\n(a) top-10 Hessian eigenvalues        time [s]   ours faster by   max rel. error vs float64")
    t_ours = min(t for t, _ in results[ours_name])
    for name, rs in results.items():
        t = min(r[0] for r in rs)
        counted = isinstance(rs[-1][1], tuple)
        vals = rs[-1][1][0] if counted else rs[-1][1]
        extra = f"   ({rs[-1][1][1]} HVPs)" if counted else ""
        print(f"    {name:32s} {t:8.2f}   {t / t_ours:10.2f}x   {rel_err(vals, ref):12.2e}{extra}")
    t_pyh = min(t for t, _ in results["pyhessian (power it.)"])
    print(f"    pyhessian / ours = {t_pyh / t_ours:.2f}x (target >= 3, ours with error <= 1e-3)")
    spread = []
    for seed in range(1, 5):                  # the count of products depends on the start vector
        start = time.perf_counter()
        vals, calls = ours_top(seed=seed)
        spread.append((time.perf_counter() - start, calls, rel_err(vals, ref)))
    print(f"    ours over start vectors 1-4 (one run each): {min(s[0] for s in spread):.2f}-"
          f"{max(s[0] for s in spread):.2f} s, {min(s[1] for s in spread)}-{max(s[1] for s in spread)} HVPs, "
          f"errors <= {max(s[2] for s in spread):.1e}; pyhessian / slowest = "
          f"{t_pyh / max(s[0] for s in spread):.2f}x")

    # (c) one Hessian-vector product on a graph built once
    op = hvp_operator(f, theta, x, y, "ce")
    v = torch.randn(p)
    ph = pyhessian.hessian(model, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=False)
    v_list = list(torch.split(v, [q.numel() for q in ph.params]))
    v_list = [a.view_as(q) for a, q in zip(v_list, ph.params)]
    he_op = he.HessianOperator(model, [(x, y)], he.supervised_loss(torch.nn.functional.cross_entropy))
    hvps = {"ours": lambda: op.torch_apply(v), "pyhessian": lambda: hessian_vector_product(ph.gradsH, ph.params, v_list),
            "hessian-eigenthings": lambda: he_op.matvec(v)}
    times = {k: [] for k in hvps}
    for _ in range(10 * args.repeats):
        for name, fn in hvps.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    t_hvp = {k: min(t) for k, t in times.items()}
    fastest_other = min(t for k, t in t_hvp.items() if k != "ours")
    print("\n(c) one HVP                            time [ms]")
    for name, t in t_hvp.items():
        print(f"    {name:32s} {1e3 * t:8.1f}")
    print(f"    ours / fastest other = {t_hvp['ours'] / fastest_other:.2f} (target <= 1.1)")

    # (b) SLQ spectral densities
    slq_runs = {
        "ours slq(1 probe, 100 steps)": lambda: slq(hvp_operator(f, theta, x, y, "ce"), n_probes=1, n_steps=100),
        "pyhessian density(iter=100, n_v=1)": lambda: pyhessian.hessian(
            model, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=False).density(iter=100, n_v=1),
        f"ours slq({args.eigenthings_runs} probes, 80 steps)": lambda: slq(
            hvp_operator(f, theta, x, y, "ce"), n_probes=args.eigenthings_runs, n_steps=80),
        f"eigenthings spectral_density({args.eigenthings_runs} runs, 80)": lambda: he.spectral_density(
            he.HessianOperator(model, [(x, y)], he.supervised_loss(torch.nn.functional.cross_entropy)),
            num_runs=args.eigenthings_runs, lanczos_steps=80, seed=0),
    }
    bare = lambda: [op.torch_apply(v) for _ in range(100)]        # noqa: E731
    slq_times = {k: [] for k in [*slq_runs, "100 bare HVPs (ours)"]}
    for _ in range(args.repeats):
        for name, fn in [*slq_runs.items(), ("100 bare HVPs (ours)", bare)]:
            start = time.perf_counter()
            fn()
            slq_times[name].append(time.perf_counter() - start)
    t_slq = {k: min(t) for k, t in slq_times.items()}
    names = list(t_slq)
    print("\n(b) SLQ spectral density               time [s]")
    for name, t in t_slq.items():
        print(f"    {name:40s} {t:8.2f}")
    print(f"    pyhessian density / ours = {t_slq[names[1]] / t_slq[names[0]]:.2f}x (target >= 1.5; both one probe)")
    print(f"    eigenthings / ours       = {t_slq[names[3]] / t_slq[names[2]]:.2f}x")
    print(f"(d) ours 100-step SLQ / 100 bare HVPs = {t_slq[names[0]] / t_slq['100 bare HVPs (ours)']:.2f} "
          f"(target <= 1.35)")

    # (e) dense Hessian of a ~3k-parameter net: jacrev(grad) in chunks against torch.func.hessian
    small = torch.nn.Sequential(torch.nn.Linear(20, 42), torch.nn.Tanh(), torch.nn.Linear(42, 42), torch.nn.Tanh(),
                                torch.nn.Linear(42, 10)).double()
    ts, fs = flat_fn(small)
    xs, ys = torch.randn(64, 20, dtype=torch.float64), torch.randint(0, 10, (64,))
    dense = {"ours dense_hessian": lambda: dense_hessian(fs, ts, xs, ys, "ce"),
             "torch.func.hessian": lambda: torch.func.hessian(lambda t: loss_value(fs(t, xs), ys, "ce"))(ts)}
    dt = {k: [] for k in dense}
    for _ in range(args.repeats):
        for name, fn in dense.items():
            start = time.perf_counter()
            fn()
            dt[name].append(time.perf_counter() - start)
    print(f"\n(e) dense Hessian, tanh MLP with {ts.numel():,} parameters, batch 64, float64: ours "
          f"{min(dt['ours dense_hessian']):.2f} s, torch.func.hessian {min(dt['torch.func.hessian']):.2f} s, "
          f"ratio {min(dt['torch.func.hessian']) / min(dt['ours dense_hessian']):.2f}x")

    if not args.skip_big:
        big = mlp(args.din, 128, 30, args.classes, torch.float32, seed=2)
        tb, fb = flat_fn(big)
        xb, yb = torch.randn(1000, args.din), torch.randint(0, args.classes, (1000,))
        for probes in (1, 3):
            start = time.perf_counter()
            slq(hvp_operator(fb, tb, xb, yb, "ce"), n_probes=probes, n_steps=100)
            print(f"(f) SLQ, depth 30, width 128 ({tb.numel():,} parameters), 1,000 samples, {probes} probe(s) x 100 "
                  f"steps, float32: {time.perf_counter() - start:.1f} s (target < 120 s)")


if __name__ == "__main__":
    main()
