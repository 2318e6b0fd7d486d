"""Tests of the teaching nets (`shallow`), Part I's singular points (`singular_points`: the derived zero-eigenvalue
counts against the exact float64 Fisher), `fisher` (exact versus first-order flat directions, loss slices and
planes, approach spectra), `layer_measures` (against direct numpy computations), Part I's figures and player
(`plots.part1`) and the explorers of `widgets` (Part I's approach explorer, Part II's skip-strength explorer)."""
from __future__ import annotations

import itertools
import math

import re

import numpy as np
import pytest
import torch

from skiplessons import fisher as fi, layer_measures as lm, singular_points as sp
from skiplessons.curvature import flat_fn
from skiplessons.shallow import SKIPS, ShallowNet, TwoLayerNet, gaussian_inputs, param_index

ARCHS = tuple(SKIPS)
X5 = gaussian_inputs(200, 5, seed=11)


def inputs(n):
    return gaussian_inputs(200, n, seed=11)


# ------------------------------------------------------------------------------------------- teaching nets

def phi_np(name, u):
    from scipy.special import erf
    return {"tanh": np.tanh, "erf": lambda v: erf(v / math.sqrt(2)), "relu": lambda v: np.maximum(v, 0),
            "linear": lambda v: v}[name](u)


@pytest.mark.parametrize("arch,bias,act", [(a, b, act) for a in ARCHS for b in (False, True)
                                           for act in ("tanh", ("relu", "erf"))])
def test_two_layer_net_matches_numpy(arch, bias, act):
    net = TwoLayerNet(4, 3, act, arch, bias=bias, seed=3)
    x = inputs(4)
    P = {k: v.detach().numpy() for k, v in net.named_parameters()}
    a1, a2 = (act, act) if isinstance(act, str) else act
    s1, s2 = SKIPS[arch]
    xn = x.numpy()
    h1 = phi_np(a1, xn @ P["J"].T + (P["b1"] if bias else 0)) + (xn if s1 else 0)
    h2 = phi_np(a2, h1 @ P["K"].T + (P["b2"] if bias else 0)) + (h1 if s2 else 0)
    y = h2 @ P["C"].T + (P["c"] if bias else 0)
    np.testing.assert_allclose(net(x).detach().numpy(), y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("arch", ["plain", "residual"])
def test_shallow_net_matches_numpy(arch):
    net = ShallowNet(5, "tanh", arch, seed=2)
    J, w = net.J.detach().numpy(), net.w.detach().numpy()
    xn = X5.numpy()
    y = (np.tanh(xn @ J.T) + (xn if arch == "residual" else 0)) @ w
    np.testing.assert_allclose(net(X5).detach().numpy()[:, 0], y, rtol=1e-12)


def test_param_index_follows_flat_fn_order():
    net = TwoLayerNet(4, 3, "tanh", "residual", bias=True, seed=0)
    theta, _ = flat_fn(net)
    assert torch.equal(theta[param_index(net, "K", (slice(None), 2))], net.K[:, 2].detach())
    assert torch.equal(theta[param_index(net, "b2")], net.b2.detach())
    assert torch.equal(theta[param_index(net, "C")], net.C.detach().reshape(-1))


@pytest.mark.parametrize("kwargs,match", [({"n": 1}, "n="), ({"arch": "hyper"}, "arch="),
                                          ({"activation": "gelu"}, "activation="), ({"scale": 0.0}, "scale="),
                                          ({"activation": ("tanh",)}, "activation="), ({"seed": -1}, "seed=")])
def test_two_layer_net_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TwoLayerNet(**kwargs)


def test_bad_inputs_and_names():
    with pytest.raises(ValueError, match="x must have shape"):
        TwoLayerNet(4)(torch.zeros(3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="name="):
        param_index(TwoLayerNet(4), "W")
    with pytest.raises(ValueError, match="arch="):
        ShallowNet(4, arch="first")


def test_symmetries_keep_the_function_only_without_skips():
    x = inputs(4)
    for arch in ("plain", "residual"):
        relu = TwoLayerNet(4, 3, ("relu", "tanh"), arch, bias=True, seed=0)
        tanh = TwoLayerNet(4, 3, "tanh", arch, seed=0)
        changes = [float((sym(net)(x) - net(x)).abs().max().detach()) for net, sym in (
            (relu, lambda m: sp.rescale_unit(m, 1, 2.5)), (tanh, lambda m: sp.swap_units(m, 0, 2)),
            (tanh, lambda m: sp.flip_unit(m, 3)), (ShallowNet(4, "tanh", arch, seed=0), sp.swap_units))]
        if arch == "plain":
            assert max(changes) < 1e-12
        else:
            assert min(changes) > 1e-3


# ------------------------------------------------------------------------------------------ theory counts

def assert_count(net, x):
    """The numerical count equals the derived one, with a clean spectral gap around the threshold."""
    z = fi.fisher_zeros(net, x)
    predicted = sp.predicted_zeros(net)
    assert z.count == predicted.total, (getattr(net, 'singularity', 'generic'), z.count, predicted)
    if z.count:
        assert z.largest_zero < 1e-2 * fi.ZERO_RTOL and z.gap > 1e5, (z.largest_zero, z.smallest_nonzero)
    assert z.smallest_nonzero > 1e2 * fi.ZERO_RTOL
    return z


SMOOTH_KINDS = ("generic", "incoming", "outgoing", "overlap")


@pytest.mark.parametrize("arch,bias,kind", list(itertools.product(ARCHS, (False, True), SMOOTH_KINDS)))
def test_smooth_two_layer_counts(arch, bias, kind):
    for n, seed, act in ((3, 0, "tanh"), (4, 1, "tanh"), (5, 2, "tanh"), (4, 3, "erf")):
        net = sp.at_singularity(TwoLayerNet(n, 3, act, arch, bias=bias, seed=seed), kind)
        assert_count(net, inputs(n))


def test_paper_counts_for_the_three_points():
    """PAPER.md: in the two-hidden-layer net each point has n zero eigenvalues plain and none residual."""
    for n in (3, 5):
        for kind in ("incoming", "outgoing", "overlap"):
            for arch, expected in (("plain", n), ("residual", 0)):
                net = sp.at_singularity(TwoLayerNet(n, 2, "tanh", arch, seed=n), kind)
                assert fi.fisher_zeros(net, inputs(n)).count == expected


@pytest.mark.parametrize("arch", ARCHS)
def test_relu_then_tanh_counts(arch):
    for n, seed in ((4, 0), (5, 1)):
        x = inputs(n)
        net = TwoLayerNet(n, 3, ("relu", "tanh"), arch, bias=True, seed=seed)
        assert_count(sp.at_singularity(net, "generic"), x)
        assert_count(sp.kill_relu(net, x), x)


def test_relu_counts_quoted_in_paper_md():
    """n = 5, ReLU then tanh: generic 5 plain / 0 residual; dead unit 15 plain / 6 residual."""
    x = inputs(5)
    got = {arch: (fi.fisher_zeros(TwoLayerNet(5, 3, ("relu", "tanh"), arch, bias=True, seed=4), x).count,
                  fi.fisher_zeros(sp.kill_relu(TwoLayerNet(5, 3, ("relu", "tanh"), arch, bias=True, seed=4), x),
                                  x).count) for arch in ("plain", "residual")}
    assert got == {"plain": (5, 15), "residual": (0, 6)}


def lively(net, x, skip=None):
    """Every ReLU unit of both layers (but `skip`, in layer 1) is active on 10% to 90% of the inputs."""
    with torch.no_grad():
        z1 = x @ net.J.T + net.b1
        z2 = net.hidden(x)[0] @ net.K.T + net.b2
    rates = torch.cat([(z1 > 0).double().mean(0), (z2 > 0).double().mean(0)])
    keep = torch.ones_like(rates, dtype=torch.bool)
    if skip is not None:
        keep[skip] = False
    return bool(((rates > 0.1) & (rates < 0.9))[keep].all())


@pytest.mark.parametrize("arch", ARCHS)
def test_relu_relu_counts(arch):
    """ReLU after ReLU often has dead or always-on units by chance (then more zeros appear: elimination by
    chance); the formula is for generic points, so test seeds whose units are all lively."""
    x = inputs(4)
    nets = [net for seed in range(8) if lively(net := TwoLayerNet(4, 3, "relu", arch, bias=True, seed=seed), x)]
    killed = [k for net in nets if lively(k := sp.kill_relu(net, x), x, skip=0)]
    assert nets and killed
    for net in nets[:2] + killed[:2]:
        assert_count(net, x)


@pytest.mark.parametrize("arch", ARCHS)
def test_linear_counts(arch):
    n = 3
    for p in (2, 3, 5, 6):
        x = inputs(n)
        net = TwoLayerNet(n, p, "linear", arch, seed=p)
        generic = assert_count(net, x)
        dependent = assert_count(sp.make_dependent(net), x)
        extra = dependent.count - generic.count
        assert extra == (max(p - n, 0) if arch in ("plain", "second") else 0)


@pytest.mark.parametrize("arch,kind", list(itertools.product(("plain", "residual"), SMOOTH_KINDS)))
def test_shallow_counts(arch, kind):
    for n, seed in ((3, 0), (5, 1)):
        assert_count(sp.at_singularity(ShallowNet(n, "tanh", arch, seed=seed), kind), inputs(n))


def test_unsupported_combinations_raise():
    with pytest.raises(ValueError, match="kind='overlap'"):
        sp.predicted_zeros(sp.make_overlap(TwoLayerNet(4, 3, "relu")))
    with pytest.raises(ValueError, match="linear net without biases"):
        sp.predicted_zeros(sp.make_dependent(TwoLayerNet(4, 3, "tanh")))
    with pytest.raises(ValueError, match="kill_relu needs"):
        sp.kill_relu(TwoLayerNet(4, 3, "tanh", bias=True), inputs(4))
    with pytest.raises(ValueError, match="a="):
        sp.eliminate_incoming(TwoLayerNet(4), a=4)
    with pytest.raises(ValueError, match="kind="):
        sp.at_singularity(TwoLayerNet(4), "collapse")
    with pytest.raises(ValueError, match="samples"):
        fi.fisher_zeros(TwoLayerNet(4), inputs(4)[:3])


# --------------------------------------------------------------------------- exact versus first-order zeros

def null_projection_residual(z, d):
    d = d.numpy() / np.linalg.norm(d.numpy())
    return np.linalg.norm(d - z.null_space @ (z.null_space.T @ d))


CURVE_FREE = [(TwoLayerNet, dict(n=4, p=3, activation="tanh", arch=a), k)
              for a in ARCHS for k in ("incoming", "outgoing", "overlap")] + \
             [(ShallowNet, dict(n=4, activation="tanh", arch=a), k)
              for a in ("plain", "residual") for k in ("incoming", "outgoing", "overlap")]


@pytest.mark.parametrize("cls,kwargs,kind", CURVE_FREE)
def test_exact_and_first_order_directions(cls, kwargs, kind):
    """Without biases every exact zero is a straight flat line: the lines span the exact part of the null
    space, the function does not move along them at all, and along the rest it moves at order >= 2."""
    x = inputs(4)
    net = sp.at_singularity(cls(seed=5, **kwargs), kind)
    z, counts = fi.fisher_zeros(net, x), sp.predicted_zeros(net)
    flat = fi.flat_directions(net)
    assert flat.shape[0] == counts.exact
    for d in flat:
        assert null_projection_residual(z, d) < 1e-6
        assert fi.function_change(net, x, d, 0.7) < 1e-12
    rest = z.null_space - flat.numpy().T @ (flat.numpy() @ z.null_space)
    u, s, _ = np.linalg.svd(rest, full_matrices=False)
    rest = u[:, s > 1e-6]
    assert rest.shape[1] == counts.first_order
    for d in rest.T:
        big, half = (fi.function_change(net, x, torch.from_numpy(d), t) for t in (0.02, 0.01))
        assert big > 1e-8 and big / half > 3.5          # the function changes, at second order or higher


def test_single_output_overlap_second_order_formula():
    """dJ_a = w_b u, dJ_b = -w_a u: f changes by (t^2 / 2) w_a w_b (w_a + w_b) phi''(J_a . x) (u . x)^2."""
    x = inputs(4)
    net = sp.make_overlap(ShallowNet(4, "tanh", "plain", seed=7))
    wa, wb = (float(v) for v in net.w.detach()[:2])
    u = torch.tensor([0.3, -0.5, 0.2, 0.7], dtype=torch.float64)
    d = torch.zeros(sum(q.numel() for q in net.parameters()), dtype=torch.float64)
    d[param_index(net, "J", 0)], d[param_index(net, "J", 1)] = wb * u, -wa * u
    assert null_projection_residual(fi.fisher_zeros(net, x), d) < 1e-6
    theta, f = flat_fn(net)
    t = 1e-4
    change = (f(theta + t * d, x) - f(theta, x))[:, 0].detach()
    zj = x @ net.J[0].detach()
    tanh2 = -2 * torch.tanh(zj) * (1 - torch.tanh(zj) ** 2)
    predicted = 0.5 * t**2 * wa * wb * (wa + wb) * tanh2 * (x @ u) ** 2
    np.testing.assert_allclose(change.numpy(), predicted.numpy(), rtol=0, atol=1e-3 * float(predicted.abs().max()))


def test_dead_relu_and_dependence_lines_are_flat():
    x = inputs(4)
    for arch in ("plain", "residual"):
        dead = sp.kill_relu(TwoLayerNet(4, 3, ("relu", "tanh"), arch, bias=True, seed=1), x)
        flat = fi.flat_directions(dead)
        assert flat.shape[0] == (4 + 1) + 4 * (arch == "plain")
        z = fi.fisher_zeros(dead, x)
        for d in flat:
            assert null_projection_residual(z, d) < 1e-6 and fi.function_change(dead, x, d, 0.1) < 1e-12
    dep = sp.make_dependent(TwoLayerNet(3, 6, "linear", "plain", seed=0))
    flat = fi.flat_directions(dep)
    assert flat.shape[0] == 6 - 3
    for d in flat:
        assert fi.function_change(dep, inputs(3), d, 2.0) < 1e-12


def test_near_singular_eigenvalues_scale_quadratically():
    """Approaching J_a = 0 along J_a -> s J_a, the n smallest plain eigenvalues fall at least like s^2 (one like
    s^6: the nearly linear unit is nearly rescaling-invariant); with skips the smallest one stays."""
    x = inputs(4)
    generic = TwoLayerNet(4, 3, "tanh", "plain", seed=0)
    singular = sp.eliminate_incoming(generic)
    small = [fi.fisher_eigh(fi.interpolate(generic, singular, s), x)[0][:4] for s in (1e-2, 1e-3)]
    ratios = np.sort(small[0] / small[1])
    np.testing.assert_allclose(ratios[:3], 100.0, rtol=0.2)
    assert ratios[3] > 1e4                 # s^6 in theory; float64 rounding blurs the smallest one
    generic = TwoLayerNet(4, 3, "tanh", "residual", seed=0)
    singular = sp.eliminate_incoming(generic)
    small = [fi.fisher_eigh(fi.interpolate(generic, singular, s), x)[0][0] for s in (1e-2, 1e-3)]
    assert small[0] / small[1] < 1.1


def test_loss_slice_is_constant_along_flat_line():
    x = inputs(4)
    net = sp.eliminate_outgoing(TwoLayerNet(4, 3, "tanh", "plain", seed=0))
    y = TwoLayerNet(4, 3, "tanh", "plain", seed=9)(x).detach()
    values = fi.loss_slice(net, x, y, fi.flat_directions(net)[0], np.linspace(-2, 2, 5))
    np.testing.assert_allclose(values, values[0], rtol=1e-13)
    theta, f = flat_fn(net)
    assert values[0] == pytest.approx(float(((f(theta, x) - y) ** 2).sum() / (2 * len(x))), rel=1e-13)


# ----------------------------------------------------------------------------------------- layer measures

RNG = np.random.default_rng(0)


def random_layer(n_samples=400, n=16, batch=()):
    return np.tanh(RNG.standard_normal((*batch, n_samples, n)) @ RNG.standard_normal((n, n)))


def test_measures_generic_layer_is_zero_and_built_layers_are_one():
    h = random_layer()
    assert lm.elimination_fraction(h) == 0 and lm.overlap_fraction(h) == 0 and lm.rank_deficit(h) == 0
    dead = np.maximum(-np.abs(h), 0)
    assert lm.elimination_fraction(dead) == 1.0
    saturated = 5.0 + 1e-6 * h
    assert lm.elimination_fraction(saturated) == 1.0
    copies = h[:, :1] * RNG.choice([-2.0, 1.0, 3.0], size=16) + RNG.standard_normal(16)
    assert lm.overlap_fraction(copies) == 1.0 and lm.rank_deficit(copies) == 1.0
    w = RNG.standard_normal((16, 8))
    assert lm.overlap_fraction(weights=w) == 0
    assert lm.overlap_fraction(weights=np.tile(w[:1], (16, 1)) * RNG.choice([-1.0, 2.0], size=(16, 1))) == 1.0


def test_elimination_against_loop():
    h = random_layer(n=10)
    h[:, [1, 4, 7]] = RNG.standard_normal(3)                        # three constant units
    h[:, 2] = 0.3 + 1e-4 * h[:, 2]                                  # one nearly constant unit
    rms = np.sqrt((h**2).mean())
    expected = np.mean([h[:, j].std() <= 1e-2 * rms for j in range(10)])
    assert expected == 0.4
    assert lm.elimination_fraction(h) == pytest.approx(expected)


def test_overlap_against_corrcoef():
    h = random_layer(n=8)
    h[:, 3] = -2 * h[:, 0] + 1
    h[:, 5] = h[:, 1] + 1e-3 * RNG.standard_normal(400)
    h[:, 6] = 4.0                                                   # constant: never overlaps
    corr = np.corrcoef(h[:, [0, 1, 2, 3, 4, 5, 7]].T)
    pairs = np.abs(corr[np.triu_indices(7, 1)]) >= 0.99
    assert pairs.sum() == 2
    assert lm.overlap_fraction(h) == pytest.approx(pairs.sum() / 28)
    w = RNG.standard_normal((6, 5))
    w[4] = -0.5 * w[2]
    cos = np.abs((w / np.linalg.norm(w, axis=1, keepdims=True)) @ (w / np.linalg.norm(w, axis=1, keepdims=True)).T)
    assert lm.overlap_fraction(weights=w) == pytest.approx((cos[np.triu_indices(6, 1)] >= 0.99).mean())


def test_rank_deficit_and_effective_rank_against_numpy():
    for r in (1, 3, 7, 12):
        mix = np.linalg.qr(RNG.standard_normal((12, 12)))[0][:r] * np.linspace(1, 2, r)[:, None]
        h = RNG.standard_normal((500, r)) @ mix + RNG.standard_normal(12)
        s = np.linalg.svd(h - h.mean(0), compute_uv=False)
        rank = int((s > 1e-3 * s[0]).sum())
        assert rank == r
        assert lm.rank_deficit(h) == pytest.approx((12 - r) / 11)
        lam = np.linalg.eigvalsh(np.cov(h.T))
        assert lm.effective_rank(h) == pytest.approx(lam.sum() ** 2 / (lam**2).sum(), rel=1e-6)
        p = s / s.sum()
        assert lm.effective_rank(h, "entropy") == pytest.approx(np.exp(-(p[p > 0] * np.log(p[p > 0])).sum()),
                                                                rel=1e-6)
    assert lm.effective_rank(RNG.standard_normal((20000, 6))) == pytest.approx(6, rel=0.02)
    assert lm.effective_rank(np.ones((50, 4))) == 0 and lm.rank_deficit(np.ones((50, 4))) == 1


def test_measures_are_vectorised_over_layers_and_batches():
    stack = random_layer(n=8, batch=(5, 3))                         # (L=5, M=3, N, n)
    stack[2, 1, :, :4] = 0
    stack[3, :, :, 1] = stack[3, :, :, 0]
    out = lm.layer_measures(stack, weights=RNG.standard_normal((5, 3, 8, 6)))
    for key, value in out.items():
        assert value.shape == (5, 3), key
    assert out["elimination"][2, 1] == 0.5 and out["elimination"].sum() == 0.5
    assert np.all(out["overlap"][3] == pytest.approx(1 / 28))
    listed = lm.layer_measures([stack[l] for l in range(5)])
    for key in listed:
        np.testing.assert_allclose(listed[key], out[key])
    ragged = lm.elimination_fraction([random_layer(n=4), random_layer(n=6)])
    assert ragged.shape == (2,)
    single = lm.layer_measures(torch.from_numpy(random_layer()))
    assert all(isinstance(v, float) for v in single.values())


@pytest.mark.parametrize("call,match", [
    (lambda: lm.elimination_fraction(np.ones(5)), "shape"),
    (lambda: lm.elimination_fraction(random_layer(), rtol=0), "rtol="),
    (lambda: lm.overlap_fraction(random_layer(), threshold=1.5), "threshold="),
    (lambda: lm.overlap_fraction(), "exactly one"),
    (lambda: lm.rank_deficit(random_layer(n_samples=10, n=16)), "N > n"),
    (lambda: lm.effective_rank(random_layer(), kind="stable"), "kind="),
    (lambda: lm.elimination_fraction([]), "empty"),
    (lambda: lm.elimination_fraction("acts"), "tensor or array"),
])
def test_measures_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_loss_plane_matches_loss_slice():
    x = inputs(4)
    net = sp.make_overlap(TwoLayerNet(4, 3, "tanh", "plain", seed=0))
    y = net(x).detach()
    g = torch.Generator().manual_seed(0)
    d1, d2 = (torch.randn(sum(q.numel() for q in net.parameters()), dtype=torch.float64, generator=g) for _ in "ab")
    ts, ss = np.linspace(-1, 1, 5), np.linspace(-0.5, 0.5, 3)
    plane = fi.loss_plane(net, x, y, d1, d2, ts, ss)
    assert plane.shape == (3, 5)
    for i, s in enumerate(ss):
        expected = [fi.loss_slice(net, x, y, t * d1 + s * d2, [1.0])[0] for t in ts]
        np.testing.assert_allclose(plane[i], expected, rtol=1e-12)


# ------------------------------------------------------------------------------------- plots and widgets

def test_plot_functions_draw_what_they_are_given():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from skiplessons.plots import part1

    eigs = np.array([0.0, 1e-20, 1e-3, 2.0])
    np.testing.assert_allclose(part1.relative(eigs), [part1.FLOOR, part1.FLOOR, 5e-4, 1.0])
    fig, axes = plt.subplots(1, 4)
    part1.spectrum(axes[0], {"a": eigs})
    assert np.allclose(axes[0].lines[0].get_ydata(), np.sort(part1.relative(eigs)))
    fractions = np.array([1.0, 0.1, 0.0])
    part1.approach(axes[1], fractions, {"plain": np.array([[1, 2.0], [0.01, 2.0], [0.0, 2.0]])}, k=1)
    np.testing.assert_allclose(axes[1].lines[0].get_ydata(), [0.5, 0.005])     # s = 0 is dropped
    part1.smallest_bars(axes[2], {"plain": eigs}, k=2)
    assert len(axes[2].patches) == 2
    part1.loss_surface(axes[3], [0, 1], [0, 1], np.ones((2, 2)))
    plt.close(fig)
    fig, ax = plt.subplots()
    html = part1.player(fig, lambda i: ax.plot([0, i]), 2)
    assert "<script" in html and not plt.fignum_exists(fig.number)
    # offline: nothing from elsewhere (matplotlib links Font Awesome from a CDN), every button has a glyph
    assert not re.search(r"https?://|font-awesome|class=\"fa", html), "the player still loads Font Awesome"
    buttons = re.findall(r"<button\b.*?</button>", html, re.DOTALL)
    assert len(buttons) == 9 and all(re.search(r'<span aria-hidden="true">[^<]+</span>', b) for b in buttons)
    with pytest.raises(ValueError, match="'fa-rocket' has no glyph"):
        part1.self_contained('<i class="fa fa-rocket"></i>')
    with pytest.raises(ValueError, match="n_frames"):
        part1.player(plt.figure(), lambda i: None, 21)


def test_approach_spectra_and_explorer():
    import matplotlib
    matplotlib.use("Agg")
    import ipywidgets
    from skiplessons import widgets

    x = inputs(3)
    start = TwoLayerNet(3, 2, "tanh", "plain", seed=0)
    end = sp.eliminate_incoming(start)
    spectra = fi.approach_spectra(start, end, x, [1.0, 0.0])
    np.testing.assert_allclose(spectra[0], fi.fisher_eigh(start, x)[0])
    np.testing.assert_allclose(spectra[1], fi.fisher_eigh(end, x)[0])
    shown = widgets.approach_explorer([1.0, 0.0], {"plain": spectra}, k=3)
    assert isinstance(shown, ipywidgets.interactive), "the explorer returns its widget, not the drawing function"
    assert shown.children[0].options[1][0].startswith("0")
    with pytest.raises(ValueError, match="same class"):
        fi.interpolate(start, ShallowNet(3), 0.5)


def test_html_table_escapes_and_counts_cells():
    from skiplessons.plots.part1 import html_table

    out = html_table(["a", "b<c"], [[1, "x & y"], [2, 3]])
    assert out.count("<tr>") == 3 and out.count("<td>") == 4 and "b&lt;c" in out and "x &amp; y" in out


def test_approach_by_arch_is_approach_spectra_per_arch():
    x = gaussian_inputs(60, 3, seed=1)
    fractions = fi.approach_fractions(4)
    assert fractions[0] == 1.0 and fractions[-1] == 0.0 and np.isclose(fractions[-2], 1e-4)
    nets = {arch: TwoLayerNet(3, 2, "tanh", arch, seed=0) for arch in ("plain", "residual")}
    spectra = fi.approach_by_arch(nets, lambda net: sp.eliminate_incoming(net, 0), x, fractions)
    for arch, net in nets.items():
        np.testing.assert_array_equal(spectra[arch],
                                      fi.approach_spectra(net, sp.eliminate_incoming(net, 0), x, fractions))
    with pytest.raises(ValueError, match="frames=2 must be an integer >= 3"):
        fi.approach_fractions(2)


def test_skip_strength_explorer_draws_the_flows_of_its_starts(monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    import ipywidgets
    import matplotlib.pyplot as plt
    from skiplessons import dynamics, widgets

    drawn = []
    monkeypatch.setattr(plt, "show", lambda: drawn.append(plt.gcf()))
    starts, teacher = dynamics.small_init(10, 0.1, seed=0), dynamics.default_teacher()
    shown = widgets.skip_strength_explorer(starts, teacher, plateau=0.1, t_max=5.0, n_show=3)
    assert isinstance(shown, ipywidgets.interactive) and shown.manual
    shown.children[0].value = 1.0
    shown.update()
    lines = drawn[-1].axes[0].lines
    assert len(lines) == 3 + 1                                    # the first three starts and the plateau
    flow = dynamics.gradient_flow(starts[:3], teacher, 1.0, t_max=5.0, n_eval=101)
    np.testing.assert_allclose(lines[2].get_ydata(), np.maximum(flow.loss[:, 2], 1e-12))


def test_squared_loss_and_count_cells():
    x = inputs(4)
    net = TwoLayerNet(4, 3, "tanh", "plain", seed=0)
    y = TwoLayerNet(4, 3, "tanh", "plain", seed=9)(x).detach()
    with torch.no_grad():
        expected = float(((net(x) - y) ** 2).sum() / (2 * len(x)))
    assert fi.squared_loss(net, x, y) == pytest.approx(expected, rel=1e-14)
    assert fi.squared_loss(net, x, net(x).detach()) == 0.0
    assert sp.Counts(4, 1).describe(5) == "5 (4 exact, 1 first-order)"
    assert sp.Counts(0, 3).describe(3) == "3 (3 first-order)"
    assert sp.Counts(0, 0).describe(0) == "0"
