"""Tests of skiplessons.curvature, each against an independent computation (tiny float64 nets)."""
import dataclasses
import json
import pickle

import numpy as np
import pytest
import torch
from torch.func import functional_call, grad, vmap

from skiplessons.env import one_thread as env_one_thread

from skiplessons.curvature import (SpectralDensity, degenerate_fraction, dense_fisher, dense_ggn, dense_hessian,
                                   flat_fn, ggn_operator, ggnvp, hvp, hvp_operator, lanczos_eigs, loss_value,
                                   near_zero_fraction, negative_fraction, output_jacobian, rank_bound, slq,
                                   spectral_scale, zero_count)

D = torch.float64


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """Tiny nets gain nothing from threads, and on a loaded machine thread barriers cost 10x the work."""
    with env_one_thread():
        yield


def mlp(din=4, width=6, depth=2, dout=3, bias=True, act=torch.nn.Tanh, dtype=D, seed=0):
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(din, width, bias=bias), act()]
    for _ in range(depth - 1):
        layers += [torch.nn.Linear(width, width, bias=bias), act()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, dout, bias=bias)).to(dtype)


def batch(net, n, loss, seed=0, noise=None):
    """Inputs and targets; with `noise`, mse targets are the net's outputs plus noise (near a minimum)."""
    g = torch.Generator().manual_seed(seed)
    din, dout = net[0].in_features, net[-1].out_features
    dtype = net[0].weight.dtype
    x = torch.randn(n, din, generator=g).to(dtype)
    if loss == "ce":
        return x, torch.randint(0, dout, (n,), generator=g)
    if noise is None:
        return x, torch.randn(n, dout, generator=g).to(dtype)
    return x, net(x).detach() + noise * torch.randn(n, dout, generator=g).to(dtype)


CASES = [(loss, bias) for loss in ("mse", "ce") for bias in (True, False)]


def test_flat_fn_computes_the_model_and_keeps_the_parameter_order():
    net = mlp()
    theta, f = flat_fn(net)
    x = torch.randn(5, 4, dtype=D)
    assert theta.shape == (sum(p.numel() for p in net.parameters()),)
    torch.testing.assert_close(f(theta, x), net(x), rtol=0, atol=0)
    shifted = theta + 0.1
    params = {n: p + 0.1 for n, p in net.named_parameters()}
    torch.testing.assert_close(f(shifted, x), functional_call(net, params, (x,)), rtol=0, atol=1e-15)


@pytest.mark.parametrize("loss,bias", CASES)
def test_dense_hessian_matches_torch_func_hessian(loss, bias):
    net = mlp(bias=bias, depth=3)
    theta, f = flat_fn(net)
    x, y = batch(net, 7, loss)
    expected = torch.func.hessian(lambda t: loss_value(f(t, x), y, loss))(theta)
    torch.testing.assert_close(dense_hessian(f, theta, x, y, loss, chunk_size=16), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loss,bias", CASES)
def test_hvp_matches_dense_hessian_for_vectors_and_blocks(loss, bias):
    net = mlp(bias=bias, act=torch.nn.GELU)
    theta, f = flat_fn(net)
    x, y = batch(net, 9, loss)
    hess = dense_hessian(f, theta, x, y, loss)
    product = hvp(f, theta, x, y, loss)
    v = torch.randn(3, theta.numel(), dtype=D)
    torch.testing.assert_close(product(v[0]), hess @ v[0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(product(v), v @ hess, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(product(v[:1]), v[:1] @ hess, rtol=1e-10, atol=1e-12)     # a block of one
    op = hvp_operator(f, theta, x, y, loss)
    np.testing.assert_allclose(op @ v[1].numpy(), (hess @ v[1]).numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(op.matmat(v.T.numpy()), (hess @ v.T).numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_hvp_matches_finite_differences_of_the_gradient(loss):
    net = mlp(depth=3)
    theta, f = flat_fn(net)
    x, y = batch(net, 8, loss)

    def gradient(t):
        t = t.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(loss_value(f(t, x), y, loss), t)
        return g

    v = torch.randn(theta.numel(), dtype=D)
    eps = 1e-5
    fd = (gradient(theta + eps * v) - gradient(theta - eps * v)) / (2 * eps)
    torch.testing.assert_close(hvp(f, theta, x, y, loss)(v), fd, rtol=1e-6, atol=1e-8)


def test_output_jacobian_matches_autograd_jacobian_both_modes():
    net = mlp()
    theta, f = flat_fn(net)
    for n in (2, 40):                           # N*C below and above P: reverse and forward mode
        x = torch.randn(n, 4, dtype=D)
        expected = torch.autograd.functional.jacobian(lambda t: f(t, x).reshape(-1), theta)
        torch.testing.assert_close(output_jacobian(f, theta, x), expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("loss,bias", CASES)
def test_ggn_is_the_per_sample_gauss_newton_sum_and_ggnvp_agrees(loss, bias):
    net = mlp(bias=bias)
    theta, f = flat_fn(net)
    x, y = batch(net, 6, loss)
    out = f(theta, x).detach()
    expected = torch.zeros(theta.numel(), theta.numel(), dtype=D)
    for n in range(x.shape[0]):                 # J_n^T (d2 loss_n / d out_n^2) J_n, one sample at a time
        jac = torch.autograd.functional.jacobian(lambda t: f(t, x[n:n + 1])[0], theta)
        yn = y[n:n + 1]
        h_out = torch.autograd.functional.hessian(lambda o: loss_value(o[None], yn, loss), out[n])
        expected += jac.T @ h_out @ jac / x.shape[0]
    ggn = dense_ggn(f, theta, x, y, loss)
    torch.testing.assert_close(ggn, expected, rtol=1e-10, atol=1e-12)
    v = torch.randn(4, theta.numel(), dtype=D)
    torch.testing.assert_close(ggnvp(f, theta, x, y, loss)(v), v @ ggn, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ggn_operator(f, theta, x, y, loss) @ v[0].numpy(), (ggn @ v[0]).numpy(),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_hessian_equals_ggn_when_the_model_is_linear_in_its_parameters(loss):
    net = torch.nn.Sequential(torch.nn.Linear(5, 3)).to(D)
    theta, f = flat_fn(net)
    x, y = batch(net, 8, loss)
    torch.testing.assert_close(dense_hessian(f, theta, x, y, loss), dense_ggn(f, theta, x, y, loss),
                               rtol=1e-10, atol=1e-13)


def test_ce_fisher_is_the_expected_outer_product_of_label_gradients():
    net = mlp(dout=4)
    theta, f = flat_fn(net)
    x = torch.randn(5, 4, dtype=D)
    probs = torch.softmax(f(theta, x), dim=1).detach()

    def nll(t, xn, label):
        return torch.nn.functional.cross_entropy(f(t, xn[None]), label[None])

    expected = torch.zeros(theta.numel(), theta.numel(), dtype=D)
    for c in range(4):                           # exact expectation over the model's own labels
        labels = torch.full((5,), c)
        grads = vmap(grad(nll), in_dims=(None, 0, 0))(theta, x, labels)
        expected += torch.einsum("n,np,nq->pq", probs[:, c], grads, grads) / 5
    torch.testing.assert_close(dense_fisher(f, theta, x, "ce"), expected, rtol=1e-10, atol=1e-13)


def test_mse_fisher_matches_monte_carlo_over_gaussian_outputs():
    net = mlp(width=4, dout=2)
    theta, f = flat_fn(net)
    x = torch.randn(3, 4, dtype=D)
    out = f(theta, x).detach()
    g = torch.Generator().manual_seed(0)
    draws = 20000
    ys = out + torch.randn(draws, *out.shape, generator=g, dtype=D)        # y ~ N(f(x), I)

    def per_sample(t, xn, yn):
        return 0.5 * (f(t, xn[None])[0] - yn).pow(2).sum()

    grads = vmap(vmap(grad(per_sample), in_dims=(None, 0, 0)), in_dims=(None, None, 0))(theta, x, ys)
    mc = torch.einsum("snp,snq->pq", grads, grads) / (draws * x.shape[0])
    fisher = dense_fisher(f, theta, x, "mse")
    assert torch.linalg.norm(mc - fisher) / torch.linalg.norm(fisher) < 0.03


@pytest.mark.parametrize("method", ["arpack", "lanczos"])
@pytest.mark.parametrize("seed,depth,bias,act,loss", [(0, 2, True, torch.nn.Tanh, "mse"),
                                                      (1, 3, False, torch.nn.Tanh, "ce"),
                                                      (2, 4, True, torch.nn.GELU, "ce"),
                                                      (3, 3, False, torch.nn.Softplus, "mse")])
def test_lanczos_extreme_eigenpairs_match_dense_eigh(seed, depth, bias, act, loss, method):
    net = mlp(din=5, width=8, depth=depth, bias=bias, act=act, seed=seed)
    theta, f = flat_fn(net)
    x, y = batch(net, 12, loss, seed=seed)
    exact = torch.linalg.eigvalsh(dense_hessian(f, theta, x, y, loss)).numpy()
    op = hvp_operator(f, theta, x, y, loss)
    scale = np.abs(exact).max()
    top, vecs = lanczos_eigs(op, 6, "LA", return_vectors=True, method=method)
    np.testing.assert_allclose(top, exact[::-1][:6], rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(op.matmat(vecs), vecs * top, atol=1e-6 * scale)
    np.testing.assert_allclose(lanczos_eigs(op, 4, "SA", method=method), exact[:4], rtol=1e-4, atol=1e-4 * scale)
    by_size = exact[np.argsort(-np.abs(exact))][:3]
    np.testing.assert_allclose(lanczos_eigs(op, 3, "LM", method=method), by_size, rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
def test_torch_lanczos_restarts_and_reaches_the_requested_relative_error(which):
    # a basis of only k + 3 vectors forces many thick restarts; every eigenvalue must meet tol (relative)
    rng = np.random.default_rng(4)
    eigs = np.concatenate([rng.uniform(-1, 3, 390), [5.0, 4.9, 4.85, -2.5, -2.45, 4.0, 4.01, 3.99, 3.98, 3.5]])
    basis, _ = np.linalg.qr(rng.standard_normal((400, 400)))
    a = torch.tensor(basis @ np.diag(eigs) @ basis.T)
    exact = np.sort(eigs)
    want = {"LA": exact[::-1], "SA": exact, "LM": exact[np.argsort(-np.abs(exact))]}[which][:7]
    for tol in (1e-3, 1e-8):
        vals, vecs = lanczos_eigs(a, 7, which, return_vectors=True, tol=tol, ncv=10, method="lanczos")
        assert np.all(np.abs(vals - want) <= tol * np.abs(want))
        if tol == 1e-8:
            np.testing.assert_allclose(a.numpy() @ vecs, vecs * vals, atol=1e-6)


def test_torch_lanczos_finds_repeated_eigenvalues_and_exact_zeros():
    # one start vector sees one copy of each eigenvalue; fresh directions after exhausted Krylov spaces
    # must bring in the other copies, and the Gauss-Newton's exact zeros (rank N*C) likewise
    eigs = np.repeat([-0.4, 0.0, 1.0, 3.0], [30, 120, 100, 50])
    diag = torch.diag(torch.tensor(eigs))
    np.testing.assert_allclose(lanczos_eigs(diag, 5, "LA", method="lanczos"), [3.0] * 5, atol=1e-12)
    np.testing.assert_allclose(lanczos_eigs(diag, 4, "SA", method="lanczos"), [-0.4] * 4, atol=1e-12)
    net = mlp(din=3, width=6, dout=2, seed=5)
    theta, f = flat_fn(net)
    x, y = batch(net, 4, "mse", seed=5)                  # rank <= 8 of P = 68
    exact = torch.linalg.eigvalsh(dense_ggn(f, theta, x, y)).numpy()
    op = ggn_operator(f, theta, x, y)
    np.testing.assert_allclose(lanczos_eigs(op, 3, "SA", method="lanczos"), exact[:3], atol=1e-10 * exact[-1])
    np.testing.assert_allclose(lanczos_eigs(op, 9, "LA", tol=1e-10, method="lanczos"), exact[::-1][:9],
                               rtol=1e-8, atol=1e-10 * exact[-1])


def test_float32_torch_lanczos_keeps_the_float32_operator_and_its_accuracy():
    net32 = mlp(din=6, width=24, depth=3, dout=4, dtype=torch.float32, seed=6)
    theta, f = flat_fn(net32)
    x, y = batch(net32, 30, "ce", seed=6)
    theta64, f64 = flat_fn(mlp(din=6, width=24, depth=3, dout=4, seed=6))
    exact = torch.linalg.eigvalsh(dense_hessian(f64, theta64, x.double(), y, "ce")).numpy()[::-1]
    calls = []
    product = hvp(f, theta, x, y, "ce")
    inner = product._apply

    def counted(v):
        calls.append(v.dtype)
        return inner(v)

    product._apply = counted
    vals = lanczos_eigs(product, 5, tol=1e-3, method="lanczos")
    assert set(calls) == {torch.float32}
    assert np.all(np.abs(vals - exact[:5]) <= 1e-3 * exact[:5])


def test_slq_quadrature_reproduces_the_moments_of_a_known_spectrum():
    # for a diagonal matrix every Rademacher probe has v_i^2 = 1/P, so the quadrature of lambda^k must
    # equal tr(A^k)/P exactly for k < 2m (Gauss quadrature with m nodes)
    rng = np.random.default_rng(0)
    eigs = np.concatenate([np.zeros(120), rng.uniform(-0.5, -0.1, 30), rng.uniform(0.2, 3.0, 150)])
    a = torch.diag(torch.tensor(eigs))
    m = 12
    d = slq(a, n_probes=3, n_steps=m, seed=1)
    assert d.nodes.shape == (3, m) and np.allclose(d.weights.sum(1), 1)
    for k in range(2 * m):
        np.testing.assert_allclose((d.weights * d.nodes**k).sum(1), np.mean(eigs**k), rtol=1e-8, atol=1e-12)
    grid = np.linspace(-2, 5, 4001)
    assert abs(np.trapezoid(d.density(grid, 0.05), grid) - 1) < 1e-6


def test_slq_is_exact_on_a_spectrum_with_fewer_distinct_values_than_steps():
    # 4 distinct eigenvalues: the Krylov space is exhausted after 4 steps, Lanczos restarts with decoupled
    # directions, and the quadrature weights are the exact multiplicities
    eigs = np.repeat([-0.4, 0.0, 1.0, 3.0], [30, 120, 100, 50])
    d = slq(torch.diag(torch.tensor(eigs)), n_probes=2, n_steps=12, seed=3)
    assert degenerate_fraction(d, 1e-3) == pytest.approx(0.4, abs=1e-10)
    assert negative_fraction(d, 1e-3) == pytest.approx(0.1, abs=1e-10)
    assert np.abs(d.nodes).max() == pytest.approx(3.0, abs=1e-10)


@pytest.mark.parametrize("seed,width,depth,bias,dout,n", [(0, 12, 3, True, 3, 40), (1, 12, 3, False, 3, 40),
                                                          (2, 16, 2, True, 4, 20), (3, 10, 4, True, 2, 60)])
def test_slq_fractions_match_the_exact_ones_near_a_minimum(seed, width, depth, bias, dout, n):
    net = mlp(din=6, width=width, depth=depth, dout=dout, bias=bias, seed=seed)
    theta, f = flat_fn(net)
    x, y = batch(net, n, "mse", seed=seed, noise=0.03)
    exact = torch.linalg.eigvalsh(dense_hessian(f, theta, x, y)).numpy()
    d = slq(hvp_operator(f, theta, x, y), n_probes=40, n_steps=80, seed=seed)
    for tol in (1e-2, 1e-3):
        assert abs(degenerate_fraction(d, tol) - degenerate_fraction(exact, tol)) < 0.02
        assert abs(negative_fraction(d, tol) - negative_fraction(exact, tol)) < 0.02
    assert negative_fraction(exact, 1e-3) > 0.02 and 0.3 < degenerate_fraction(exact, 1e-3) < 0.95


def test_slq_recurrence_matches_full_reorthogonalization_and_makes_no_spurious_copies():
    from skiplessons.curvature.lanczos import InPlaceLanczos, LanczosRecurrence
    # float64: the semi-orthogonal recurrence slq runs gives the fully reorthogonalized tridiagonal
    net = mlp(din=6, width=12, depth=3, seed=7)
    theta, f = flat_fn(net)
    x, y = batch(net, 30, "ce", seed=7)
    product = hvp(f, theta, x, y, "ce")
    q = torch.randn(3, theta.numel(), dtype=D)
    q /= q.norm(dim=1, keepdim=True)
    runs = [cls(product, q.clone(), 60, torch.Generator().manual_seed(0)) for cls in (LanczosRecurrence, InPlaceLanczos)]
    for run in runs:
        for _ in range(60):
            run.step()
    (full, _), (semi, _) = (run.ritz() for run in runs)
    np.testing.assert_allclose(semi.numpy(), full.numpy(), atol=1e-10 * full.abs().max().item())
    # float32, outliers that converge early (where plain Lanczos makes ghost copies): one node per outlier
    rng = np.random.default_rng(0)
    eigs = np.concatenate([rng.uniform(0, 1, 3997), [10.0, 8.0, 6.0]])
    d = slq(torch.diag(torch.tensor(eigs, dtype=torch.float32)), n_probes=2, n_steps=120, seed=0)
    for outlier in (10.0, 8.0, 6.0):
        near = np.abs(d.nodes - outlier) < 1e-2
        assert near.sum(axis=1).tolist() == [1, 1]
        np.testing.assert_allclose(d.nodes[near], outlier, rtol=1e-5)


def test_slq_runs_large_nets_one_probe_at_a_time_on_cpu_with_the_same_result(monkeypatch):
    import skiplessons.curvature.lanczos as lanczos
    net = mlp(din=20, width=140, depth=2, dout=3, seed=8)          # 22,963 parameters: one probe at a time
    theta, f = flat_fn(net)
    assert theta.numel() >= lanczos.CPU_ONE_PROBE_PARAMS
    x, y = batch(net, 16, "ce", seed=8)
    product = hvp(f, theta, x, y, "ce")
    shapes = []
    inner = product._apply
    product._apply = lambda v: shapes.append(tuple(v.shape)) or inner(v)
    alone = slq(product, n_probes=3, n_steps=15, seed=4)
    assert set(shapes) == {(theta.numel(),)}
    monkeypatch.setattr(lanczos, "CPU_ONE_PROBE_PARAMS", 10**9)    # the vectorised block of three probes
    shapes.clear()
    together = slq(product, n_probes=3, n_steps=15, seed=4)
    assert set(shapes) == {(3, theta.numel())}
    scale = np.abs(together.nodes).max()
    np.testing.assert_allclose(alone.nodes, together.nodes, atol=1e-10 * scale)
    np.testing.assert_allclose(alone.weights, together.weights, atol=1e-10)


def test_slq_handles_an_exhausted_krylov_space_on_a_rank_deficient_ggn():
    net = mlp(din=8, width=16, dout=4, seed=2)
    theta, f = flat_fn(net)
    x, y = batch(net, 20, "ce", seed=2)
    exact = torch.linalg.eigvalsh(dense_ggn(f, theta, x, y, "ce")).numpy()
    d = slq(ggn_operator(f, theta, x, y, "ce"), n_probes=40, n_steps=80, seed=2)   # rank 60 < 80 steps
    assert np.abs(d.nodes).max() <= np.abs(exact).max() * (1 + 1e-8)
    for tol in (1e-2, 1e-3):
        assert abs(degenerate_fraction(d, tol) - degenerate_fraction(exact, tol)) < 0.02


def test_ggn_zero_eigenvalues_respect_the_rank_bound_and_fractions_report_it():
    net = mlp(din=5, width=10, dout=3)
    theta, f = flat_fn(net)
    x, y = batch(net, 10, "mse")
    p = theta.numel()
    exact = torch.linalg.eigvalsh(dense_ggn(f, theta, x, y))
    bound = rank_bound(10, 3, p, loss="mse")
    assert bound.max_rank == 30 and bound.min_zero_fraction == pytest.approx(1 - 30 / p)
    assert zero_count(exact, rtol=1e-9) == p - 30              # a generic smooth net attains the bound
    frac = degenerate_fraction(exact, 1e-9, n_samples=10, n_outputs=3, loss="mse")
    assert frac == pytest.approx(1 - 30 / p) and frac.rank_bound_fraction == pytest.approx(1 - 30 / p)
    assert frac.as_dict()["tol"] == 1e-9 and frac.count == pytest.approx(p - 30)
    copy = pickle.loads(pickle.dumps(frac))
    assert copy == frac and copy.rank_bound_fraction == frac.rank_bound_fraction
    assert json.loads(json.dumps({"f": frac}))["f"] == float(frac)
    dens = dataclasses.replace(slq(ggn_operator(f, theta, x, y), n_probes=2, n_steps=40), loss="mse")
    assert degenerate_fraction(dens).rank_bound_fraction == pytest.approx(1 - 30 / p)
    assert degenerate_fraction(exact).rank_bound_fraction is None


def test_softmax_ggn_attains_the_bound_n_times_c_minus_one():
    """Cross-entropy: each sample's output Hessian diag(p) - p p^T has rank C-1, so a generic net's GGN has
    exactly P - N*(C-1) zero eigenvalues, not P - N*C."""
    net = mlp(din=5, width=10, dout=4)
    theta, f = flat_fn(net)
    x, y = batch(net, 6, "ce")
    p = theta.numel()
    exact = torch.linalg.eigvalsh(dense_ggn(f, theta, x, y, loss="ce"))
    bound = rank_bound(6, 4, p)
    assert bound.max_rank == 18 and zero_count(exact, rtol=1e-9) == p - 18
    assert rank_bound(6, 4, p, loss="mse").max_rank == 24
    with pytest.raises(ValueError, match="loss"):
        rank_bound(6, 4, p, loss="hinge")
    with pytest.raises(ValueError, match="n_samples"):
        rank_bound(True, 4, p)


def test_near_zero_fraction_under_each_normalization_on_a_known_spectrum():
    """Eigenvalues 0 (x4), +-0.01 (x3), +-1 (x2), 100: max|lambda| 100, mean |lambda| 10.203."""
    eigs = np.array([0, 0, 0, 0, 0.01, -0.01, 0.01, 1, -1, 100.0])
    mean_abs = np.abs(eigs).mean()
    assert spectral_scale(eigs, "max") == 100 and spectral_scale(eigs, "mean") == pytest.approx(mean_abs)
    assert near_zero_fraction(eigs, 1e-5, "max").fraction == pytest.approx(0.4)      # |lambda| <= 0.001
    assert near_zero_fraction(eigs, 1e-3, "max").fraction == pytest.approx(0.7)      # |lambda| <= 0.1
    assert near_zero_fraction(eigs, 1e-2, "max").fraction == pytest.approx(0.9)      # |lambda| <= 1
    assert near_zero_fraction(eigs, 0.01 / mean_abs, "mean").fraction == pytest.approx(0.7)
    assert near_zero_fraction(eigs, 0.5, "absolute").fraction == pytest.approx(0.7)
    assert near_zero_fraction(eigs, 0.5, "absolute").error == 0.0
    # two probes that disagree: the error is the standard error of their mean
    d = SpectralDensity(np.array([[0.0, 1.0], [0.0, 1.0]]), np.array([[0.2, 0.8], [0.6, 0.4]]), 10)
    nz = near_zero_fraction(d, 0.5, "absolute")
    assert nz.fraction == pytest.approx(0.4) and nz.error == pytest.approx(np.std([0.2, 0.6], ddof=1) / np.sqrt(2))
    # CMS: each edge +-0.5 lies between the nodes 0 and 1 (and below 0): bounds max(w0, w1) and w0 per probe
    assert nz.resolution == pytest.approx(np.mean([min(1, 0.8 + 0.2), min(1, 0.6 + 0.6)]))
    assert near_zero_fraction(eigs, 0.5, "absolute").resolution <= 2 / eigs.size
    assert d.mean_abs == pytest.approx(0.6) and d.trace == pytest.approx(6.0)
    with pytest.raises(ValueError, match="normalization"):
        near_zero_fraction(eigs, 1e-3, "median")
    with pytest.raises(ValueError, match="threshold"):
        near_zero_fraction(eigs, 0.0)


def test_fractions_and_zero_count_on_known_eigenvalues():
    eigs = np.array([-1.0, -1e-4, 0.0, 2e-3, 0.5, 10.0])
    assert zero_count(eigs, rtol=1e-4) == 2 and zero_count(torch.tensor(eigs), rtol=1e-3) == 3
    assert degenerate_fraction(eigs, 1e-3) == pytest.approx(3 / 6)
    assert negative_fraction(eigs, 1e-3) == pytest.approx(1 / 6)
    assert negative_fraction(eigs, 1e-6) == pytest.approx(2 / 6)
    d = SpectralDensity(np.array([[-1.0, 0.0, 10.0]]), np.array([[0.25, 0.5, 0.25]]), 8)
    assert degenerate_fraction(d) == 0.5 and negative_fraction(d) == 0.25


def test_float32_path_agrees_with_float64():
    net64 = mlp(depth=3)
    net32 = mlp(depth=3, dtype=torch.float32)
    theta64, f64 = flat_fn(net64)
    theta32, f32 = flat_fn(net32)
    x, y = batch(net64, 10, "mse")
    v = torch.randn(theta64.numel(), dtype=D)
    hv32 = hvp(f32, theta32, x.float(), y.float())(v.float())
    assert hv32.dtype == torch.float32
    torch.testing.assert_close(hv32.double(), hvp(f64, theta64, x, y)(v), rtol=1e-4, atol=1e-5)
    exact = torch.linalg.eigvalsh(dense_hessian(f64, theta64, x, y)).numpy()
    op32 = hvp_operator(f32, theta32, x, y)                 # float64 inputs are cast to the net's dtype
    np.testing.assert_allclose(lanczos_eigs(op32, 3, tol=1e-6), exact[::-1][:3], rtol=1e-4)
    d = slq(op32, n_probes=4, n_steps=20)
    assert d.nodes.dtype == np.float64 and np.abs(d.nodes).max() == pytest.approx(np.abs(exact).max(), rel=1e-4)
    assert dense_hessian(f32, theta32, x, y).dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the GPU path is checked on GPU machines")
def test_cuda_path_matches_cpu():
    net = mlp(depth=3)
    theta, f = flat_fn(net)
    x, y = batch(net, 10, "ce")
    hess = dense_hessian(f, theta, x, y, "ce")
    cuda_net = mlp(depth=3).cuda()
    theta_c, f_c = flat_fn(cuda_net)
    v = torch.randn(theta.numel(), dtype=D)
    torch.testing.assert_close(hvp(f_c, theta_c, x, y, "ce")(v.cuda()).cpu(), hess @ v, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(dense_hessian(f_c, theta_c, x, y, "ce").cpu(), hess, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(dense_ggn(f_c, theta_c, x, y, "ce").cpu(), dense_ggn(f, theta, x, y, "ce"),
                               rtol=1e-9, atol=1e-11)
    exact = torch.linalg.eigvalsh(hess).numpy()
    np.testing.assert_allclose(lanczos_eigs(hvp_operator(f_c, theta_c, x, y, "ce"), 3), exact[::-1][:3], rtol=1e-6)
    np.testing.assert_allclose(lanczos_eigs(hvp_operator(f_c, theta_c, x, y, "ce"), 3, method="lanczos"),
                               exact[::-1][:3], rtol=1e-6)
    d = slq(hvp_operator(f_c, theta_c, x, y, "ce"), n_probes=3, n_steps=10)
    assert np.abs(d.nodes).max() == pytest.approx(np.abs(exact).max(), rel=1e-6)


def test_bad_inputs_raise_clear_value_errors():
    net = mlp()
    theta, f = flat_fn(net)
    x, y = batch(net, 5, "mse")
    op = hvp_operator(f, theta, x, y)
    p = theta.numel()
    with pytest.raises(ValueError, match=rf"k={p}.*1 <= k < {p}"):
        lanczos_eigs(op, k=p)
    with pytest.raises(ValueError, match="x of shape"):
        hvp(f, theta, torch.randn(5, 7, dtype=D), y)
    with pytest.raises(ValueError, match=r"y must have the outputs' shape \(N, C\) = \(5, 3\)"):
        dense_hessian(f, theta, x, y[:4])
    with pytest.raises(ValueError, match="integer class labels"):
        hvp(f, theta, x, y, loss="ce")
    with pytest.raises(ValueError, match=r"labels y must lie in \[0, 2\]"):
        dense_ggn(f, theta, x, torch.tensor([0, 1, 2, 3, 0]), loss="ce")
    with pytest.raises(ValueError, match="loss='nll'.*mse, ce"):
        hvp(f, theta, x, y, loss="nll")
    with pytest.raises(ValueError, match="which='BE'"):
        lanczos_eigs(op, 2, which="BE")
    with pytest.raises(ValueError, match="method='lobpcg'.*arpack, lanczos"):
        lanczos_eigs(op, 2, method="lobpcg")
    for bad in (0, -1e-3):
        with pytest.raises(ValueError, match=r"tol=.*must be a number > 0"):
            lanczos_eigs(op, 2, tol=bad, method="lanczos")
    with pytest.raises(ValueError, match=r"ncv=2 must be an integer > k=2"):
        lanczos_eigs(op, 2, ncv=2, method="lanczos")
    with pytest.raises(ValueError, match=rf"k={p}.*1 <= k < {p}"):
        lanczos_eigs(op, k=p, method="lanczos")
    with pytest.raises(ValueError, match="theta must be a 1-D"):
        hvp(f, theta[None], x, y)
    with pytest.raises(ValueError, match=r"v must have shape"):
        hvp(f, theta, x, y)(torch.ones(p + 1, dtype=D))
    for bad in (0, -1e-3, 0.0):
        for fn in (degenerate_fraction, negative_fraction):
            with pytest.raises(ValueError, match=r"tol=.*must be a number > 0"):
                fn(np.ones(3), tol=bad)
        with pytest.raises(ValueError, match=r"rtol=.*must be a number > 0"):
            zero_count(np.ones(3), rtol=bad)
    with pytest.raises(ValueError, match="n_steps=0"):
        slq(op, n_steps=0)
    with pytest.raises(ValueError, match="sigma"):
        slq(op, n_probes=1, n_steps=3).density([0.0], sigma=0)


def test_dense_matrices_refuse_a_million_parameter_net_and_say_what_to_use():
    big = torch.nn.Linear(1000, 1000)
    theta, f = flat_fn(big)
    x, y = torch.randn(2, 1000), torch.randn(2, 1000)
    for call in (lambda: dense_hessian(f, theta, x, y), lambda: dense_ggn(f, theta, x, y),
                 lambda: dense_fisher(f, theta, x)):
        with pytest.raises(ValueError, match=r"1,001,000 parameters.*max_params=5,000.*hvp_operator.*lanczos_eigs.*slq"):
            call()
