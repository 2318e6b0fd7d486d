"""Tests of `skiplessons.exact_zeros`: the gap count on a built spectrum, the flat directions against dense
autograd Hessians and Jacobians, and the attributed counts against the dense counts on built nets (dead units,
rescaling, collapse) with Part I's formulas."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from skiplessons import data, exact_zeros as ez, models
from skiplessons.curvature import dense_hessian, flat_fn, output_jacobian

SPEC = models.NetSpec(40, 10, depth=4, width=5)


@pytest.fixture(scope="module")
def batch():
    d = data.mnist1d(n_samples=600, seed=3)
    return d.x_train[:200].double(), d.y_train[:200]


def built(arch, dead=(), seed=0, spec=SPEC):
    """An untrained net whose units `dead` ((layer, unit), 0-based) get bias -100: dead on every input."""
    model = models.MLP(spec, models.Member(arch, seed), dtype=torch.float64)
    with torch.no_grad():
        for l, j in dead:
            (model.b_in if l == 0 else model.b[l - 1])[j] = -100.0
    return model


def test_zero_gap_counts_below_the_widest_gap():
    eigs = np.array([1e-19, -3e-17, 2e-16, 4e-6, 1e-3, 0.5, 1.0])
    gap = ez.zero_gap(eigs)
    assert gap.count == 3 and gap.above == pytest.approx(4e-6)
    assert gap.decades == pytest.approx(np.log10(4e-6 / ez.EPS))          # from the round-off floor
    assert ez.zero_gap(np.array([1e-3, 1.0, 2.0])).count == 0
    with pytest.raises(ValueError, match="eigs"):
        ez.zero_gap(np.array([1.0]))


@pytest.mark.parametrize("arch", ["plain", "residual"])
def test_flat_directions_are_null_in_dense_hessian_and_jacobian(batch, arch):
    """Independent: the dense autograd Hessian annihilates the linear causes, the output Jacobian (modulo the
    all-ones logit shift) annihilates every cause."""
    x, y = batch
    model = built(arch, dead=[(1, 0), (2, 3)])
    theta, f = flat_fn(model)
    H = dense_hessian(f, theta, x, y, loss="ce", max_params=5000).numpy()
    J = output_jacobian(f, theta, x).numpy().reshape(len(x), 10, -1)
    J = J - J.mean(axis=1, keepdims=True)                   # logits modulo a shift common to all classes
    dirs = ez.flat_directions(model, x)
    for cause, V in dirs.items():
        if not len(V):
            continue
        scale = np.abs(V).max()
        assert np.abs(J @ V.T).max() < 1e-10 * scale * np.abs(J).max(), cause
        if cause in ez.HESSIAN_CAUSES:
            assert np.abs(H @ V.T).max() < 1e-10 * scale * np.abs(H).max(), cause
    if arch == "residual":
        assert len(dirs["rescaling"]) == SPEC.width and len(dirs["co-active units"]) == 0     # stream scalings


def test_attribution_matches_dense_counts_and_part_one_formulas(batch):
    """Residual net with two dead branch units: Hessian zeros = softmax shift (n + 1) + (fan_in + 1) per dead
    unit, and the Gauss-Newton matrix adds one stream scaling per coordinate: both exactly the dense counts.
    Plain net: each dead unit also eliminates its output (fan_out more), and every live unit of a plain
    layer has one rescaling direction in the Gauss-Newton kernel (counted by formula)."""
    x, y = batch
    n, c, d_in = SPEC.width, SPEC.n_out, SPEC.d_in
    res = built("residual", dead=[(1, 0), (2, 3)])
    att = ez.attribute(res, x, ez.exact_spectra(res, x, y))
    assert att["hessian"].counts["softmax shift"] == n + 1
    assert att["hessian"].counts["dead units"] == 2 * (n + 1)
    assert att["hessian"].measured == (n + 1) + 2 * (n + 1) and att["hessian"].unexplained == 0
    assert att["ggn"].counts["rescaling"] == n                    # one scaling per residual-stream coordinate
    assert att["ggn"].measured == att["ggn"].explained and not att["hessian"].collapsed

    plain = built("plain", dead=[(1, 0), (2, 3)])
    states = ez.unit_states(plain, x)
    assert states.dead[1][0] and states.dead[2][3]
    n_dead = [int(d.sum()) for d in states.dead]
    fan_in = [d_in] + [n] * (SPEC.depth - 1)
    fan_out = [n] * (SPEC.depth - 1) + [c]
    att = ez.attribute(plain, x, ez.exact_spectra(plain, x, y))
    h = att["hessian"]
    assert h.counts["dead units"] == sum(k * (f + 1) for k, f in zip(n_dead, fan_in))
    # outgoing rows of dead units, less what was credited already: the weight between two dead units of
    # adjacent layers (an incoming weight too) and, in the last layer, the softmax shift's all-ones direction
    shared = sum(a * b for a, b in zip(n_dead, n_dead[1:])) + n_dead[-1]
    assert h.counts["eliminated outputs"] == sum(k * f for k, f in zip(n_dead, fan_out)) - shared
    g = att["ggn"]
    assert g.counts["rescaling"] == SPEC.depth * n - sum(n_dead)
    # a narrow plain net has more exact zeros than these causes explain (the chapter reports them)
    assert h.measured >= h.explained and g.measured >= g.explained


def test_a_collapsed_net_is_flagged_and_its_gauss_newton_keeps_c_minus_one_directions(batch):
    """All units of layer 2 dead: the logits no longer depend on x, so J has one row per class up to samples
    and the Gauss-Newton matrix has rank C - 1 (formula), every parameter of layers 1-2 is flat."""
    x, y = batch
    model = built("plain", dead=[(1, j) for j in range(SPEC.width)])
    with torch.no_grad():
        model.b[1:] = 0.5                                   # layers 3-4 stay on, with a constant output
    states = ez.unit_states(model, x)
    assert states.collapsed and states.collapsed_at() == 2
    eigs = ez.exact_spectra(model, x, y)
    p = sum(q.numel() for q in model.parameters())
    att = ez.attribute(model, x, eigs)
    assert att["ggn"].measured == p - (SPEC.n_out - 1)
    upstream = (SPEC.d_in + 1) * SPEC.width + (SPEC.width + 1) * SPEC.width
    assert att["hessian"].counts["collapse"] == upstream and att["hessian"].collapsed
    assert att["hessian"].measured >= att["hessian"].explained


def test_bad_inputs_raise():
    with pytest.raises(TypeError, match="model"):
        ez.unit_states(torch.nn.Linear(3, 3), torch.zeros(4, 3))
    tanh = models.MLP(models.NetSpec(4, 3, depth=2, width=3, act="tanh"), models.Member("plain"))
    with pytest.raises(ValueError, match="act"):
        ez.unit_states(tanh, torch.zeros(4, 4))
    with pytest.raises(ValueError, match="matrix"):
        ez.credit({"softmax shift": np.zeros((0, 3))}, "fisher")


def test_restricted_elimination_is_counted_and_flat():
    """Built plain net on inputs (x0, x1) with x0 of either sign: layer 1 is relu(x0), relu(-x0); layer 2's unit 0
    is relu(h0 - h1) (on only where x0 > 0, where h1 = 0) and unit 1 relu(h1 - h0). So the weights h1 -> unit 0
    and h0 -> unit 1 are flat on the data although no unit is dead: exactly two restricted eliminations, null
    directions of the dense autograd Hessian, and the Hessian's zeros are explained without remainder."""
    spec = models.NetSpec(2, 3, depth=2, width=2)
    model = models.MLP(spec, models.Member("plain", 0), dtype=torch.float64)
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(60, 2, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (60,), generator=gen)
    with torch.no_grad():
        model.W_in.copy_(torch.tensor([[1.0, -1.0], [0.0, 0.0]]))
        model.b_in.zero_()
        model.W[0].copy_(torch.tensor([[1.0, -1.0], [-1.0, 1.0]]))
        model.b.zero_()
    restricted = ez.restricted_weights(model, x)
    assert not restricted[0].any() and restricted[1].tolist() == [[False, True], [True, False]]
    att = ez.attribute(model, x, ez.exact_spectra(model, x, y))["hessian"]
    assert att.counts["restricted elimination"] == 2 and att.counts["dead units"] == 0
    assert att.unexplained == 0
    theta, f = flat_fn(model)
    H = dense_hessian(f, theta, x, y, loss="ce").numpy()
    V = ez.flat_directions(model, x)["restricted elimination"]
    assert np.abs(H @ V.T).max() < 1e-12 * np.abs(H).max()


def test_coactive_pairs_group_units_by_their_exact_activity():
    active = np.array([[1, 1, 0, 1, 0], [0, 0, 1, 0, 0], [1, 1, 0, 1, 0]], dtype=bool)   # unit 4 dead
    assert sorted(ez.coactive_pairs(active)) == [(0, 1), (0, 3), (1, 0), (1, 3), (3, 0), (3, 1)]
    assert ez.coactive_pairs(np.eye(3, dtype=bool)) == []


def test_credit_counts_new_directions_as_the_rank_of_the_union():
    """Coordinate vectors (some repeated, some inside the span of the dense rows) and dense rows: the credited
    counts are the increments of numpy's matrix rank of the union, cause by cause."""
    rng = np.random.default_rng(0)
    eye = np.eye(12)
    dense = rng.normal(size=(3, 12))
    dense[2] = dense[0] + 2 * eye[5]                          # dependent on a dense row and a coordinate
    dirs = {c: np.zeros((0, 12)) for c in ez.CAUSES}
    dirs["softmax shift"] = dense[:1]
    dirs["dead units"] = eye[[1, 5, 5, 7]]
    dirs["rescaling"] = dense
    counts = ez.credit(dirs, "ggn")
    ranks = np.cumsum([0] + [len(dirs[c]) for c in ez.CAUSES])
    union = np.vstack([dirs[c] for c in ez.CAUSES])
    expected = np.diff([np.linalg.matrix_rank(union[:k]) if k else 0 for k in ranks])
    assert [counts[c] for c in ez.CAUSES] == list(expected)
    assert counts["dead units"] == 3 and counts["rescaling"] == 1


def test_coactive_units_of_a_built_net_are_null_directions_of_the_jacobian():
    """One hidden layer of three units on inputs (x0, x1) with |x0| >= 1 > |x1|: units 0 and 1 are both active
    exactly where x0 > 0 (without being proportional), unit 2 where x0 < 0. So the mixes 0 -> 1 and 1 -> 0 are
    two co-active directions, each annihilated by the output Jacobian modulo the common logit shift, and the
    Gauss-Newton matrix credits them on top of the three rescalings."""
    spec = models.NetSpec(2, 3, depth=1, width=3)
    model = models.MLP(spec, models.Member("plain", 0), dtype=torch.float64)
    gen = torch.Generator().manual_seed(5)
    sign = torch.where(torch.rand(60, generator=gen) < 0.5, -1.0, 1.0).double()
    x = torch.stack([sign * (1 + torch.rand(60, generator=gen, dtype=torch.float64)),
                     2 * torch.rand(60, generator=gen, dtype=torch.float64) - 1], 1)
    y = torch.randint(0, 3, (60,), generator=gen)
    with torch.no_grad():
        model.W_in.copy_(torch.tensor([[1.0, 1.0, -1.0], [-0.5, 0.5, 0.3]]))
        model.b_in.zero_()
    V = ez.flat_directions(model, x)["co-active units"]
    assert len(V) == 2
    theta, f = flat_fn(model)
    J = output_jacobian(f, theta, x).numpy().reshape(len(x), 3, -1)
    J = J - J.mean(axis=1, keepdims=True)
    assert np.abs(J @ V.T).max() < 1e-12 * np.abs(J).max()
    g = ez.attribute(model, x, ez.exact_spectra(model, x, y))["ggn"]
    assert g.counts["rescaling"] == 3 and g.counts["co-active units"] == 2 and g.measured >= g.explained
